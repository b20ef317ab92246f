"""Orders: placed from the cart with server-side prices, and found only by the session
that placed them (or staff), or by a signed, expiring order-status link (the receipt's)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.db import transaction
from django.utils.translation import gettext as _

from payments.shop.cart import CartError, cart_clear, cart_summary
from payments.shop.limits import order_refusal_words
from payments.shop.models import Order, OrderLine
from payments.shop.sessions import session_fingerprint

SESSION_ORDERS = "orders"  # references of the orders this session placed or was given
SESSION_ORDERS_KEPT = 50  # the newest; an older one's page is still reached by its links
ORDER_LINK_SALT = "payments.order-status"


class OrderLinkError(Exception):
    """An order-status link that does not open; ``message`` reveals nothing of the order."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def order_place(*, session: SessionBase, email: str, language: str = "en") -> Order:
    """Turn the cart into an open order owned by this session; its mails are written in
    ``language``, the shopper's when ordering."""
    cart = cart_summary(session=session)
    if not cart.lines:
        raise CartError(_("Your cart is empty."))
    if cart.mixed:
        raise CartError(_("Products in different currencies cannot be paid together."))
    if cart.limit_words:  # Stripe would refuse the order's every payment
        raise CartError(cart.limit_words)
    if not session.session_key:
        session.save()
    with transaction.atomic():
        order = Order.objects.create(
            email=email, amount=cart.total, currency=cart.currency,
            session_hash=session_fingerprint(session=session), language=language)
        OrderLine.objects.bulk_create(
            OrderLine(order=order, product=line.product, name=line.product.name,
                      unit_price=line.product.price, quantity=line.quantity)
            for line in cart.lines)
    order_session_add(session=session, reference=order.reference)
    cart_clear(session=session)
    return order


def order_session_add(*, session: SessionBase, reference: str) -> None:
    """Let this session open the order's page and pay it (placed here, or handed over by
    a recovery link)."""
    owned = session.get(SESSION_ORDERS, [])
    if reference not in owned:
        session[SESSION_ORDERS] = [*owned, reference][-SESSION_ORDERS_KEPT:]


def order_get_for_session(*, session: SessionBase, reference: str) -> Order | None:
    if reference not in session.get(SESSION_ORDERS, []):
        return None
    return Order.objects.filter(reference=reference).first()


def orders_awaiting_payment(*, session: SessionBase, limit: int = 5) -> list[Order]:
    """This session's orders still open that a card can pay, newest first: the way back
    to one the shopper left (the browser's Back from the bank's modal lands on the
    emptied cart). Not one whose total Stripe would refuse (placed before the cart
    checked the limits): there is no paying it."""
    references = session.get(SESSION_ORDERS, [])
    if not references:
        return []
    found = Order.objects.filter(reference__in=references, status=Order.Status.OPEN
                                 ).order_by("-created_at")
    return [order for order in found
            if not order_refusal_words(order=order, known_refusals=True)][:limit]


def order_references(*, session: SessionBase) -> list[str]:
    """The orders this session placed, oldest first (no query: the session is the proof
    of ownership)."""
    return list(session.get(SESSION_ORDERS, []))


def order_status_token(*, order: Order) -> str:
    """The token of the order's status link: any browser may open it, until it expires
    (``PAYMENTS_ORDER_LINK_SECONDS``)."""
    return signing.dumps(order.reference, salt=ORDER_LINK_SALT)


def order_from_status_token(*, token: str) -> Order:
    """The order an order-status link names, or OrderLinkError."""
    try:
        reference = signing.loads(token, salt=ORDER_LINK_SALT,
                                  max_age=settings.PAYMENTS_ORDER_LINK_SECONDS)
    except signing.SignatureExpired:
        raise OrderLinkError(_("This link has expired. Your receipt still lists your order."),
                             status=410) from None
    except signing.BadSignature:
        raise OrderLinkError(_("This link is not valid."), status=404) from None
    order = Order.objects.filter(reference=reference).first()
    if order is None:
        raise OrderLinkError(_("This link is not valid."), status=404)
    return order


def orders_erase(*, order_ids: list[int], now: datetime) -> int:
    """Forget who placed these orders (a shopper's erasure, ``payments.privacy``): the
    email and the session's hash blanked, ``erased_at`` set. What was bought, for how
    much, when, and the payments' Stripe ids stay: the accounting record. Returns how
    many orders changed (one erased before keeps its first ``erased_at``)."""
    return Order.objects.filter(pk__in=order_ids, erased_at__isnull=True).update(
        email="", session_hash="", erased_at=now)


def orders_open_cancel(*, order_ids: list[int]) -> int:
    """Close these orders still awaiting payment (a shopper's erasure): paid afterwards,
    nobody could be sent a receipt or told anything. Returns how many were open."""
    return Order.objects.filter(pk__in=order_ids, status=Order.Status.OPEN).update(
        status=Order.Status.CANCELED)
