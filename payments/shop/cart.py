"""The shopper's cart, kept in the session as {sku: quantity}; prices come from the
database at every read, never from the browser."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.contrib.sessions.backends.base import SessionBase
from django.utils.translation import gettext as _

from payments.shop.limits import charge_limit_words, currency_refusal_words
from payments.shop.models import Product

SESSION_KEY = "cart"
MAX_QUANTITY = 99


class CartError(ValueError):
    """Bad cart input; ``message`` is shown to the shopper."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def amount(self) -> int:
        return self.product.price * self.quantity


def cart_add(*, session: SessionBase, sku: str, quantity: int) -> None:
    product = _product_get(sku)
    held = {line.product.currency for line in cart_lines(session=session)}
    if held and product.currency not in held:
        # One order is paid in one currency: refused here, not after the email is typed.
        raise CartError(_("Your cart holds prices in %(held)s, and %(name)s is priced in "
                          "%(currency)s. Pay for your cart first, or empty it.")
                        % {"held": ", ".join(sorted(c.upper() for c in held)),
                           "name": product.name, "currency": product.currency.upper()})
    cart = session.get(SESSION_KEY, {})
    total = cart.get(product.sku, 0) + quantity
    cart_quantity_check(quantity=total)
    cart[product.sku] = total
    session[SESSION_KEY] = cart


def cart_set_quantity(*, session: SessionBase, sku: str, quantity: int) -> None:
    cart = session.get(SESSION_KEY, {})
    if sku not in cart:
        raise CartError(_("That product is not in your cart."))
    cart_quantity_check(quantity=quantity)
    cart[sku] = quantity
    session[SESSION_KEY] = cart


def cart_remove(*, session: SessionBase, sku: str) -> None:
    cart = session.get(SESSION_KEY, {})
    cart.pop(sku, None)
    session[SESSION_KEY] = cart


def cart_clear(*, session: SessionBase) -> None:
    session.pop(SESSION_KEY, None)


def cart_lines(*, session: SessionBase) -> list[CartLine]:
    """The cart's lines with current prices; products withdrawn since are left out."""
    cart = session.get(SESSION_KEY, {})
    products = Product.objects.filter(sku__in=cart, active=True)
    return [CartLine(product=p, quantity=cart[p.sku]) for p in products]


@dataclass(frozen=True)
class CartSummary:
    """The cart's lines and what they add up to: ``total`` and ``currency`` are None when
    its products are priced in more than one currency (a product's currency changed after
    it was added), which no order can be paid in."""

    lines: list[CartLine]
    total: int | None
    currency: str | None
    withdrawn: list[str]  # SKUs still in the session no longer sold (not in ``lines``)

    @property
    def mixed(self) -> bool:
        return bool(self.lines) and self.currency is None

    @property
    def limit_words(self) -> str:
        """Why Stripe would refuse to charge the total (below the currency's minimum or
        above the maximum), in the shopper's words; "" when it would not (or there is no
        one total). The cart offers no checkout while there is a reason."""
        if self.total is None or not self.lines:
            return ""
        return currency_refusal_words(currency=self.currency) or \
            charge_limit_words(amount=self.total, currency=self.currency)

    @property
    def version(self) -> str:
        """What the lines say (products, quantities, prices), in a few characters: the
        checkout page sends it back, so an order is placed only for what it showed."""
        said = [(line.product.sku, line.quantity, line.product.price, line.product.currency)
                for line in self.lines]
        return hashlib.sha256(json.dumps(sorted(said)).encode()).hexdigest()[:16]


def cart_summary(*, session: SessionBase) -> CartSummary:
    lines = cart_lines(session=session)
    sold = {line.product.sku for line in lines}
    withdrawn = [sku for sku in session.get(SESSION_KEY, {}) if sku not in sold]
    currencies = {line.product.currency for line in lines}
    if len(currencies) != 1:
        return CartSummary(lines=lines, total=None, currency=None, withdrawn=withdrawn)
    return CartSummary(lines=lines, total=sum(line.amount for line in lines),
                       currency=currencies.pop(), withdrawn=withdrawn)


def cart_withdrawn_remove(*, session: SessionBase, summary: CartSummary) -> list[str]:
    """Take the summary's withdrawn products (or gone ones) out of the cart; the names of
    those still known, for the shopper to be told. The summary stays right: its lines and
    total never held them."""
    if not summary.withdrawn:
        return []
    cart = session.get(SESSION_KEY, {})
    session[SESSION_KEY] = {sku: quantity for sku, quantity in cart.items()
                            if sku not in summary.withdrawn}
    return list(Product.objects.filter(sku__in=summary.withdrawn).order_by("name")
                .values_list("name", flat=True))


def cart_quantity_check(*, quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or \
            not 1 <= quantity <= MAX_QUANTITY:
        raise CartError(_("Quantity must be a whole number from 1 to %(most)d.")
                        % {"most": MAX_QUANTITY})


def _product_get(sku: str) -> Product:
    product = Product.objects.filter(sku=sku, active=True).first()
    if product is None:
        raise CartError(_("That product does not exist."))
    return product
