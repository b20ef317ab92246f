"""``order_paid`` → the receipt, mailed by a worker, queued after the shopper's answer."""

from __future__ import annotations

from django.dispatch import receiver

from payments.mail import tasks
from payments.mail.after_response import after_response
from payments.shop.models import order_paid
from payments.telemetry import counters, outages


@receiver(order_paid)
def order_paid_received(sender, order_id: int, **kwargs) -> None:
    # Queued once the shopper has the answer: publishing costs about a millisecond.
    after_response(lambda: _receipt_queue(order_id))


def _receipt_queue(order_id: int) -> None:
    try:
        # No publish retries: a broker that is down must not hold the shopper's answer
        # (nor, once it failed, the next ones: counters.redis_guard).
        counters.redis_guard(lambda: tasks.order_receipt_task.apply_async((order_id,),
                                                                          retry=False))
    except Exception:  # the payment stands; the receipt waits for the late-receipt sweep
        outages.redis_unavailable(component="celery_publish",
                                  doing=f"receipt of order {order_id} not queued; the "
                                        "late-receipt sweep sends it")
