"""Links mailed to shoppers to finish paying an order, and what opening one does.

A link's URL carries a token signed with the site's key and ``LINK_SALT``, naming its
``RecoveryLink`` row; the row says whether and by whom it was used and when it expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils import timezone

from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.mail.messages import email_message, in_words, site_url
from payments.monitoring import observe
from payments.monitoring.models import Incident
from payments.recovery.models import RecoveryLink
from payments.shop.models import Order
from payments.shop.orders import SESSION_ORDERS
from payments.shop.sessions import session_fingerprint
from payments.stripe import gateway

Status = PaymentAttempt.Status
ADMIN = PaymentEvent.Source.ADMIN
LINK_SALT = "payments.recovery-link"


class RecoveryLinkError(Exception):
    """A recovery link that cannot be used; ``message`` is safe to show anyone."""

    def __init__(self, message: str, *, status: int = 410) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def recovery_link_send(*, incident: Incident, user) -> RecoveryLink:
    """Make a link for the incident's order and mail it to the shopper."""
    link = RecoveryLink.objects.create(
        order=incident.order, incident=incident, email=incident.order.email, created_by=user,
        expires_at=timezone.now() + timedelta(seconds=settings.PAYMENTS_RECOVERY_LINK_SECONDS))
    recovery_link_mail(link=link, token=recovery_link_token(link=link))
    return link


def recovery_link_token(*, link: RecoveryLink) -> str:
    return signing.dumps(link.pk, salt=LINK_SALT, compress=True)


@dataclass(frozen=True)
class LinkOpening:
    order: Order
    client_secret: str | None  # set when the bank's challenge can run again


def recovery_link_open(*, token: str, session: SessionBase) -> LinkOpening:
    """Check a link and hand its order to this browser session.

    An altered, expired or used link raises RecoveryLinkError with a message that
    reveals nothing about the order. The session that first opened a link may open it
    again (a reload)."""
    try:
        pk = signing.loads(token, salt=LINK_SALT,
                           max_age=settings.PAYMENTS_RECOVERY_LINK_SECONDS)
    except signing.SignatureExpired:
        raise RecoveryLinkError("This link has expired. Please ask the shop for a new "
                                "one.") from None
    except signing.BadSignature:
        raise RecoveryLinkError("This link is not valid.", status=404) from None
    link = RecoveryLink.objects.select_related("order").filter(pk=pk).first()
    if link is None:
        raise RecoveryLinkError("This link is not valid.", status=404)
    if link.expires_at <= timezone.now():
        raise RecoveryLinkError("This link has expired. Please ask the shop for a new one.")
    if not session.session_key:
        session.save()
    me = session_fingerprint(session=session)
    if link.used_at is None:
        RecoveryLink.objects.filter(pk=link.pk, used_at__isnull=True).update(
            used_at=timezone.now(), used_by_session=me)
        link.refresh_from_db()
    if link.used_by_session != me:
        raise RecoveryLinkError("This link was already used. Please ask the shop for a new "
                                "one if you still need it.")
    order = link.order
    if order.status == Order.Status.PAID:
        raise RecoveryLinkError("This order is already paid. Thank you!", status=200)
    if order.status == Order.Status.CANCELED:
        raise RecoveryLinkError("This order was canceled.")
    owned = session.get(SESSION_ORDERS, [])
    if order.reference not in owned:
        session[SESSION_ORDERS] = [*owned, order.reference][-50:]
    return LinkOpening(order=order, client_secret=_challenge_again(order))


def _challenge_again(order: Order) -> str | None:
    """The client secret when the order's intent still waits for the bank's challenge."""
    attempt = order.attempts.order_by("-number").first()
    if attempt is None or attempt.status != Status.REQUIRES_ACTION:
        return None
    try:
        intent = gateway.payment_intent_retrieve(intent_id=attempt.stripe_id)
    except gateway.PaymentError:
        return None  # the card form still works
    observe.intent_observe(intent=intent, source=ADMIN, actor="recovery-link")
    return intent.client_secret if intent.status == Status.REQUIRES_ACTION else None


def recovery_url(*, token: str) -> str:
    """The link's absolute address."""
    return site_url(reverse("recover", args=[token]))


def recovery_link_message(*, link: RecoveryLink, token: str) -> EmailMultiAlternatives:
    """The email for ``link``: the order, what is in it, why, the link and its expiry.
    Nothing about the card, and no client secret: the link alone opens the order."""
    order = link.order
    context = {"order": order, "lines": list(order.lines.all()),
               "kind": link.incident.kind if link.incident else None,
               "url": recovery_url(token=token), "expires_at": link.expires_at,
               "expires_in": in_words(link.expires_at - timezone.now())}
    return email_message(template="recovery_link", context=context, to=link.email)


def recovery_link_mail(*, link: RecoveryLink, token: str) -> None:
    """Email the shopper a recovery link (``recovery_link_send``).
    Raises if sending fails: the caller decides whether to try again."""
    recovery_link_message(link=link, token=token).send()
