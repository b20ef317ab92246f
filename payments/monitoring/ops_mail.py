"""Mail to ops about payments in trouble: a daily digest of new incidents and an alert
when too many authentications fail.

Each message is built as every mail of the site (``payments.mail.messages``), money
written as on the site (the ``money`` filter, one sum per currency, never across
currencies). Ops mail goes to ``PAYMENTS_OPS_EMAILS``, one message per
address; with none configured nothing is computed or sent.

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
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from payments.checkout.models import PaymentAttempt
from payments.mail.messages import email_message, in_words, site_url
from payments.monitoring.models import Incident
from payments.monitoring.selectors import authentication_failure_rate

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
    incident: Incident
    expires_at: datetime
    expires_in: str
    admin_url: str


def ops_digest_content(*, now: datetime) -> dict[str, object] | None:
    """What the digest for the 24 hours up to ``now`` says; None when no incident was
    first seen then (an incident still waiting on Stripe's hour was first seen within
    the hour, so a day without new incidents has no urgent ones either)."""
    since = now - DAY
    window = {"first_seen_at__gte": since, "first_seen_at__lt": now}
    rows = (Incident.objects.filter(**window).order_by()
            .values("kind", "currency")
            .annotate(n=Count("id"), still_open=Count("id", filter=Q(status=Incident.Status.OPEN)),
                      total=Sum("amount")))
    kinds: dict[str, KindSummary] = {}
    for row in rows:
        summary = kinds.setdefault(row["kind"], KindSummary(
            kind=row["kind"], label=Kind(row["kind"]).label if row["kind"] in Kind.values
            else row["kind"], admin_url=incidents_admin_url(since=since, until=now,
                                                            kind=row["kind"])))
        summary.count += row["n"]
        summary.still_open += row["still_open"]
        summary.money.append((row["total"], row["currency"]))
    if not kinds:
        return None
    order = {kind: index for index, kind in enumerate(Kind.values)}
    by_kind = sorted(kinds.values(), key=lambda s: (order.get(s.kind, len(order)), s.kind))
    for summary in by_kind:
        summary.money.sort(key=lambda pair: pair[1])
    return {"now": now, "since": since, "by_kind": by_kind,
            "count": sum(s.count for s in by_kind),
            "still_open": sum(s.still_open for s in by_kind),
            "urgent": urgent_incidents(now=now),
            "admin_url": incidents_admin_url(since=since, until=now)}


def urgent_incidents(*, now: datetime, limit: int = URGENT_SHOWN) -> list[Urgent]:
    """Open incidents whose payment runs out with Stripe's hour (the one expiry rule,
    ``PaymentAttempt.expires_at``), soonest first."""
    expiring = PaymentAttempt.objects.expiring(now=now)
    incidents = (Incident.objects.filter(status=Incident.Status.OPEN, attempt__in=expiring)
                 .select_related("order", "attempt")
                 .order_by("attempt__requires_confirmation_at", "pk")[:limit])
    return [Urgent(incident=incident, expires_at=incident.attempt.expires_at,
                   expires_in=in_words(incident.attempt.expires_at - now),
                   admin_url=site_url(reverse("admin:payments_incident_change",
                                              args=[incident.pk])))
            for incident in incidents]


def incidents_admin_url(*, since: datetime, until: datetime, kind: str = "") -> str:
    """The admin's incident list filtered to incidents first seen in [since, until)."""
    query = {"first_seen_at__gte": since.isoformat(), "first_seen_at__lt": until.isoformat()}
    if kind:
        query["kind__exact"] = kind
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
    measured = authentication_failure_rate(since=now - DAY, until=now)
    threshold = settings.PAYMENTS_ALERT_FAILED_AUTH_RATE
    if measured.rate is None or measured.asked < settings.PAYMENTS_ALERT_MIN_PAYMENTS \
            or measured.rate <= threshold:
        return False
    if not cache.add(ALERT_CLAIM, now.isoformat(), timeout=ALERT_SECONDS):
        return False
    context = {"now": now, "since": now - DAY, "measured": measured,
               "by_kind": [(Kind(kind).label, count) for kind, count in measured.by_kind.items()],
               "rate_percent": f"{measured.rate:.0%}", "threshold_percent": f"{threshold:.0%}",
               "min_payments": settings.PAYMENTS_ALERT_MIN_PAYMENTS,
               "admin_url": incidents_admin_url(since=now - DAY, until=now)}
    return _send_claimed(ALERT_CLAIM, [email_message(template="ops_alert", context=context, to=a)
                                       for a in recipients]) > 0


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
