"""Reads of monitoring shared by the admin (the dashboard, the lists) and the ops mail
(digest and alert): each number defined here once, so every page and mail that shows it
agrees. Also the probe the checkout's receivers make before touching incidents
(``incident_exists``).

Keyword-only, type-hinted functions named ``<thing>_<action>``; each returns plain
dataclasses, never querysets, and costs a fixed number of queries whatever the number of
rows (every total is one ``GROUP BY`` in the database, never a Python loop over rows).

Money is summed per currency and never across currencies: every total is a list of
``CurrencyTotal`` (count and minor units for one currency).

Definitions (the dashboard's help text, the incident pages and the ops mail say the same,
in the words of ``AUTHENTICATION_FAILURE_MEANING`` and ``EXPIRY_MEANING``):

- *Each payment once*: a payment (an intent) may have several incidents (left at the
  challenge, then expired); where payments and money are counted, each payment counts
  once, as its latest incident says, a 3-D Secure one before a card decline
  (``incident_latest_of_payment``; the incident list's "Each payment once" filter shows
  the same rows), so rows of a table add up to its total.
- *Period*: payments made in it (``Incident.intent_created_at``, Stripe's ``created``),
  not when monitoring found them (a backfill finds old payments today): the last N days
  are today and the N - 1 days before (``period_bounds``).
- *3-D Secure kinds*: every kind but card declines (``facts.THREE_D_SECURE_KINDS``): the
  money at risk, the outcomes and the daily chart are theirs; the breakdowns show the
  whole failure mix.
- *Asked for authentication*: a payment whose bank asked for 3-D Secure in the period:
  our attempts that entered ``requires_action`` in the period (``requires_action_at``),
  plus the intents of the period's authentication failures that are not among them
  (legacy-mode ``requires_action_not_handled`` failures never reach ``requires_action``;
  intents made outside this checkout have no attempt here).
- *Authentication failure*: an intent with an incident of kind
  ``requires_action_not_handled``, ``authentication_failed``, ``action_abandoned`` or
  ``expired``, made in the period, counted once per intent. An intent that passed the
  challenge and was then left unconfirmed (``confirmation_abandoned``) authenticated
  fine and is not a failure here, unless Stripe let it expire.
- *Outcomes* (lost, canceled, recovered, auto-finalized, still open): the period's
  payments by their latest incident's status.
- *Expiring*: attempts in ``requires_confirmation`` whose hour is not over
  (``PaymentAttempt.expires_at`` and ``AttemptQuerySet.expiring``). Stripe fails a
  manually confirmed intent that is not confirmed again within one hour of the bank's
  challenge (``payments.stripe.facts.CONFIRMATION_WINDOW``); we take
  ``requires_confirmation_at`` (when we saw the intent pass the challenge) as the start
  of that hour. A payment still at the bank's challenge does not expire so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Literal

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.db.models.lookups import In
from django.utils import formats, timezone
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from payments.checkout.models import DailyTotal, PaymentAttempt
from payments.checkout.totals import CHALLENGED, local_day
from payments.monitoring.models import Incident
from payments.stripe import facts

# The two rules every page and mail that shows the rate or an expiry says, in words.
AUTHENTICATION_FAILURE_MEANING = _(
    "A failure is what Stripe or the bank refused, or a shopper abandoned at the bank's "
    "challenge, out of the payments the bank asked to authenticate (3-D Secure not "
    "handled, authentication failed, left at the bank's challenge, expired unconfirmed; "
    "each payment once). A payment that passed the challenge and awaits its confirmation "
    "is no failure; a card decline is none either.")
EXPIRY_MEANING = _(
    "Stripe fails a payment one hour after it passed the bank's challenge, unless it is "
    "confirmed before; a payment still at the challenge does not expire so.")
# The incident list's filter showing each payment once, as the counts here do.
EACH_PAYMENT_ONCE = "latest"
# Each payment whose bank check failed once (its latest failure): the failed
# authentications the dashboard and the alert count, a payment that failed both ways once.
EACH_FAILED_PAYMENT_ONCE = "latest_failure"

BreakdownField = Literal["kind", "decline_code", "card_brand", "card_country"]
BREAKDOWN_FIELDS: tuple[BreakdownField, ...] = ("kind", "decline_code", "card_brand",
                                                "card_country")


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    count: int
    amount: int  # minor units of ``currency``


@dataclass
class Totals:
    """A count with its money, per currency (currencies are never added together)."""

    count: int = 0
    by_currency: list[CurrencyTotal] = field(default_factory=list)

    def add(self, *, currency: str, count: int, amount: int) -> None:
        self.count += count
        for i, total in enumerate(self.by_currency):
            if total.currency == currency:
                self.by_currency[i] = CurrencyTotal(currency, total.count + count,
                                                    total.amount + amount)
                return
        self.by_currency.append(CurrencyTotal(currency, count, amount))
        self.by_currency.sort(key=lambda total: (-total.amount, total.currency))


@dataclass
class GroupTotals:
    """One value of a breakdown (a kind, a decline code, a brand, a country)."""

    value: str
    totals: Totals = field(default_factory=Totals)
    open: int = 0  # of ``count``, still open (where asked)

    @property
    def count(self) -> int:
        return self.totals.count


@dataclass(frozen=True)
class ExpiringAttempt:
    attempt_id: int
    stripe_id: str
    order_id: int
    order_reference: str
    email: str
    amount: int
    currency: str
    requires_confirmation_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AuthenticationRate:
    asked: int  # payments whose bank asked for authentication in the period
    failed: int  # of those, intents with an authentication failure
    challenged: int  # attempts that entered requires_action (part of ``asked``)
    by_kind: dict[str, int] = field(default_factory=dict)  # failures per kind, nonzero

    @property
    def rate(self) -> float | None:
        return self.failed / self.asked if self.asked else None


@dataclass(frozen=True)
class DayCount:
    day: date
    incidents: int
    recovered: int


@dataclass
class DashboardSummary:
    since: datetime
    until: datetime
    currency: str | None
    now: datetime
    open_by_kind: list[GroupTotals]
    open_total: Totals  # each open payment once
    expiring: list[ExpiringAttempt]
    authentication: AuthenticationRate
    outcomes: dict[str, Totals]  # Incident.Status value -> totals, each payment once
    breakdowns: dict[str, list[GroupTotals]]
    daily: list[DayCount]
    currencies: list[str]  # those seen on the page, for the currency switch


def period_bounds(*, days: int, now: datetime) -> tuple[datetime, datetime]:
    """The last ``days`` days: today and the ``days - 1`` days before it, midnight to
    midnight in the site's time zone. The one meaning of "7 days" (the dashboard's period,
    the lists' "Past 7 days")."""
    today = timezone.localtime(now).date()
    tz = timezone.get_current_timezone()
    since = datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=tz)
    until = datetime.combine(today + timedelta(days=1), time.min, tzinfo=tz)
    return since, until


