"""Orders: placed from the cart with server-side prices, and found only by the session
that placed them (or staff)."""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction

from payments.cart import CartError, cart_clear, cart_lines
from payments.models import Order, OrderLine

SESSION_ORDERS = "orders"  # references of every order this session placed
SESSION_CHECKOUT = "checkout_order"  # the order /pay works on


def order_place(*, session: SessionBase, email: str) -> Order:
    """Turn the cart into an open order and make it the session's checkout order."""
    lines = cart_lines(session=session)
    if not lines:
        raise CartError("Your cart is empty.")
    currencies = {line.product.currency for line in lines}
    if len(currencies) != 1:
        raise CartError("Products in different currencies cannot be paid together.")
    if not session.session_key:
        session.save()
    with transaction.atomic():
        order = Order.objects.create(
            email=email, amount=sum(line.amount for line in lines), currency=currencies.pop(),
            session_key=session.session_key or "")
        OrderLine.objects.bulk_create(
            OrderLine(order=order, product=line.product, name=line.product.name,
                      unit_price=line.product.price, quantity=line.quantity)
            for line in lines)
    session[SESSION_ORDERS] = [*session.get(SESSION_ORDERS, []), order.reference][-50:]
    session[SESSION_CHECKOUT] = order.reference
    cart_clear(session=session)
    return order


def order_get_for_session(*, session: SessionBase, reference: str) -> Order | None:
    if reference not in session.get(SESSION_ORDERS, []):
        return None
    return Order.objects.filter(reference=reference).first()


def order_checkout_reference(*, session: SessionBase) -> str | None:
    """The reference of the order the session is paying, if any (no query: the session is
    the proof of ownership, and the payment services lock the row themselves)."""
    reference = session.get(SESSION_CHECKOUT)
    return reference if reference in session.get(SESSION_ORDERS, []) else None
