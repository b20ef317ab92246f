"""Ops actions on incidents: confirm now, send an authentication link, cancel, refresh
from Stripe.

Ops actions (confirm now, send an authentication link, cancel, refresh from Stripe) are
planned first, so the confirmation page can say what will happen to how many payments,
then executed with a one-time form token (``OpsAction``): a form submitted twice acts
once. Each payment goes through the checkout's own services, under the same order lock
and idempotency keys, so an ops confirm racing the shopper's confirm charges once; the
ledger names the staff user.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from payments.checkout.errors import CheckoutError
from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.checkout.services import checkout_cancel, checkout_finalize
from payments.monitoring import refresh
from payments.monitoring.models import Incident
from payments.recovery.links import recovery_link_send
from payments.recovery.models import OpsAction
from payments.shop.models import Order
from payments.stripe import facts, gateway

Action = OpsAction.Kind
Status = PaymentAttempt.Status
ADMIN = PaymentEvent.Source.ADMIN

# The reasons ops may give (Stripe's "duplicate" is for payments made twice, which the
# checkout never does).
CANCEL_REASONS = {reason: label for reason, label in facts.CANCELLATION_REASONS.items()
                  if reason != "duplicate"}
DONE = {Action.CONFIRM: "{n} confirmed", Action.SEND_LINK: "{n} link{s} sent",
        Action.CANCEL: "{n} canceled", Action.REFRESH: "{n} refreshed"}
# Kinds a shopper can fix by authenticating again, or by paying with another card.
LINKABLE = {Incident.Kind.ACTION_ABANDONED, Incident.Kind.AUTHENTICATION_FAILED,
            Incident.Kind.REQUIRES_ACTION_NOT_HANDLED, Incident.Kind.EXPIRED}


@dataclass
class Plan:
    action: str
    eligible: list[Incident] = field(default_factory=list)
    skipped: list[tuple[Incident, str]] = field(default_factory=list)


@dataclass
class Outcome:
    action: str
    done: int = 0
    skipped: Counter = field(default_factory=Counter)

    @property
    def message(self) -> str:
        """"3 confirmed, 1 skipped: already paid"."""
        parts = [DONE[self.action].format(n=self.done, s="" if self.done == 1 else "s")]
        parts += [f"{count} skipped: {reason}" for reason, count in self.skipped.items()]
        return ", ".join(parts)


class AlreadySubmitted(Exception):
    """This form was submitted before; ``previous`` says what it did then."""

    def __init__(self, previous: OpsAction) -> None:
        super().__init__(previous.summary)
        self.previous = previous


# --- ops actions -------------------------------------------------------------------------

def recovery_plan(*, action: str, incidents: Sequence[Incident]) -> Plan:
    """What ``action`` would do to each incident, without doing it."""
    plan, seen = Plan(action=action), set()
    for incident in incidents:
        reason = _skip_reason(action, incident, seen)
        if reason:
            plan.skipped.append((incident, reason))
        else:
            plan.eligible.append(incident)
            seen.add(incident.stripe_id)
    return plan


def recovery_execute(*, action: str, seen: dict[int, str], token: uuid.UUID, user,
                     reason: str = "") -> Outcome:
    """Act on the incidents the confirmation page showed (``seen``: id → the version
    shown, ``incident_version``). Those changed since then are skipped, not acted on."""
    if action == Action.CANCEL and reason not in CANCEL_REASONS:
        raise ValueError(f"Unknown cancellation reason {reason!r}.")
    try:
        with transaction.atomic():
            record = OpsAction.objects.create(id=token, kind=action, user=user, reason=reason,
                                              requested=len(seen))
    except IntegrityError:
        raise AlreadySubmitted(OpsAction.objects.get(pk=token)) from None
    outcome, acted = Outcome(action=action), set()
    incidents = Incident.objects.filter(pk__in=list(seen)).select_related("attempt", "order")
    for incident in sorted(incidents, key=lambda i: i.pk):
        if incident_version(incident) != seen[incident.pk]:
            outcome.skipped["changed since you looked"] += 1
            continue
        skip = _skip_reason(action, incident, acted)
        if skip:
            outcome.skipped[skip] += 1
            continue
        acted.add(incident.stripe_id)
        result = _act(action, incident, user=user, reason=reason)
        if result is None:
            outcome.done += 1
        else:
            outcome.skipped[result] += 1
    missing = len(seen) - len(incidents)
    if missing > 0:
        outcome.skipped["no longer exists"] += missing
    record.done, record.skipped = outcome.done, sum(outcome.skipped.values())
    record.summary = outcome.message
    record.save(update_fields=["done", "skipped", "summary"])
    return outcome


def incident_version(incident: Incident) -> str:
    """What the confirmation page shows and the execution compares: any change to the
    incident since (a webhook, a scan, another ops person) moves it."""
    return f"{incident.status}:{incident.intent_status}:{incident.last_seen_at.isoformat()}"


def _skip_reason(action: str, incident: Incident, acted: set[str]) -> str | None:
    if incident.stripe_id in acted:
        return "same payment as another selected"
    if action == Action.REFRESH:
        return None
    if incident.status != Incident.Status.OPEN:
        return f"already {incident.get_status_display().lower()}"
    attempt, order = incident.attempt, incident.order
    if attempt is None or order is None:
        return "not a payment of this shop's checkout"
    if order.status == Order.Status.PAID or attempt.status == Status.SUCCEEDED:
        return "already paid"
    if order.status == Order.Status.CANCELED or attempt.status == Status.CANCELED:
        return "already canceled"
    if action == Action.CONFIRM and attempt.status != Status.REQUIRES_CONFIRMATION:
        return "not awaiting confirmation"
    if action == Action.SEND_LINK:
        if incident.kind not in LINKABLE:
            return "nothing for the shopper to do"
        if not order.email:
            return "no email address"
    return None


def _act(action: str, incident: Incident, *, user, reason: str) -> str | None:
    """Do it; None when done, or why it was skipped after all (Stripe said otherwise)."""
    actor = f"user:{user.get_username()}"
    order = incident.order
    try:
        if action == Action.CONFIRM:
            if not checkout_finalize(order_reference=order.reference, source=ADMIN,
                                     payment_intent_id=incident.stripe_id, actor=actor):
                return "already paid"
        elif action == Action.CANCEL:
            if not checkout_cancel(order_reference=order.reference, reason=reason,
                                   payment_intent_id=incident.stripe_id, source=ADMIN,
                                   actor=actor):
                return "already canceled"
        elif action == Action.REFRESH:
            refresh.intent_refresh(intent_id=incident.stripe_id, source=ADMIN, actor=actor)
        elif action == Action.SEND_LINK:
            recovery_link_send(incident=incident, user=user)
    except CheckoutError as error:
        return error.message.rstrip(".")
    except (gateway.StripeUnavailable, gateway.RateLimited):
        return "Stripe did not answer; try again"
    except OSError:  # smtplib's errors: the link exists, the mail did not go
        return "the mail server did not answer; try again"
    return None  # the checkout's status record has ended the incidents (payment_settled)