def _rate_text(rate: float) -> str:
    # Rounded as before (number_format would cut 45.45... to 45.4), then the language's
    # decimal separator.
    return f"{formats.number_format(Decimal(f'{100 * rate:.1f}'), decimal_pos=1)} %"


_rate_lazy = lazy(_rate_text, str)


def rate_percent(rate: float | None) -> str:
    """"77.8 %" ("77,8 %" in German and French): the one way a rate is written, on the
    dashboard and in the alert. Written when shown, in the language then active: the
    alert's context is made before the mail is rendered in the site's language."""
    return "" if rate is None else _rate_lazy(rate)


def incident_exists(*, stripe_id: str, order_id: int | None = None,
                    kinds: Collection[str] = ()) -> bool:
    """Whether any incident belongs to intent ``stripe_id`` (or, given ``order_id``, to
    that order), of one of ``kinds`` when given. /pay asks this after every challenged or
    settled 3-D Secure step, so it is one cached plain statement: the ORM's compiling cost
    four times the query (``bench/README.md``, issue 18's fifth round)."""
    kinds = sorted(kinds)
    with connection.cursor() as cursor:
        cursor.execute(_incident_exists_sql(by_order=order_id is not None, kinds=len(kinds)),
                       [stripe_id, *([order_id] if order_id is not None else []), *kinds])
        return cursor.fetchone() is not None


