"""Mail to ops about payments in trouble: a daily digest of new incidents, an alert
when too many authentications fail, and one when a reconciliation finds a mismatch.

Each message is built as every mail of the site (``payments.mail.messages``), money
written as on the site (the ``money`` filter, one sum per currency, never across
currencies), in the site's language (``LANGUAGE_CODE``: its words are computed and
rendered under it, whatever language a request left active). Ops mail goes to
``PAYMENTS_OPS_EMAILS``, one message per address; with none configured nothing is
computed or sent.

Celery may run a task twice (acks_late, a lost worker) or on two workers at once, so
the digest (once per day) and the alert (at most once per 24 hours) are claimed with
``cache.add`` before sending: in production the cache is Redis, shared by every worker.
A failed send gives the claim back and raises, so a retry or the next check can send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives, get_connection
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from payments.checkout.models import PaymentAttempt
from payments.mail.messages import email_message, in_words, site_url
from payments.monitoring import selectors
from payments.monitoring.models import Incident, ReconciliationMismatch, ReconciliationRun
from payments.stripe import facts

Kind = Incident.Kind
Status = PaymentAttempt.Status

DAY = timedelta(hours=24)
URGENT_SHOWN = 10

DIGEST_CLAIM = "payments:ops-digest:{day}"
ALERT_CLAIM = "payments:ops-alert"
ALERT_SECONDS = 86400


# --- the daily digest ------------------------------------------------------------------

@dataclass
class KindSummary:
    kind: str
    label: str
    count: int = 0
    still_open: int = 0
    money: list[tuple[int, str]] = field(default_factory=list)  # (amount, currency)
    admin_url: str = ""


@dataclass
class Urgent:
    """A payment Stripe's hour will fail soon: the dashboard's "Expiring" list."""

    email: str
    amount: int
    currency: str
    order_reference: str
    kind_label: str  # its open incident's kind, if it has one yet
    expires_at: datetime
    expires_in: str
    admin_url: str


def ops_digest_content(*, now: datetime) -> dict[str, object] | None:
    """What the digest up to ``now`` says (since the same local time the day before: 23
    or 25 hours across a DST change): the payments with incidents first seen then, each
    once (its latest incident, as the dashboard counts), by kind; None when there were
    none. The urgent ones are the dashboard's expiring payments."""
    with translation.override(settings.LANGUAGE_CODE):
        return _digest_content(now=now)


def _digest_content(*, now: datetime) -> dict[str, object] | None:
    # Since this clock time yesterday in the shop's zone (the digest runs at a local
    # hour): 23 or 25 hours across a DST change, so a day's digests leave no hour out and
    # count none twice. An aware local time minus a day is wall-clock arithmetic.
    since = timezone.localtime(now) - timedelta(days=1)
    groups = selectors.incident_new_totals(since=since, until=now)
    if not groups:
        return None
    order = {kind: index for index, kind in enumerate(Kind.values)}
    by_kind = [KindSummary(
        kind=group.value, label=kind_label(group.value), count=group.count,
        still_open=group.open,
        money=sorted(((total.amount, total.currency) for total in group.totals.by_currency),
                     key=lambda pair: pair[1]),
        admin_url=incidents_admin_url(since=since, until=now, kind=group.value))
        for group in sorted(groups, key=lambda g: (order.get(g.value, len(order)), g.value))]
    return {"now": now, "since": since, "by_kind": by_kind,
            "count": sum(s.count for s in by_kind),
            "still_open": sum(s.still_open for s in by_kind),
            "urgent": urgent_payments(now=now),
            "expiry_meaning": selectors.EXPIRY_MEANING,
            "admin_url": incidents_admin_url(since=since, until=now)}


def kind_label(kind: str) -> str:
    return Kind(kind).label if kind in Kind.values else kind


