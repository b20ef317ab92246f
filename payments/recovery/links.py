"""Links mailed to shoppers to finish paying an order, and what opening one does.

A link's URL carries a token signed with the site's key and ``LINK_SALT``, naming its
``RecoveryLink`` row; the link works until its order is paid or it expires. Mail
providers' scanners open every link before the person does (a GET, often without
cookies, some running the page's scripts), so opening it changes nothing but a count
and shows no secret: the shopper's click on the page uses it (its script POSTs with the
page's CSRF token), which takes the order into that browser's session and hands over the
client secret for the bank's challenge. Any number of browsers may use it until the order
is paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Least
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.mail.messages import email_message, in_words, site_url
from payments.monitoring import observe
from payments.monitoring.models import Incident
from payments.recovery.models import RecoveryLink
from payments.shop.models import Order
from payments.shop.orders import order_session_add
from payments.shop.sessions import session_fingerprint
from payments.stripe import gateway

Status = PaymentAttempt.Status
LINK_SALT = "payments.recovery-link"
EXPIRED = gettext_noop("This link has expired. Please ask the shop for a new one.")


class RecoveryLinkError(Exception):
    """A recovery link that cannot be used; ``message`` is safe to show anyone."""

    def __init__(self, message: str, *, status: int = 410) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def recovery_links_erase(*, order_ids: Sequence[int], now: datetime) -> int:
    """Forget the shopper on these orders' links (an erasure, ``payments.privacy``): the
    email and the using session's hash blanked, and each link expired, so none works
    again; when it was sent, opened and used stays. Returns how many links changed."""
    return (RecoveryLink.objects.filter(order_id__in=list(order_ids))
            .filter(~Q(email="") | ~Q(used_by_session="") | Q(expires_at__gt=now))
            .update(email="", used_by_session="", expires_at=Least(F("expires_at"), now)))


def recovery_link_create(*, incident: Incident, user: User) -> tuple[RecoveryLink, str]:
    """A link for the incident's order, not mailed yet, and its token (ops' action makes
    it under the order's lock and mails it with ``recovery_link_mail`` after)."""
    link = RecoveryLink.objects.create(
        order=incident.order, incident=incident, email=incident.order.email, created_by=user,
        expires_at=timezone.now() + timedelta(seconds=settings.PAYMENTS_RECOVERY_LINK_SECONDS))
    return link, recovery_link_token(link=link)


def recovery_link_token(*, link: RecoveryLink) -> str:
    return signing.dumps(link.pk, salt=LINK_SALT, compress=True)


@dataclass(frozen=True)
class LinkPage:
    """What the link's page shows before it is used: the order, and whether its payment
    waits at the bank's challenge (from what we hold: opening calls nobody)."""

    order: Order
    waiting_at_bank: bool


@dataclass(frozen=True)
class LinkOpening:
    order: Order
    client_secret: str | None  # set when the bank's challenge can run again


def recovery_link_open(*, token: str) -> LinkPage:
    """A GET of the link, by the shopper or a mail scanner: counted, nothing else changes.
    An altered, expired or finished link raises RecoveryLinkError with a message that
    reveals nothing about the order."""
    link = _link_valid(token)
    RecoveryLink.objects.filter(pk=link.pk).update(
        opened_at=Coalesce(F("opened_at"), timezone.now()), open_count=F("open_count") + 1)
    attempt = _latest_attempt(link.order)
    return LinkPage(order=link.order, waiting_at_bank=attempt is not None
                    and attempt.status == Status.REQUIRES_ACTION
                    and attempt.confirmation_method == "manual")


def recovery_link_use(*, token: str, session: SessionBase) -> LinkOpening:
    """The link's page, in a browser, uses it: the order joins this session (so it may
    pay it) and, while its intent still waits for the bank's challenge, the client secret
    to run it again. The link stays valid until the order is paid or it expires."""
    link = _link_valid(token)
    if not session.session_key:
        session.save()
    now = timezone.now()
    RecoveryLink.objects.filter(pk=link.pk).update(
        used_at=Coalesce(F("used_at"), now), opened_at=Coalesce(F("opened_at"), now),
        used_by_session=session_fingerprint(session=session))
    order = link.order
    order_session_add(session=session, reference=order.reference)
    return LinkOpening(order=order, client_secret=_challenge_again(order))


def _link_valid(token: str) -> RecoveryLink:
    try:
        pk = signing.loads(token, salt=LINK_SALT,
                           max_age=settings.PAYMENTS_RECOVERY_LINK_SECONDS)
    except signing.SignatureExpired:
        raise RecoveryLinkError(_(EXPIRED)) from None
    except signing.BadSignature:
        raise RecoveryLinkError(_("This link is not valid."), status=404) from None
    link = RecoveryLink.objects.select_related("order").filter(pk=pk).first()
    if link is None:
        raise RecoveryLinkError(_("This link is not valid."), status=404)
    if link.order.status == Order.Status.PAID:
        raise RecoveryLinkError(_("This order is already paid. Thank you!"), status=200)
    if link.expires_at <= timezone.now():
        raise RecoveryLinkError(_(EXPIRED))
    if link.order.status == Order.Status.CANCELED:
        raise RecoveryLinkError(_("This order was canceled."))
    return link


def _latest_attempt(order: Order) -> PaymentAttempt | None:
    return order.attempts.order_by("-number").first()


def _challenge_again(order: Order) -> str | None:
    """The client secret when the order's intent still waits for the bank's challenge
    and the page can run it (manual confirmation: Stripe.js's handleCardAction refuses
    any other)."""
    attempt = _latest_attempt(order)
    if attempt is None or attempt.status != Status.REQUIRES_ACTION or \
            attempt.confirmation_method != "manual":
        return None
    try:
        intent = gateway.payment_intent_retrieve(intent_id=attempt.stripe_id)
    except gateway.PaymentError:
        return None  # the card form still works
    observe.intent_observe(intent=intent, source=PaymentEvent.Source.RECOVERY_LINK,
                           actor="recovery-link")
    return intent.client_secret if intent.status == Status.REQUIRES_ACTION else None


def recovery_url(*, token: str) -> str:
    """The link's absolute address."""
    return site_url(reverse("recover", args=[token]))


def recovery_link_message(*, link: RecoveryLink, token: str) -> EmailMultiAlternatives:
    """The email for ``link``: the order, what is in it, why, the link and its expiry.
    Nothing about the card, and no client secret: the link alone opens the order."""
    order = link.order
    with translation.override(order.language):
        expires_in = in_words(link.expires_at - timezone.now())
    context = {"order": order, "lines": list(order.lines.all()),
               "kind": link.incident.kind if link.incident else None,
               "url": recovery_url(token=token), "expires_at": link.expires_at,
               "expires_in": expires_in}
    return email_message(template="recovery_link", context=context, to=link.email,
                         language=order.language)


def recovery_link_mail(*, link: RecoveryLink, token: str) -> None:
    """Email the shopper a recovery link made by ``recovery_link_create``.
    Raises if sending fails: the caller decides whether to try again."""
    recovery_link_message(link=link, token=token).send()
