"""What webhooks and scans learn about PaymentIntents.

``intent_observe`` is the one entry: given what Stripe said about an intent (an event's
copy, or a fresh read), it updates our attempt through ``payment_status_record`` (or keeps
a late failure as history), then opens, refreshes and resolves incidents
(``payments.monitoring.incidents``). Reporting the same fact twice, or facts in any
order, leaves the same attempt and the same incidents.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from payments.checkout.models import PaymentAttempt
from payments.checkout.status import payment_status_history_record, payment_status_record
from payments.monitoring import incidents
from payments.shop.models import Order
from payments.stripe import facts
from payments.stripe.gateway import EventData, IntentData

Status = PaymentAttempt.Status


@dataclass
class Observation:
    attempt: PaymentAttempt | None
    opened: int = 0
    resolved: int = 0
    # For an event: it says something our attempt does not hold; read it fresh.
    refresh: bool = False
    # For an event: an intent made outside the checkout paid one of our orders (a second
    # charge, or a payment the order does not know): the reconciliation says which.
    paid_outside: str = ""


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
                observed_at=observed_at or incidents.stripe_time(intent.created))
    observation = Observation(attempt=attempt)
    kind = stale_kind or intent_failure_kind(intent=intent)
    if kind is not None:
        # A late event's copy carries no card; the attempt's card then may be a later one.
        card_from = attempt if attempt is not None and (current or attempt.status in (
            intent.status, Status.REQUIRES_ACTION)) else None
        observation.opened += incidents.incident_open(
            intent=intent, attempt=attempt, kind=kind, source=source, card_from=card_from)
    if current or attempt is None:  # an outside intent's events are all we hear of it
        observation.resolved += incidents.incidents_resolve(
            intent=intent, attempt=attempt,
            expired=intent_failure_kind(intent=intent) == facts.FailureKind.EXPIRED)
    else:
        # An old event about an attempt we may already hold as finished (paid at /pay).
        observation.resolved += incidents.incidents_settle(attempt=attempt)
    return observation


def intents_outside_observe(*, intents: Sequence[tuple[IntentData, str | None]], source: str
                            ) -> Observation:
    """``intent_observe`` of many fresh reads at once, for intents with no attempt of ours
    (none holds their id, their metadata names no order): the same incidents and totals,
    in a few statements for all. Each intent comes with its ``stale_kind``."""
    seen = []
    for intent, stale_kind in intents:
        failure = intent_failure_kind(intent=intent)
        seen.append(incidents.Outside(intent=intent, kind=stale_kind or failure,
                                      expired=failure == facts.FailureKind.EXPIRED))
    opened, resolved = incidents.incidents_outside_record(seen=seen, source=source)
    return Observation(attempt=None, opened=opened, resolved=resolved)


def intent_event_record(*, event: EventData, source: str) -> Observation:
    """Record a Stripe event about an intent (a webhook, or the incremental scan).

    An event's copy of the intent is the intent as it was when Stripe made the event. When
    that is later than the fact our attempt holds, it is the current state and recorded
    as such (no read from Stripe needed); when earlier, it is kept as history and opens
    incidents, but moves nothing. Stripe dates events to the second, so an event of the
    same second as our fact cannot be placed: if it says something else, ``refresh``
    asks for a fresh read (``event_trust``); so does a failure of an intent not ours."""
    attempt = _attempt_for(event.intent)
    trust = event_trust(attempt=attempt, event=event)
    observation = intent_observe(intent=event.intent, source=source, actor=event.id,
                                 observed_at=incidents.stripe_time(event.created),
                                 current=trust is Trust.NEWER)
    attempt, intent = observation.attempt, event.intent
    if attempt is None:
        # Not ours: we hold no fact to place the event against, and Stripe does not send
        # events in order, so one saying it failed may come after it was paid or canceled.
        # Its incident would stay open for good (nothing searches a paid intent): read it.
        observation.refresh = intent_failure_kind(intent=intent) is not None \
            and intent.status not in (Status.SUCCEEDED, Status.CANCELED)
        reference = intent.metadata.get("order", "")
        if intent.status == Status.SUCCEEDED and reference and \
                Order.objects.filter(reference=reference).exists():
            observation.paid_outside = reference
    else:
        observation.refresh = trust is Trust.UNSURE and attempt.status not in PaymentAttempt.FINAL \
            and (attempt.status, attempt.last_error_code, attempt.last_decline_code) \
            != (intent.status, intent.last_error_code or "", intent.last_decline_code or "")
    return observation


class Trust(enum.Enum):
    """An event's copy of an intent against the fact our attempt holds."""

    NEWER = "newer"  # the intent as it is now: recorded as the current state
    OLDER = "older"  # history: kept, opens incidents, moves nothing
    UNSURE = "unsure"  # of the same second: read the intent fresh if it says otherwise


def event_trust(*, attempt: PaymentAttempt | None, event: EventData) -> Trust:
    """Whether ``event`` is newer than the fact ``attempt`` holds, older, or of the same
    second (unsure). An event's ``created`` is whole seconds; our facts are dated to the
    microsecond (``status_observed_at``)."""
    if attempt is None or attempt.status in PaymentAttempt.FINAL:
        return Trust.OLDER  # an outside intent: history and incidents; a final one: history
    held = attempt.status_observed_at
    if held is None or event.created > held.timestamp():
        return Trust.NEWER
    if event.created + 1 <= held.timestamp():
        return Trust.OLDER
    return Trust.UNSURE


def intent_failure_kind(*, intent: IntentData) -> facts.FailureKind | None:
    """The incident kind an intent's last_payment_error stands for, if any."""
    return facts.failure_kind(error_code=intent.last_error_code,
                              decline_code=intent.last_decline_code, status=intent.status)


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