def urgent_payments(*, now: datetime, limit: int = URGENT_SHOWN) -> list[Urgent]:
    """The payments Stripe's hour will fail soonest (``selectors.attempt_expiring_list``,
    the one expiry rule, as the dashboard lists them), each linking to its open incident
    when monitoring has opened one, else to the payment."""
    expiring = selectors.attempt_expiring_list(now=now, limit=limit)
    incidents = {incident.attempt_id: incident for incident in Incident.objects.filter(
        attempt_id__in=[payment.attempt_id for payment in expiring],
        status=Incident.Status.OPEN).order_by("first_seen_at", "pk")}
    urgent = []
    for payment in expiring:
        incident = incidents.get(payment.attempt_id)
        url = reverse("admin:payments_incident_change", args=[incident.pk]) if incident \
            else reverse("admin:payments_paymentattempt_change", args=[payment.attempt_id])
        urgent.append(Urgent(
            email=payment.email, amount=payment.amount, currency=payment.currency,
            order_reference=payment.order_reference,
            kind_label=incident.get_kind_display() if incident
            else gettext("awaiting confirmation"),
            expires_at=payment.expires_at, expires_in=in_words(payment.expires_at - now),
            admin_url=site_url(url)))
    return urgent


def incidents_admin_url(*, since: datetime, until: datetime, kind: str = "") -> str:
    """The admin's incident list of the digest: incidents first seen in [since, until),
    each payment once (as the digest counts them), of one kind if asked."""
    query = {"first_seen_at__gte": since.isoformat(), "first_seen_at__lt": until.isoformat(),
             "payment": selectors.EACH_PAYMENT_ONCE}
    if kind:
        query["kind__exact"] = kind
    return site_url(reverse("admin:payments_incident_changelist")) + "?" + urlencode(query)


def failures_admin_url(*, since: datetime, until: datetime) -> str:
    """The admin's incident list of the alert: the payments made in [since, until) whose
    bank check failed, each once (its latest failure), as the alert counts them."""
    query = {"intent_created_at__gte": since.isoformat(),
             "intent_created_at__lt": until.isoformat(),
             "kind__in": ",".join(facts.AUTHENTICATION_FAILURES),
             "payment": selectors.EACH_FAILED_PAYMENT_ONCE}
    return site_url(reverse("admin:payments_incident_changelist")) + "?" + urlencode(query)


def ops_digest_send(*, now: datetime | None = None) -> int:
    """Send ops the digest of the 24 hours up to ``now``; returns how many emails went.

    Nothing is sent (0) without ``PAYMENTS_OPS_EMAILS``, or when no incident was first
    seen in the window: a quiet day leaves the inbox quiet. One digest per day (the
    date of ``now`` in ``TIME_ZONE``): a second run that day, or a task delivered twice,
    sends nothing."""
    recipients = list(settings.PAYMENTS_OPS_EMAILS)
    if not recipients:
        return 0
    now = (now or timezone.now()).replace(microsecond=0)  # whole seconds in links
    context = ops_digest_content(now=now)
    if context is None:
        return 0
    claim = DIGEST_CLAIM.format(day=timezone.localdate(now).isoformat())
    if not cache.add(claim, now.isoformat(), timeout=ALERT_SECONDS):
        return 0
    return _send_claimed(claim, [email_message(template="ops_digest", context=context, to=address)
                                 for address in recipients])


# --- the failed-authentication alert ---------------------------------------------------

