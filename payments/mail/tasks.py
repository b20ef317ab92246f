"""Celery tasks of the mail room: thin, each calls one service. Names are pinned
(``name=``): beat's schedules in the database refer to them."""

from __future__ import annotations

from celery import shared_task

from payments.mail import receipts


@shared_task(name="payments.tasks.order_receipt_task", acks_late=True,
             autoretry_for=(OSError,), retry_backoff=10, retry_backoff_max=600, max_retries=6)
def order_receipt_task(order_id: int) -> None:
    """Mail the receipt of a paid order (once: order_receipt_send claims it first); a mail
    server that does not answer is retried, never in the shopper's /pay."""
    receipts.order_receipt_send(order_id=order_id)


@shared_task(name="payments.mail.receipts_late_task", acks_late=True)
def receipts_late_task() -> int:
    """Beat, every minute: receipts of paid orders that were never queued."""
    return receipts.receipts_late_send()
