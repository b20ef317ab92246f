"""Signal receivers, a few lines each: dj-stripe's webhook events, and our own
``order_paid`` (the receipt, mailed by a worker, queued after the shopper's answer).

dj-stripe has verified, stored and (for payment_intent.*) synced the event inside the
webhook's transaction; we record what the event says and, when it tells us something we
do not hold, queue a fresh read from Stripe for after the commit. The webhook answer
makes no Stripe call of ours.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import receiver
from djstripe.event_handlers import djstripe_receiver

from payments import gateway, monitoring, tasks
from payments.after_response import after_response
from payments.models import PaymentEvent, order_paid

log = logging.getLogger(__name__)

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


@receiver(order_paid)
def order_paid_received(sender, order_id: int, **kwargs) -> None:
    # Queued once the shopper has the answer: publishing costs about a millisecond.
    after_response(lambda: _receipt_queue(order_id))


def _receipt_queue(order_id: int) -> None:
    try:
        # No publish retries: a broker that is down must not hold the shopper's answer.
        tasks.order_receipt_task.apply_async((order_id,), retry=False)
    except Exception:  # the payment stands; the receipt waits for the next sweep
        log.exception("receipt of order %s not queued", order_id)
