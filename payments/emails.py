"""Emails to shoppers, and the builder every email of the site uses (text and HTML from
``templates/emails/<name>.txt|.html`` and a one-line subject).

The receipt is sent once per paid order, however often it is asked: a worker sends it
after ``order_paid`` (payments/receivers.py), and the stale sweep sends any never queued,
so sending is guarded by a conditional UPDATE of ``Order.receipt_sent_at`` rather than by
the callers.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from payments.models import Order


def site_url(path: str) -> str:
    """An absolute address on this site: emails have no request to build one from."""
    return getattr(settings, "SITE_URL", "http://127.0.0.1:8000").rstrip("/") + path


def email_message(*, template: str, context: dict[str, object], to: str
                  ) -> EmailMultiAlternatives:
    """``emails/<template>.txt`` with ``.html`` as its alternative, from DEFAULT_FROM_EMAIL."""
    subject = render_to_string(f"emails/{template}_subject.txt", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),  # one line: a newline would break the header
        body=render_to_string(f"emails/{template}.txt", context), to=[to])
    message.attach_alternative(render_to_string(f"emails/{template}.html", context),
                               "text/html")
    return message


def order_receipt_message(*, order: Order) -> EmailMultiAlternatives:
    context = {"order": order, "lines": list(order.lines.all()),
               "order_url": site_url(reverse("order", args=[order.reference]))}
    return email_message(template="order_receipt", context=context, to=order.email)


def order_receipt_send(*, order_id: int) -> None:
    """Email the receipt of a paid order, unless it was sent already.

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
        return
    try:
        order_receipt_message(order=Order.objects.get(pk=order_id)).send()
    except BaseException:
        Order.objects.filter(pk=order_id, receipt_sent_at=claimed_at
                             ).update(receipt_sent_at=None)
        raise
