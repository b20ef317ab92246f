"""What webhooks and scans learn about PaymentIntents, and the incidents it opens.

``intent_observe`` is the one entry: given what Stripe said about an intent (an event's
copy, or a fresh read), it updates our attempt through ``payment_status_record`` (or keeps
a late failure as history), then opens, refreshes and resolves incidents. This module is
the only writer of ``Incident`` rows; reporting the same fact twice, or facts in any
order, leaves the same incidents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from payments.checkout.models import PaymentAttempt
from payments.checkout.status import payment_status_history_record, payment_status_record
from payments.monitoring.models import Incident
from payments.stripe.gateway import EventData, IntentData

Kind, IncidentStatus = Incident.Kind, Incident.Status
Status = PaymentAttempt.Status

# What last_payment_error says about authentication (Stripe's codes; the Dashboard calls
# the first kind "requires_action_not_handled", which Stripe may also send literally).
NOT_HANDLED_CODES = {"requires_action_not_handled"}
NOT_HANDLED_DECLINES = {"authentication_not_handled"}
AUTHENTICATION_FAILED_CODES = {"payment_intent_authentication_failure"}
EXPIRED_CODES = {"payment_intent_payment_attempt_expired"}

# A stale incident whose intent then failed back (expired, or was given a bad card) is lost.
ABANDONED = (Kind.ACTION_ABANDONED, Kind.CONFIRMATION_ABANDONED)


@dataclass
class Observation:
    attempt: PaymentAttempt | None
    opened: int = 0
    resolved: int = 0
    # For an event: it says something our attempt does not hold; read it fresh.
    refresh: bool = False


def intent_observe(*, intent: IntentData, source: str, actor: str,
                   observed_at: datetime | None = None, current: bool = True,
                   stale_kind: str | None = None) -> Observation:
    """Record what Stripe said about ``intent``.

    ``current``: a fresh read (our call's answer) that may move the attempt; False for an
    event's copy, which may be older than what we hold and is kept as history only.
    ``stale_kind``: the sweep found the intent waiting past its threshold.
    """
    attempt = _attempt_for(intent)
    if attempt is not None:
        if current:
            attempt = payment_status_record(attempt=attempt, intent=intent, source=source,
                                            actor=actor, observed_at=observed_at)
        else:
            payment_status_history_record(
                attempt=attempt, intent=intent, source=source, actor=actor,
                observed_at=observed_at or _stripe_time(intent.created))
    observation = Observation(attempt=attempt)
    kind = stale_kind or failure_kind(intent)
    if kind is not None:
        # A late event's copy carries no card; the attempt's card then may be a later one.
        card_from = attempt if attempt is not None and (current or attempt.status in (
            intent.status, Status.REQUIRES_ACTION)) else None
        observation.opened += _incident_open(intent, attempt, kind, source, card_from)
    if current or attempt is None:  # an outside intent's events are all we hear of it
        observation.resolved += _incidents_resolve(intent, attempt)
    else:
        # An old event about an attempt we may already hold as finished (paid at /pay).
        observation.resolved += incidents_settle(attempt=attempt)
    return observation


def incidents_finalize(*, attempt: PaymentAttempt) -> int:
    """Our scan confirmed the attempt: its order's open incidents end auto-finalized."""
    if attempt.status != Status.SUCCEEDED:
        return 0
    return _incidents_end(stripe_id=attempt.stripe_id, order_id=attempt.order_id,
                          intent_status=attempt.status, paid_as=IncidentStatus.AUTO_FINALIZED)


def incidents_settle(*, attempt: PaymentAttempt) -> int:
    """The attempt is paid or canceled (by the shopper, ops, or Stripe): its order's open
    incidents end recovered, or canceled. Any other status settles nothing."""
    if attempt.status not in (Status.SUCCEEDED, Status.CANCELED):
        return 0
    return _incidents_end(stripe_id=attempt.stripe_id, order_id=attempt.order_id,
                          intent_status=attempt.status)


def _incidents_end(*, stripe_id: str, order_id: int | None, intent_status: str,
                   paid_as: str = IncidentStatus.RECOVERED) -> int:
    """An intent is paid or canceled: its incidents learn its final status (the list and
    the CSV show it) and the open ones end. Paid also ends those of the order's earlier
    intents; canceled only the intent's own."""
    scope = Q(stripe_id=stripe_id)
    if intent_status == Status.SUCCEEDED and order_id is not None:
        scope |= Q(order_id=order_id)
    # Nearly every payment has no incident: one read instead of two writes (every /pay
    # that succeeds comes here).
    if not Incident.objects.filter(scope).exists():
        return 0
    Incident.objects.filter(stripe_id=stripe_id).update(intent_status=intent_status)
    ended_as = paid_as if intent_status == Status.SUCCEEDED else IncidentStatus.CANCELED
    return Incident.objects.filter(scope, status=IncidentStatus.OPEN).update(
        status=ended_as, resolved_at=timezone.now())


def intent_event_record(*, event: EventData, source: str) -> Observation:
    """Record a Stripe event about an intent (a webhook, or the incremental scan).

    The event's copy of the intent may be older than what we hold, so it is kept as
    history and opens incidents, but moves nothing; ``refresh`` says our attempt should be
    read fresh from Stripe, as the event says something we do not hold yet."""
    observation = intent_observe(intent=event.intent, source=source, actor=event.id,
                                 observed_at=_stripe_time(event.created), current=False)
    attempt, intent = observation.attempt, event.intent
    observation.refresh = attempt is not None and attempt.status not in PaymentAttempt.FINAL \
        and (attempt.stripe_id is None
             or (attempt.status, attempt.last_error_code, attempt.last_decline_code)
             != (intent.status, intent.last_error_code or "", intent.last_decline_code or ""))
    return observation


def failure_kind(intent: IntentData) -> str | None:
    """The incident kind an intent's last_payment_error stands for, if any."""
    code, decline = intent.last_error_code or "", intent.last_decline_code or ""
    if code in NOT_HANDLED_CODES or decline in NOT_HANDLED_DECLINES:
        return Kind.REQUIRES_ACTION_NOT_HANDLED
    if code in AUTHENTICATION_FAILED_CODES:
        return Kind.AUTHENTICATION_FAILED
    if code in EXPIRED_CODES and intent.status == Status.REQUIRES_PAYMENT_METHOD:
        return Kind.EXPIRED
    return None


def _attempt_for(intent: IntentData) -> PaymentAttempt | None:
    """Our attempt for the intent; a create whose answer was lost is bound here by the
    order and attempt its metadata names."""
    attempt = PaymentAttempt.objects.select_related("order").filter(stripe_id=intent.id).first()
    if attempt is not None:
        return attempt
    reference, number = intent.metadata.get("order"), intent.metadata.get("attempt", "")
    if not reference or not number.isdigit():
        return None
    return (PaymentAttempt.objects.select_related("order")
            .filter(order__reference=reference, number=int(number), stripe_id__isnull=True)
            .first())


def _incident_open(intent: IntentData, attempt: PaymentAttempt | None, kind: str,
                   source: str, card_from: PaymentAttempt | None) -> int:
    """Open the (intent, kind) incident, or refresh what it knows; 1 if newly opened."""
    now = timezone.now()
    facts = {
        "amount": intent.amount, "currency": intent.currency,
        "intent_status": intent.status, "last_seen_at": now,
        "intent_created_at": _stripe_time(intent.created),
        "error_code": intent.last_error_code or "", "decline_code": intent.last_decline_code or "",
        "error_message": intent.last_error_message or "",
    }
    card = {"card_brand": intent.card_brand or (card_from.card_brand if card_from else ""),
            "card_last4": intent.card_last4 or (card_from.card_last4 if card_from else ""),
            "card_country": intent.card_country or (card_from.card_country if card_from else "")}
    facts.update({key: value for key, value in card.items() if value})
    updated = Incident.objects.filter(stripe_id=intent.id, kind=kind).update(**facts)
    if updated:
        return 0
    email = attempt.order.email if attempt else (intent.receipt_email or "")
    try:
        with transaction.atomic():
            Incident.objects.create(
                stripe_id=intent.id, kind=kind, attempt=attempt,
                order=attempt.order if attempt else None, customer_email=email,
                first_seen_at=now, source=source, **facts)
    except IntegrityError:  # a webhook and a scan opened it at the same moment
        return 0
    return 1


def _incidents_resolve(intent: IntentData, attempt: PaymentAttempt | None) -> int:
    """Close the open incidents this fresh state settles."""
    if intent.status in (Status.SUCCEEDED, Status.CANCELED):
        return _incidents_end(stripe_id=intent.id, intent_status=intent.status,
                              order_id=attempt.order_id if attempt else None)
    if failure_kind(intent) == Kind.EXPIRED:
        # Stripe's hour ran out: the abandoned wait is over and that sale is lost (the
        # expired incident stays open: the shopper may still be asked to pay again).
        return Incident.objects.filter(
            stripe_id=intent.id, kind__in=ABANDONED, status=IncidentStatus.OPEN).update(
            status=IncidentStatus.LOST, resolved_at=timezone.now(),
            intent_status=intent.status)
    return 0


def _stripe_time(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)
