"""The shopper's receipt, sent once per paid order however often it is asked.

A worker sends it after ``order_paid`` (``payments.mail.receivers``), and a sweep every
few minutes (``receipts_late_send``) sends any that were never queued, so sending is
guarded by a conditional UPDATE of ``Order.receipt_sent_at`` rather than by the callers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils import timezone

from payments.mail.messages import email_message, site_url
from payments.shop.models import Order
from payments.shop.orders import order_status_token

log = logging.getLogger(__name__)

# A receipt not sent by then was never queued (the broker was down when the order was
# paid): the sweep mails it.
RECEIPT_LATE_AFTER = timedelta(minutes=10)


def order_receipt_message(*, order: Order) -> EmailMultiAlternatives:
    context = {"order": order, "lines": list(order.lines.all()),
               "order_url": site_url(reverse("order_status",
                                             args=[order_status_token(order=order)])),
               "order_url_expires_at": timezone.now() + timedelta(
                   seconds=settings.PAYMENTS_ORDER_LINK_SECONDS)}
    return email_message(template="order_receipt", context=context, to=order.email,
                         language=order.language)


def order_receipt_send(*, order_id: int) -> bool:
    """Email the receipt of a paid order, unless it was sent already; True when this
    call sent it.

    The UPDATE claims the order before sending, so two callers at once send one email.
    If sending fails the claim is given back and the error raised, so a later call can
    try again; a crash between the claim and the send loses that one receipt (at most
    once: a shopper must never get two).
    """
    claimed_at = timezone.now()
    claimed = Order.objects.filter(pk=order_id, status=Order.Status.PAID,
                                   receipt_sent_at__isnull=True
                                   ).update(receipt_sent_at=claimed_at)
    if not claimed:
        return False
    try:
        order_receipt_message(order=Order.objects.get(pk=order_id)).send()
    except BaseException:
        Order.objects.filter(pk=order_id, receipt_sent_at=claimed_at
                             ).update(receipt_sent_at=None)
        raise
    return True


def receipts_late_send(*, now: datetime | None = None) -> int:
    """Mail the receipts of paid orders that were never queued (the broker was down when
    they were paid), at most a page per run; returns how many went. A mail server that
    refuses is logged and tried at the next run."""
    before = (now or timezone.now()) - RECEIPT_LATE_AFTER
    late = Order.objects.filter(status=Order.Status.PAID, receipt_sent_at__isnull=True,
                                paid_at__lt=before).values_list("pk", flat=True)[:100]
    sent = 0
    for order_id in late:
        try:
            sent += order_receipt_send(order_id=order_id)
        except OSError:  # smtplib's errors
            log.warning("receipt of order %s not sent", order_id, exc_info=True)
    return sent
