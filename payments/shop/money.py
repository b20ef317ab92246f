"""An amount as each of the site's languages writes it: the shop's pages (through the
``money`` template filter) and the shop's and checkout's messages that name an amount."""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from babel import Locale
from babel.core import get_global
from babel.numbers import parse_pattern
from django.utils import translation

from payments.stripe.facts import currency_exponent, money_format


@cache
def currencies_in_use() -> frozenset[str]:
    """ISO 4217 codes some country pays with today (CLDR's, through Babel), lower case:
    "xyz" or the Deutsche Mark priced a product every shopper then failed to pay for,
    with Stripe's developer message ("Invalid currency")."""
    return frozenset(code.lower() for currencies in get_global("territory_currencies").values()
                     for code, _start, end, tender in currencies if end is None and tender)


def money_localized(*, amount: int, currency: str, language: str | None = None) -> str:
    """English keeps the site's one unambiguous form (the admin, ops mail and CSV write
    it too); other languages are written as CLDR says their readers write money
    ("1.234,50 €", "1 234,50 €", with no-break spaces), with as many decimals as Stripe's
    amount has: CLDR writes some currencies Stripe charges in cents (ALL, ISK) without
    them, which would round 10.50 ALL to "10 ALL" here and not in the admin. ``language``:
    the active one when not given."""
    language = language or translation.get_language() or "en"
    if language.split("-")[0] == "en" or not currency:
        return money_format(amount=amount, currency=currency)
    digits = currency_exponent(currency=currency)
    locale = Locale.parse(translation.to_locale(language))
    # A pattern of our own: Babel's is one object shared by every thread, and setting its
    # digits there would write another request's price with this currency's.
    pattern = parse_pattern(locale.currency_formats["standard"].pattern)
    pattern.frac_prec = (digits, digits)
    return pattern.apply(Decimal(amount).scaleb(-digits), locale, currency=currency.upper(),
                         currency_digits=False)
