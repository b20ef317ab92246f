"""What a card payment may total: Stripe's minimum and maximum charge amounts
(``payments.stripe.facts``) in the shopper's words. The cart page, the order's placing
and ``/pay`` all say it with these words, so an amount Stripe would refuse never reaches
it and the shopper never reads Stripe's developer message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.cache import cache
from django.utils.translation import gettext

from payments.shop.money import money_localized
from payments.stripe.facts import CHARGE_MAXIMUM, charge_minimum

if TYPE_CHECKING:  # the models import this module's neighbours
    from payments.shop.models import Order


# A currency Stripe refused for this account (``currency_refused_note``): every process
# stops offering card payments in it for a day, or until the merchant saves a product.
CURRENCY_REFUSED_KEY = "payments:currency-refused:{currency}"
CURRENCY_REFUSED_SECONDS = 24 * 3600


def currency_refused_note(*, currency: str) -> None:
    """Stripe refused to charge in ``currency`` for this account ("Invalid currency"):
    every shopper would meet the same refusal, so the cart and the order page say so
    rather than offer a payment Stripe refuses (an NGN product failed every shopper)."""
    cache.set(CURRENCY_REFUSED_KEY.format(currency=currency.lower()), True,
              CURRENCY_REFUSED_SECONDS)


def currency_refused_forget(*, currency: str) -> None:
    """The merchant saved a product in ``currency`` (the account may take it now): the
    next payment asks Stripe again."""
    cache.delete(CURRENCY_REFUSED_KEY.format(currency=currency.lower()))


def currency_refused(*, currency: str) -> bool:
    return bool(cache.get(CURRENCY_REFUSED_KEY.format(currency=currency.lower())))


def currencies_refused(*, currencies: list[str]) -> list[str]:
    """Those of ``currencies`` Stripe refused lately, in one cache read, sorted."""
    keys = {CURRENCY_REFUSED_KEY.format(currency=c.lower()): c.lower() for c in currencies}
    return sorted(keys[key] for key, refused in cache.get_many(list(keys)).items() if refused)


def currency_refusal_warning(*, currency: str) -> str:
    """For staff: what the mark means and how to lift it (the merchant saw no sign of
    it until a product in that currency was saved)."""
    return gettext(
        "Stripe refused card payments in %(currency)s for this account: shoppers are told "
        "they cannot pay in %(currency)s (carts and orders in it offer no payment). Enable "
        "%(currency)s in your Stripe account, then save one of its products here to offer "
        "it again; otherwise the shop asks Stripe again in a day.") % {
            "currency": currency.upper()}


def currency_refusal_words(*, currency: str) -> str:
    """For the shopper's pages (one cache read): "" unless Stripe refused ``currency`` for
    this account lately. ``/pay`` does not ask (a read on every payment); Stripe says it
    again there."""
    if not currency_refused(currency=currency):
        return ""
    return gettext("Our payment provider does not accept card payments in "
                   "%(currency)s.") % {"currency": currency.upper()}


def charge_limit_words(*, amount: int, currency: str) -> str:
    """Why Stripe would refuse to charge ``amount`` (minor units) in ``currency``, in the
    active language with the limit written as the site writes money; "" when it would
    not. A currency outside Stripe's table has no minimum we can know (it is 0.50 USD
    at the day's rate), only the API's floor of one minor unit."""
    minimum = charge_minimum(currency=currency) or 1
    names = {"currency": currency.upper()}
    if amount < minimum:
        return gettext("Card payments in %(currency)s must total at least %(minimum)s.") % {
            **names, "minimum": money_localized(amount=minimum, currency=currency)}
    if amount > CHARGE_MAXIMUM:
        return gettext("Card payments in %(currency)s can total at most %(maximum)s.") % {
            **names, "maximum": money_localized(amount=CHARGE_MAXIMUM, currency=currency)}
    return ""


def order_refusal_words(*, order: Order, known_refusals: bool = False) -> str:
    """Why an order placed before the cart checked the limits can never be paid by card,
    and what to do instead; "" when it can be paid. The order's page says it in place of
    the card form (``known_refusals``: and a currency Stripe refused lately), and
    ``/pay`` answers it."""
    words = (known_refusals and currency_refusal_words(currency=order.currency)) or \
        charge_limit_words(amount=order.amount, currency=order.currency)
    if not words:
        return ""
    return words + " " + gettext("This order cannot be paid by card; please place a new "
                                 "order from your cart.")


def price_refusal_words(*, price: int, currency: str) -> str:
    """For the merchant saving a product: why its price can never be paid ("" when it
    can), the limit written as the reader's language writes money (a German reader took
    "999,999.99 EUR" for about a thousand)."""
    if price < 1:
        return gettext("A price must be at least %(smallest)s: Stripe charges nothing "
                       "less.") % {"smallest": money_localized(amount=1, currency=currency)}
    if price > CHARGE_MAXIMUM:
        return gettext("Stripe charges at most %(maximum)s in one payment.") % {
            "maximum": money_localized(amount=CHARGE_MAXIMUM, currency=currency)}
    return ""


def price_minimum_warning(*, price: int, currency: str) -> str:
    """For the merchant saving a product: its price alone is below Stripe's minimum charge
    in its currency, so a shopper must buy more of it (or more besides) to pay; "" when
    it is not. A warning, not a refusal: several make a cart Stripe charges."""
    minimum = charge_minimum(currency=currency)
    if minimum is None or price >= minimum:
        return ""
    return gettext("%(price)s is below Stripe's smallest card payment in %(currency)s "
                   "(%(minimum)s): the shop will ask shoppers for a cart of at least "
                   "%(minimum)s before they can check out.") % {
        "price": money_localized(amount=price, currency=currency),
        "currency": currency.upper(),
        "minimum": money_localized(amount=minimum, currency=currency)}