@cache
def _incident_exists_sql(*, by_order: bool, kinds: int) -> str:
    # Each side of the OR has its index (the unique stripe_id + kind, the order's key).
    scope = '("stripe_id" = %s OR "order_id" = %s)' if by_order else '"stripe_id" = %s'
    kind = f' AND "kind" IN ({", ".join(["%s"] * kinds)})' if kinds else ""
    return f'SELECT 1 FROM "{Incident._meta.db_table}" WHERE {scope}{kind} LIMIT 1'


def _incidents(*, currency: str | None) -> QuerySet[Incident]:
    incidents = Incident.objects.order_by()
    return incidents.filter(currency=currency) if currency else incidents


def incident_latest_of_payment(*, kinds: Collection[str] | None = None) -> Q:
    """Rows that are their payment's incident, each payment once: its latest of ``kinds``
    when given; else its latest 3-D Secure incident, or its latest card decline when it
    has no other (``payment_incident_of`` says the same of a payment's rows). A payment
    that failed the bank's check, was then declined on the same intent and paid with a
    third card is a 3-D Secure payment recovered: counted by its decline, it fell out of
    the outcomes while the failure rate counted it (a card tester)."""
    same_payment = Incident.objects.filter(stripe_id=OuterRef("stripe_id"))
    newer = Q(first_seen_at__gt=OuterRef("first_seen_at")) \
        | Q(first_seen_at=OuterRef("first_seen_at"), pk__gt=OuterRef("pk"))
    if kinds is not None:
        return ~Q(Exists(same_payment.filter(newer, kind__in=kinds)))
    # One NOT EXISTS of an incident that ranks above the row, as before the rule had a
    # second key: PostgreSQL answers it with one anti-join on the payment (three separate
    # ones, OR-ed, cost 6.2 times as much over 200,000 incidents: bench/README.md).
    kinds_3ds = [str(kind) for kind in facts.THREE_D_SECURE_KINDS]
    row_3ds = Q(In(OuterRef("kind"), kinds_3ds))
    above = (Q(kind__in=kinds_3ds) & ~row_3ds) | (
        ((Q(kind__in=kinds_3ds) & row_3ds) | (~Q(kind__in=kinds_3ds) & ~row_3ds)) & newer)
    return ~Q(Exists(same_payment.filter(above)))


def payment_incident_of(rows: Collection[dict]) -> dict:
    """Of one payment's incidents (``kind``, ``first_seen_at``, ``pk``), the one it counts
    as: ``incident_latest_of_payment``'s rule, for rows already read."""
    three_d_secure = {str(kind) for kind in facts.THREE_D_SECURE_KINDS}
    return max(rows, key=lambda row: (row["kind"] in three_d_secure, row["first_seen_at"],
                                      row["pk"]))


def _payments(*, currency: str | None, three_d_secure: bool = True) -> QuerySet[Incident]:
    """Each payment once (its latest incident); only the 3-D Secure kinds unless asked."""
    payments = _incidents(currency=currency).filter(incident_latest_of_payment())
    if three_d_secure:
        payments = payments.filter(kind__in=facts.THREE_D_SECURE_KINDS)
    return payments


def _made_in(queryset: QuerySet[Incident], since: datetime, until: datetime
             ) -> QuerySet[Incident]:
    return queryset.filter(intent_created_at__gte=since, intent_created_at__lt=until)


def _grouped(rows, key: str) -> dict[str, Totals]:
    grouped: dict[str, Totals] = defaultdict(Totals)
    for row in rows:
        grouped[row[key]].add(currency=row["currency"], count=row["n"], amount=row["total"] or 0)
    return grouped


def _group_list(grouped: dict[str, Totals]) -> list[GroupTotals]:
    groups = [GroupTotals(value, totals) for value, totals in grouped.items()]
    return sorted(groups, key=lambda group: (-group.count, group.value))


