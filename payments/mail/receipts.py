"""The shopper's receipt, sent once per paid order however often it is asked.

The order row is the outbox: the status record marks the order paid in the payment's own
transaction, and a paid order whose ``receipt_sent_at`` is empty is a receipt due (partial
index ``order_receipt_due``). Beat runs ``receipts_due_send`` every few seconds
(``receipts_due_task``, migration 0054), so ``/pay`` publishes nothing to the broker and
no receipt can be lost between the payment's commit and a publish. Sending is guarded by
a conditional UPDATE of ``Order.receipt_sent_at`` (``order_receipt_send``), so two
workers draining at once send one email. A receipt the mail server refuses is tried again
after a growing wait (``receipt_retry_at``) and given up after ``RECEIPT_MAX_REFUSALS``,
so refused addresses never hold the receipts behind them. An order whose shopper had
their data erased (``Order.erased_at``) is no longer due: there is no address to send to.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from payments.mail.messages import email_message, site_url
from payments.shop.models import Order
from payments.shop.orders import order_status_token

log = logging.getLogger(__name__)

# Receipts one drain mails at most; the next run (seconds later) takes the rest.
RECEIPTS_DUE_PAGE = 100
# A refused receipt is tried again after 5 min, 10 min, 20 min ... (at most 6 h between
# tries), and given up after the 8th refusal (about 15 h after the first).
RECEIPT_RETRY_FIRST = timedelta(minutes=5)
RECEIPT_RETRY_LONGEST = timedelta(hours=6)
RECEIPT_MAX_REFUSALS = 8


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
                                   receipt_sent_at__isnull=True, erased_at__isnull=True
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


def receipts_due_send(*, limit: int = RECEIPTS_DUE_PAGE) -> int:
    """Mail the receipts due (paid orders without one), oldest payment first, at most
    ``limit``; returns how many this call sent. A message the mail server refuses is
    logged and tried again later (``_receipt_refused``); a server that does not answer
    ends the run (every other message would wait for it too): the next run tries again."""
    now = timezone.now()
    due = (Order.objects.filter(status=Order.Status.PAID, receipt_sent_at__isnull=True,
                                receipt_refusals__lt=RECEIPT_MAX_REFUSALS,
                                erased_at__isnull=True)
           .filter(Q(receipt_retry_at__isnull=True) | Q(receipt_retry_at__lte=now))
           .order_by("paid_at", "pk").values_list("pk", flat=True)[:limit])
    sent = 0
    for order_id in list(due):
        try:
            sent += order_receipt_send(order_id=order_id)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                smtplib.SMTPDataError):
            _receipt_refused(order_id=order_id, now=now)
        except OSError:  # smtplib's other errors, the connection's
            log.warning("receipt of order %s not sent: the mail server did not take it; "
                        "the next run tries again", order_id, exc_info=True)
            break
    return sent


def _receipt_refused(*, order_id: int, now: datetime) -> None:
    """Count the refusal and put the next try off (twice as long each time). Only the
    drain that claimed the receipt saw it refused, so the count is read and written once."""
    order = Order.objects.only("reference", "receipt_refusals").get(pk=order_id)
    refusals = order.receipt_refusals + 1
    wait = min(RECEIPT_RETRY_FIRST * 2 ** (refusals - 1), RECEIPT_RETRY_LONGEST)
    Order.objects.filter(pk=order_id).update(receipt_refusals=refusals,
                                             receipt_retry_at=now + wait)
    # Named by its reference, which support can search; the traceback names the refused
    # address, which the log's filter redacts (paymentsite.logging).
    if refusals >= RECEIPT_MAX_REFUSALS:
        log.error("receipt of order %s refused by the mail server %s times; given up",
                  order.reference, refusals, exc_info=True)
    else:
        log.warning("receipt of order %s refused by the mail server; tried again after "
                    "%s", order.reference, now + wait, exc_info=True)