def ops_alert_check(*, now: datetime | None = None) -> bool:
    """Email ops when the failed-authentication rate of the last 24 hours is too high;
    True when an alert was sent.

    Too high: over ``PAYMENTS_ALERT_FAILED_AUTH_RATE`` (strictly), with at least
    ``PAYMENTS_ALERT_MIN_PAYMENTS`` payments that asked for authentication: the rate the
    dashboard shows (``selectors.authentication_failure_rate``), over the last 24 hours.
    At most one alert per 24 hours: the first worker to ``cache.add`` the claim sends
    it; a failed send gives the claim back for the next check (every 15 minutes).
    Nothing without ``PAYMENTS_OPS_EMAILS``.
    """
    recipients = list(settings.PAYMENTS_OPS_EMAILS)
    if not recipients:
        return False
    now = (now or timezone.now()).replace(microsecond=0)  # whole seconds in links
    measured = selectors.authentication_failure_rate(since=now - DAY, until=now)
    threshold = settings.PAYMENTS_ALERT_FAILED_AUTH_RATE
    if measured.rate is None or measured.asked < settings.PAYMENTS_ALERT_MIN_PAYMENTS \
            or measured.rate <= threshold:
        return False
    if not cache.add(ALERT_CLAIM, now.isoformat(), timeout=ALERT_SECONDS):
        return False
    context = {"now": now, "since": now - DAY, "measured": measured,
               "by_kind": [(Kind(kind).label, count) for kind, count in measured.by_kind.items()],
               "rate_percent": selectors.rate_percent(measured.rate),
               "threshold_percent": selectors.rate_percent(threshold),
               "min_payments": settings.PAYMENTS_ALERT_MIN_PAYMENTS,
               "meaning": selectors.AUTHENTICATION_FAILURE_MEANING,
               "admin_url": failures_admin_url(since=now - DAY, until=now)}
    return _send_claimed(ALERT_CLAIM, [email_message(template="ops_alert", context=context, to=a)
                                       for a in recipients]) > 0


# --- the reconciliation alert -----------------------------------------------------------

MISMATCHES_SHOWN = 20


def ops_reconciliation_alert_send(*, run: ReconciliationRun) -> int:
    """Mail ops about the open mismatches no mail has named yet (each finding is mailed
    once: ``mailed_at``; one found again after it was resolved is news again); returns how
    many emails went. Nothing without ``PAYMENTS_OPS_EMAILS`` or without news. The caller
    holds the reconciliation's lease, so two runs never mail one finding."""
    recipients = list(settings.PAYMENTS_OPS_EMAILS)
    if not recipients:
        return 0
    news = list(ReconciliationMismatch.objects.filter(resolved=False, mailed_at__isnull=True)
                .select_related("order").order_by("kind", "occurred_at", "pk"))
    if not news:
        return 0
    open_by_kind = dict.fromkeys(ReconciliationMismatch.Kind.values, 0)
    for kind in ReconciliationMismatch.objects.filter(resolved=False).values_list(
            "kind", flat=True):
        open_by_kind[kind] += 1
    changelist = reverse("admin:payments_reconciliationmismatch_changelist")
    context = {
        "run": run, "count": len(news), "news": news[:MISMATCHES_SHOWN],
        "more": max(len(news) - MISMATCHES_SHOWN, 0),
        "open_by_kind": [(ReconciliationMismatch.Kind(kind).label, count)
                         for kind, count in open_by_kind.items() if count],
        "open_count": sum(open_by_kind.values()),
        "admin_url": site_url(changelist) + "?" + urlencode({"state": "open"}),
        "run_url": site_url(reverse("admin:payments_reconciliationrun_change",
                                    args=[run.pk])),
    }
    with get_connection() as connection:
        sent = connection.send_messages([
            email_message(template="ops_reconciliation", context=context, to=address)
            for address in recipients]) or 0
    ReconciliationMismatch.objects.filter(pk__in=[m.pk for m in news]).update(
        mailed_at=timezone.now())
    return sent


# --- shared ----------------------------------------------------------------------------

def _send_claimed(claim: str, messages: list[EmailMultiAlternatives]) -> int:
    """Send over one connection; on failure give the claim back and raise (a message
    already delivered to one address may then be sent to it again: ops mail errs on the
    side of arriving)."""
    try:
        with get_connection() as connection:
            return connection.send_messages(messages) or 0
    except BaseException:
        cache.delete(claim)
        raise