def incident_open_totals(*, currency: str | None = None
                         ) -> tuple[list[GroupTotals], Totals]:
    """Payments whose latest incident is open (3-D Secure kinds), by that incident's kind,
    with the money at risk; and their total: the rows add up to it. Two queries."""
    open_ = _payments(currency=currency).filter(status=Incident.Status.OPEN)
    by_kind = _grouped(open_.values("kind", "currency").annotate(
        n=Count("pk"), total=Sum("amount")), "kind")
    total = Totals()
    for row in open_.values("currency").annotate(n=Count("pk"), total=Sum("amount")):
        total.add(currency=row["currency"], count=row["n"], amount=row["total"] or 0)
    return _group_list(by_kind), total


def incident_new_totals(*, since: datetime, until: datetime) -> list[GroupTotals]:
    """Payments whose latest incident was first seen in [since, until) (new to us,
    whenever they were made), each once, by that incident's kind (card declines too),
    with their money; one query. ``GroupTotals.open`` counts those still open."""
    new = _incidents(currency=None).filter(incident_latest_of_payment(),
                                           first_seen_at__gte=since, first_seen_at__lt=until)
    rows = new.values("kind", "currency").annotate(
        n=Count("pk"), total=Sum("amount"),
        still_open=Count("pk", filter=Q(status=Incident.Status.OPEN)))
    grouped = _grouped(rows, "kind")
    groups = _group_list(grouped)
    still_open: dict[str, int] = defaultdict(int)
    for row in rows:
        still_open[row["kind"]] += row["still_open"]
    for group in groups:
        group.open = still_open[group.value]
    return groups


def attempt_expiring_list(*, now: datetime, currency: str | None = None, limit: int = 50
                          ) -> list[ExpiringAttempt]:
    """Attempts in ``requires_confirmation`` that Stripe will fail within the hour, most
    urgent first (see the module's docstring for the hour). One query."""
    attempts = PaymentAttempt.objects.expiring(now=now)
    if currency:
        attempts = attempts.filter(currency=currency)
    rows = (attempts.order_by("requires_confirmation_at", "pk")
            .values("pk", "stripe_id", "order_id", "order__reference", "order__email",
                    "amount", "currency", "requires_confirmation_at")[:limit])
    return [ExpiringAttempt(
        attempt_id=row["pk"], stripe_id=row["stripe_id"] or "", order_id=row["order_id"],
        order_reference=row["order__reference"], email=row["order__email"],
        amount=row["amount"], currency=row["currency"],
        requires_confirmation_at=row["requires_confirmation_at"],
        expires_at=facts.confirmation_expires_at(
            passed_challenge_at=row["requires_confirmation_at"]),
    ) for row in rows]


def incident_open_counts() -> dict[str, int]:
    """Payments whose latest incident is open, by its kind (every kind): each payment
    once, as the dashboard counts them, from the daily totals the writers keep (one query
    over a few thousand rows). /metrics' gauge: counting open incidents, it read 22 where
    the dashboard said 14 payments."""
    rows = (DailyTotal.objects.order_by().filter(measure="kind", status=Incident.Status.OPEN)
            .values("value").annotate(n=Sum("count")))
    return {row["value"]: row["n"] for row in rows if row["n"]}


def authentication_failure_rate(*, since: datetime, until: datetime,
                                currency: str | None = None) -> AuthenticationRate:
    """Failures ÷ payments that asked for authentication in [since, until). Two queries."""
    attempts = PaymentAttempt.objects.order_by().filter(requires_action_at__gte=since,
                                                        requires_action_at__lt=until)
    if currency:
        attempts = attempts.filter(currency=currency)
    challenged = attempts.count()
    challenged_in_period = Q(attempt__requires_action_at__gte=since,
                             attempt__requires_action_at__lt=until)
    failures = _made_in(_incidents(currency=currency).filter(
        kind__in=facts.AUTHENTICATION_FAILURES), since, until)
    counts = failures.aggregate(
        failed=Count("stripe_id", distinct=True),
        not_challenged=Count("stripe_id", distinct=True, filter=~challenged_in_period),
        **{kind.value: Count("stripe_id", distinct=True, filter=Q(kind=kind))
           for kind in facts.AUTHENTICATION_FAILURES})
    return AuthenticationRate(
        asked=challenged + counts["not_challenged"], failed=counts["failed"],
        challenged=challenged,
        by_kind={kind.value: counts[kind.value] for kind in facts.AUTHENTICATION_FAILURES
                 if counts[kind.value]})


