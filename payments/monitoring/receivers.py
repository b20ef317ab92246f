"""Signal receivers of monitoring, a few lines each: dj-stripe's webhook events, and the
checkout's ``payment_settled`` (a payment paid or canceled ends its incidents).

dj-stripe has verified, stored and (for payment_intent.*) synced the event inside the
webhook's transaction; we record what the event says and, when it tells us something we
do not hold, queue a fresh read from Stripe for after the commit. The webhook answer
makes no Stripe call of ours.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import receiver
from djstripe.event_handlers import djstripe_receiver

from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.checkout.signals import payment_settled
from payments.monitoring import incidents, observe, tasks
from payments.monitoring.models import Incident
from payments.stripe import gateway

INTENT_EVENTS = ["payment_intent.created", "payment_intent.requires_action",
                 "payment_intent.payment_failed", "payment_intent.succeeded",
                 "payment_intent.canceled", "payment_intent.processing",
                 "payment_intent.amount_capturable_updated"]


@djstripe_receiver(INTENT_EVENTS)
def payment_intent_event_received(sender, event, **kwargs) -> None:
    data = gateway.event_data_from_payload({
        "id": event.id, "type": event.type, "created": int(event.created.timestamp()),
        "data": event.data})
    if data is None:
        return
    if observe.intent_event_record(event=data, source=PaymentEvent.Source.WEBHOOK).refresh:
        transaction.on_commit(
            lambda: tasks.intent_refresh_task.delay(data.intent.id, data.id))


@receiver(payment_settled)
def payment_settled_received(sender, attempt: PaymentAttempt, previous: str, source: str,
                             confirmed: bool, **kwargs) -> None:
    """The payment's incidents end: recovered, canceled, or auto-finalized when our own
    scan's confirm paid it. An order's first intent paid at its first answer to /pay has
    none (nothing saw it fail or wait): most payments, so no query for them."""
    if source == PaymentEvent.Source.PAY and previous == PaymentAttempt.Status.CREATING \
            and attempt.number == 1:
        return
    auto = source == PaymentEvent.Source.SCAN and confirmed
    incidents.incidents_end(
        stripe_id=attempt.stripe_id, order_id=attempt.order_id, intent_status=attempt.status,
        paid_as=Incident.Status.AUTO_FINALIZED if auto else Incident.Status.RECOVERED)
