"""Signal receivers of monitoring, a few lines each: dj-stripe's webhook events.

dj-stripe has verified, stored and (for payment_intent.*) synced the event inside the
webhook's transaction; we record what the event says and, when it tells us something we
do not hold, queue a fresh read from Stripe for after the commit. The webhook answer
makes no Stripe call of ours.
"""

from __future__ import annotations

from django.db import transaction
from djstripe.event_handlers import djstripe_receiver

from payments.checkout.models import PaymentEvent
from payments.monitoring import observe as monitoring
from payments.monitoring import tasks
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
    if monitoring.intent_event_record(event=data, source=PaymentEvent.Source.WEBHOOK).refresh:
        transaction.on_commit(
            lambda: tasks.intent_refresh_task.delay(data.intent.id, data.id))