def incident_outcome_totals(*, since: datetime, until: datetime, currency: str | None = None
                            ) -> dict[str, Totals]:
    """Payments made in [since, until) by their latest incident's status (3-D Secure
    kinds): each payment once, so the statuses add up. One query."""
    rows = (_made_in(_payments(currency=currency), since, until)
            .values("status", "currency").annotate(n=Count("pk"), total=Sum("amount")))
    grouped = _grouped(rows, "status")
    return {status: grouped.get(status, Totals()) for status in Incident.Status.values}


def incident_breakdown(*, by: BreakdownField, since: datetime, until: datetime,
                       currency: str | None = None) -> list[GroupTotals]:
    """Payments made in [since, until) by ``by`` of their latest incident, every kind
    (card declines too: the failure mix), largest count first. One query."""
    if by not in BREAKDOWN_FIELDS:
        raise ValueError(f"cannot break incidents down by {by!r}")
    rows = (_made_in(_payments(currency=currency, three_d_secure=False), since, until)
            .values(by, "currency").annotate(n=Count("pk"), total=Sum("amount")))
    return _group_list(_grouped(rows, by))


def incident_daily_series(*, since: datetime, until: datetime, currency: str | None = None
                          ) -> list[DayCount]:
    """Per day of the current time zone: payments in trouble by the day they were made,
    and payments recovered by the day they were (``resolved_at``), each once (3-D Secure
    kinds); every day of [since, until) present. Two queries."""
    tz = timezone.get_current_timezone()
    payments = _payments(currency=currency)
    made = dict(_made_in(payments, since, until)
                .annotate(day=TruncDate("intent_created_at", tzinfo=tz))
                .values("day").annotate(n=Count("pk")).values_list("day", "n"))
    recovered = dict(payments.filter(status=Incident.Status.RECOVERED,
                                     resolved_at__gte=since, resolved_at__lt=until)
                     .annotate(day=TruncDate("resolved_at", tzinfo=tz))
                     .values("day").annotate(n=Count("pk")).values_list("day", "n"))
    first = timezone.localtime(since, tz).date()
    last = timezone.localtime(until - timedelta(microseconds=1), tz).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [DayCount(day, made.get(day, 0), recovered.get(day, 0)) for day in days]


