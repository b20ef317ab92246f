"""Celery tasks of the mail room: thin, each calls one service. Names are pinned
(``name=``): beat's schedules in the database refer to them."""

from __future__ import annotations

from celery import shared_task

from payments.mail import receipts


# The name is the one migration 0010 gave beat's row (the late-receipt sweep this drain
# replaced); migration 0054 runs it every 5 s.
@shared_task(name="payments.mail.receipts_late_task", acks_late=True)
def receipts_due_task() -> int:
    """Beat, every 5 s: mail the receipts due (the order row is the outbox)."""
    return receipts.receipts_due_send()
