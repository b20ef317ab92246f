"""The failed payments dashboard: a page of the Django admin, for merchants and ops.

The admin site (``payments.admin.site``) serves it at ``payments/dashboard/``. The view
is thin: it reads the period and currency from the address (junk falls back to the
defaults), calls ``payments.monitoring.selectors.dashboard_summary`` and shapes the
result for the template: rows with the link to the incident list behind each number, and
the geometry of the SVG charts (drawn by the template; the CSP allows no inline script
or style).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from payments.admin.common import currency_refusals_warn
from payments.mail.messages import in_words
from payments.monitoring import selectors
from payments.monitoring.models import Incident
from payments.monitoring.selectors import period_bounds
from payments.stripe.facts import (
    AUTHENTICATION_FAILURES,
    THREE_D_SECURE_KINDS,
    card_brand_label,
    code_label,
)

PERMISSION = "payments.view_dashboard"
PERIODS = (7, 30, 90)
DEFAULT_DAYS = 7
CURRENCY = re.compile(r"[a-z]{3}")

KIND_LABELS = dict(Incident.Kind.choices)
STATUS_LABELS = dict(Incident.Status.choices)
BREAKDOWN_TITLES = {"kind": (_("By kind"), _("Kind")),
                    "decline_code": (_("By decline code"), _("Decline code")),
                    "card_brand": (_("By card brand"), _("Brand")),
                    "card_country": (_("By card country"), _("Country"))}
BREAKDOWN_EMPTY = {"kind": "", "decline_code": _("no decline code"),
                   "card_brand": _("card not known"), "card_country": _("country not known")}
BREAKDOWN_ROWS = 8  # the rest is summed up in one "other" row
BAR_WIDTH = 100  # px of the longest bar in a breakdown


# --- reading the address -------------------------------------------------------------------

def period_days(value: str | None) -> int:
    """7, 30 or 90 from ``?days=``; anything else is the default week."""
    try:
        days = int(value or "")
    except ValueError:
        return DEFAULT_DAYS
    return days if days in PERIODS else DEFAULT_DAYS


def currency_param(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    return value if CURRENCY.fullmatch(value) else None


# --- links to the incident list ------------------------------------------------------------

class IncidentLinks:
    """Addresses of the incident list filtered to exactly what a number counts, under the
    names the incident admin's filters use (``kind``, ``status``, ``currency``,
    ``card_brand``, ``card_country``, ``decline_code``, the payment-made filter's
    ``intent_created_at__gte`` and ``__lt``, and ``payment=latest``: each payment once, as
    the selectors count); each is also a plain field lookup, so the list filters right
    even where a filter is missing. Several statuses or kinds use ``status__in`` /
    ``kind__in``; the 3-D Secure sections name their kinds (card declines are left out)."""

    def __init__(self, *, since: datetime, until: datetime, currency: str | None,
                 site_name: str = "admin") -> None:
        self.base = reverse(f"{site_name}:payments_incident_changelist")
        self.since, self.until, self.currency = since, until, currency

    def url(self, *, period: bool = True, currency: str | None = None,
            each_payment: bool = True, three_d_secure: bool = True, **params: str) -> str:
        query: dict[str, str] = {}
        if period:
            query["intent_created_at__gte"] = str(self.since)
            query["intent_created_at__lt"] = str(self.until)
        if three_d_secure and "kind" not in params and "kind__in" not in params:
            query["kind__in"] = ",".join(THREE_D_SECURE_KINDS)
        query.update(params)
        if each_payment:
            query["payment"] = selectors.EACH_PAYMENT_ONCE
        if currency or self.currency:
            query["currency"] = currency or self.currency or ""
        return f"{self.base}?{urlencode(query)}"

    def open(self, **params: str) -> str:
        return self.url(period=False, status=Incident.Status.OPEN, **params)

    def breakdown(self, by: str, value: str, currency: str | None = None) -> str:
        if by == "kind":
            return self.url(kind=value, currency=currency, three_d_secure=False)
        # Django's plain field lookups (the filters being added use the same names); an
        # empty value needs __exact, which every admin filter leaves alone.
        return self.url(currency=currency, three_d_secure=False,
                        **{by if value else f"{by}__exact": value})

    def failures(self) -> str:
        """The rate's failures: each payment of the period whose bank check failed, once
        (its latest failure), as the rate counts them."""
        return self.url(each_payment=False, kind__in=",".join(AUTHENTICATION_FAILURES),
                        payment=selectors.EACH_FAILED_PAYMENT_ONCE)

    def recovered_on(self, day_start: datetime) -> str:
        return self.url(period=False, status=Incident.Status.RECOVERED,
                        resolved_at__gte=str(day_start),
                        resolved_at__lt=str(day_start + timedelta(days=1)))

    def made_on(self, day_start: datetime) -> str:
        return self.url(period=False, intent_created_at__gte=str(day_start),
                        intent_created_at__lt=str(day_start + timedelta(days=1)))


# --- shaping for the template --------------------------------------------------------------

@dataclass
class Row:
    label: str
    count: int
    url: str
    money: list[tuple[int, str, str]]  # (minor units, currency, link)
    bar: int = 0  # px
    code: str = ""  # the raw value, when the label is a translation of it


def money_links(totals: selectors.Totals, link) -> list[tuple[int, str, str]]:
    return [(total.amount, total.currency, link(total.currency)) for total in totals.by_currency]


def breakdown_label(by: str, value: str) -> str:
    if not value:
        return BREAKDOWN_EMPTY[by]
    if by == "kind":
        return KIND_LABELS.get(value, value)
    if by == "card_brand":
        return card_brand_label(brand=value)
    if by == "card_country":
        return value.upper()
    return code_label(code=value)


def breakdown_rows(by: str, groups: list[selectors.GroupTotals], links: IncidentLinks
                   ) -> list[Row]:
    shown, rest = groups[:BREAKDOWN_ROWS], groups[BREAKDOWN_ROWS:]
    largest = max((group.count for group in groups), default=0)
    rows = [Row(label=breakdown_label(by, group.value), count=group.count,
                url=links.breakdown(by, group.value),
                money=money_links(group.totals,
                                  lambda c, v=group.value: links.breakdown(by, v, c)),
                bar=bar_px(group.count, largest),
                code=group.value if by in ("kind", "decline_code") and group.value else "")
            for group in shown]
    if rest:
        other = selectors.Totals()
        for group in rest:
            for total in group.totals.by_currency:
                other.add(currency=total.currency, count=total.count, amount=total.amount)
        rows.append(Row(label=ngettext("%(count)s other", "%(count)s others", len(rest))
                        % {"count": len(rest)}, count=other.count,
                        url=links.url(three_d_secure=False),
                        money=money_links(other, lambda c: links.url(currency=c,
                                                                     three_d_secure=False)),
                        bar=bar_px(other.count, largest)))
    return rows


def bar_px(count: int, largest: int) -> int:
    if not largest or not count:
        return 0
    return max(2, round(BAR_WIDTH * count / largest))


@dataclass
class DailyChart:
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    plot_left: int
    ticks: list[dict]  # y gridlines: value, y
    days: list[dict]  # per day: bars, links, label
    peak: int


def daily_chart(daily: list[selectors.DayCount], links: IncidentLinks) -> DailyChart:
    """Geometry of the daily series: per day two bars (first seen, recovered) in a
    viewBox the template scales to the page's width."""
    width, height, left, top, bottom, right = 1160, 220, 44, 12, 190, 24
    peak = max([1, *(d.incidents for d in daily), *(d.recovered for d in daily)])
    step = nice_step(peak)
    ceiling = step * -(-peak // step)
    scale = (bottom - top) / ceiling
    slot = (width - left - right) / max(len(daily), 1)
    bar = max(1.0, min(14.0, slot * 0.4))
    label_every = 1 if len(daily) <= 10 else 7 if len(daily) <= 31 else 14
    tz = timezone.get_current_timezone()
    days = []
    for i, day in enumerate(daily):
        x = left + i * slot + (slot - 2 * bar) / 2
        start = datetime.combine(day.day, time.min, tzinfo=tz)
        seen_h, recovered_h = day.incidents * scale, day.recovered * scale
        days.append({
            "day": day.day, "incidents": day.incidents, "recovered": day.recovered,
            "slot_x": round(left + i * slot, 1), "slot_w": round(slot, 1),
            "x1": round(x, 1), "x2": round(x + bar, 1), "w": round(bar, 1),
            "y1": round(bottom - seen_h, 1), "h1": round(seen_h, 1),
            "y2": round(bottom - recovered_h, 1), "h2": round(recovered_h, 1),
            "label_x": round(left + i * slot + slot / 2, 1),
            "label": (len(daily) - 1 - i) % label_every == 0,
            "made_url": links.made_on(start), "recovered_url": links.recovered_on(start),
        })
    ticks = [{"value": value, "y": round(bottom - value * scale, 1)}
             for value in range(0, ceiling + 1, step)]
    return DailyChart(width=width, height=height, plot_top=top, plot_bottom=bottom,
                      plot_left=left, ticks=ticks, days=days, peak=peak)


def nice_step(peak: int) -> int:
    """A gridline step giving 2 to 5 lines: 1, 2, 5, 10, 20, 50, ..."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if peak / (step * factor) <= 5:
                return step * factor
        step *= 10


def outcome_rows(outcomes: dict[str, selectors.Totals], links: IncidentLinks) -> list[Row]:
    order = [Incident.Status.LOST, Incident.Status.CANCELED, Incident.Status.RECOVERED,
             Incident.Status.AUTO_FINALIZED, Incident.Status.OPEN]
    return [Row(label=STATUS_LABELS[status], count=outcomes[status].count,
                url=links.url(status=status),
                money=money_links(outcomes[status],
                                  lambda c, s=status: links.url(status=s, currency=c)),
                code=status)
            for status in order]


def dashboard_view_for(site: AdminSite):
    def dashboard_view(request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied
        currency_refusals_warn(request)
        days = period_days(request.GET.get("days"))
        currency = currency_param(request.GET.get("currency"))
        now = timezone.now()
        since, until = period_bounds(days=days, now=now)
        summary = selectors.dashboard_summary(since=since, until=until, currency=currency,
                                              now=now)
        links = IncidentLinks(since=since, until=until, currency=currency,
                              site_name=site.name)
        lost = selectors.Totals()
        for status in (Incident.Status.LOST, Incident.Status.CANCELED):
            for total in summary.outcomes[status].by_currency:
                lost.add(currency=total.currency, count=total.count, amount=total.amount)
        lost_url = links.url(status__in="lost,canceled")
        open_rows = [Row(label=KIND_LABELS.get(group.value, group.value), count=group.count,
                         url=links.open(kind=group.value),
                         money=money_links(group.totals, lambda c, k=group.value: links.open(
                             kind=k, currency=c)),
                         code=group.value)
                     for group in summary.open_by_kind]
        auth = summary.authentication
        outcomes = outcome_rows(summary.outcomes, links)
        outcomes_by_status = {row.code: row for row in outcomes}
        context = {
            **site.each_context(request),
            "title": gettext("Failed payments dashboard"),
            "summary": summary,
            "days": days,
            "periods": [(d, _self_url(d, currency)) for d in PERIODS],
            "currency": currency,
            "currency_choices": [(None, gettext("All currencies"), _self_url(days, None))] + [
                (c, c.upper(), _self_url(days, c)) for c in summary.currencies],
            "since": since, "until_inclusive": until - timedelta(days=1),
            "open_rows": open_rows,
            "open_total": summary.open_total,
            "open_total_links": money_links(summary.open_total,
                                            lambda c: links.open(currency=c)),
            "open_url": links.open(),
            "expiring": summary.expiring,
            "auth": auth,
            "auth_percent": selectors.rate_percent(auth.rate),
            "auth_failed_url": links.failures(),
            "auth_meaning": selectors.AUTHENTICATION_FAILURE_MEANING,
            "expiry_meaning": selectors.EXPIRY_MEANING,
            "lost": lost, "lost_url": lost_url,
            "lost_links": money_links(lost, lambda c: links.url(status__in="lost,canceled",
                                                                currency=c)),
            "outcome_rows": outcomes,
            "recovered": outcomes_by_status[Incident.Status.RECOVERED],
            "auto_finalized": outcomes_by_status[Incident.Status.AUTO_FINALIZED],
            "breakdowns": [{"title": BREAKDOWN_TITLES[by][0], "column": BREAKDOWN_TITLES[by][1],
                            "by": by, "rows": breakdown_rows(by, groups, links)}
                           for by, groups in summary.breakdowns.items()],
            "chart": daily_chart(summary.daily, links),
            "countdown_words": countdown_words(),
            "period_url": links.url(each_payment=False, three_d_secure=False),
            "lost_after": in_words(timedelta(
                seconds=settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS)),
        }
        return TemplateResponse(request, "admin/payments/dashboard.html", context)
    return dashboard_view


def countdown_words() -> dict[str, str]:
    """What dashboard.js writes in "Expires in", in the reader's language."""
    return {
        "expired": gettext("expired"),
        # The script fills in the numbers, the minutes with two digits.
        "hours": gettext("%(hours)s h %(minutes)s min"),
        "minutes": gettext("%(minutes)s min %(seconds)s s"),
    }


def _self_url(days: int, currency: str | None) -> str:
    query = {"days": days, **({"currency": currency} if currency else {})}
    return f"?{urlencode(query)}"