def dashboard_summary(*, since: datetime, until: datetime, currency: str | None = None,
                      now: datetime | None = None) -> DashboardSummary:
    """Everything the dashboard shows, from the daily totals the writers keep
    (``DailyTotal``, ``payments.monitoring.totals``): five queries over a few thousand
    rows whatever the size of the tables; the same numbers as
    ``dashboard_summary_recounted`` (the tests check it). ``since`` and ``until`` are
    midnights of the site's time zone (``period_bounds``)."""
    now = now or timezone.now()
    first, end = local_day(since), local_day(until)
    totals = DailyTotal.objects.order_by()
    if currency:
        totals = totals.filter(currency=currency)
    period = totals.filter(day__gte=first, day__lt=end)
    three_d_secure = [str(kind) for kind in facts.THREE_D_SECURE_KINDS]

    open_by_kind: dict[str, Totals] = defaultdict(Totals)
    open_total = Totals()
    for row in (totals.filter(measure="kind", status=Incident.Status.OPEN,
                              value__in=three_d_secure)
                .values("value", "currency").annotate(n=Sum("count"), total=Sum("amount"))):
        if row["n"]:
            open_by_kind[row["value"]].add(currency=row["currency"], count=row["n"],
                                           amount=row["total"] or 0)
            open_total.add(currency=row["currency"], count=row["n"], amount=row["total"] or 0)

    outcomes: dict[str, Totals] = {status: Totals() for status in Incident.Status.values}
    groups: dict[str, dict[str, Totals]] = {by: defaultdict(Totals) for by in BREAKDOWN_FIELDS}
    challenged = 0
    by_kind: dict[str, int] = {}
    for row in (period.exclude(measure__in=("failed", "recovered"))
                .values("measure", "value", "status", "currency")
                .annotate(n=Sum("count"), total=Sum("amount"))):
        measure, value, n, total = row["measure"], row["value"], row["n"], row["total"] or 0
        if not n:
            continue
        if measure == CHALLENGED:
            challenged += n
        elif measure == "failed_kind":
            by_kind[value] = by_kind.get(value, 0) + n
        elif measure in groups:
            groups[measure][value].add(currency=row["currency"], count=n, amount=total)
            if measure == "kind" and value in three_d_secure:
                outcomes[row["status"]].add(currency=row["currency"], count=n, amount=total)

    failed = not_challenged = 0
    for row in period.filter(measure="failed").values("value").annotate(n=Sum("count")):
        failed += row["n"]
        if not (first.isoformat() <= row["value"] < end.isoformat()):
            not_challenged += row["n"]

    made: dict[date, int] = defaultdict(int)
    recovered: dict[date, int] = defaultdict(int)
    for row in (period.filter(measure__in=("kind", "recovered"), value__in=three_d_secure)
                .values("measure", "day").annotate(n=Sum("count"))):
        (made if row["measure"] == "kind" else recovered)[row["day"]] += row["n"]
    days = [first + timedelta(days=i) for i in range((end - first).days)]

    expiring = attempt_expiring_list(now=now, currency=currency)
    breakdowns = {by: _group_list(groups[by]) for by in BREAKDOWN_FIELDS}
    currencies = _currencies_shown(open_total, outcomes, breakdowns, expiring)
    kinds_failed = {kind.value: by_kind[kind.value] for kind in facts.AUTHENTICATION_FAILURES
                    if by_kind.get(kind.value)}
    return DashboardSummary(
        since=since, until=until, currency=currency, now=now,
        open_by_kind=_group_list(open_by_kind), open_total=open_total, expiring=expiring,
        authentication=AuthenticationRate(asked=challenged + not_challenged, failed=failed,
                                          challenged=challenged, by_kind=kinds_failed),
        outcomes=outcomes,
        breakdowns=breakdowns,
        daily=[DayCount(day, made.get(day, 0), recovered.get(day, 0)) for day in days],
        currencies=sorted(currencies | ({currency} if currency else set())),
    )


def _currencies_shown(open_total: Totals, outcomes: dict[str, Totals],
                      breakdowns: dict[str, list[GroupTotals]], expiring) -> set[str]:
    """Every currency the dashboard shows money in, so its switch offers each: card
    declines (in the breakdowns only) included."""
    totals = [open_total, *outcomes.values(),
              *(group.totals for groups in breakdowns.values() for group in groups)]
    return {total.currency for totals_ in totals for total in totals_.by_currency} | \
        {attempt.currency for attempt in expiring}


def dashboard_summary_recounted(*, since: datetime, until: datetime,
                                currency: str | None = None, now: datetime | None = None
                                ) -> DashboardSummary:
    """What ``dashboard_summary`` shows, counted from the incidents and attempts
    themselves (12 queries whose cost grows with the tables): the definition the daily
    totals are checked against."""
    now = now or timezone.now()
    open_by_kind, open_total = incident_open_totals(currency=currency)
    outcomes = incident_outcome_totals(since=since, until=until, currency=currency)
    breakdowns = {by: incident_breakdown(by=by, since=since, until=until, currency=currency)
                  for by in BREAKDOWN_FIELDS}
    expiring = attempt_expiring_list(now=now, currency=currency)
    currencies = _currencies_shown(open_total, outcomes, breakdowns, expiring)
    return DashboardSummary(
        since=since, until=until, currency=currency, now=now,
        open_by_kind=open_by_kind, open_total=open_total, expiring=expiring,
        authentication=authentication_failure_rate(since=since, until=until,
                                                   currency=currency),
        outcomes=outcomes, breakdowns=breakdowns,
        daily=incident_daily_series(since=since, until=until, currency=currency),
        currencies=sorted(currencies | ({currency} if currency else set())),
    )
