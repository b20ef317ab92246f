"""An amount as each of the site's languages writes it: the shop's pages (through the
``money`` template filter) and the shop's and checkout's messages that name an amount."""

from __future__ import annotations

from decimal import Decimal

from babel import Locale
from babel.numbers import parse_pattern
from django.utils import translation

from payments.stripe.facts import currency_exponent, money_format


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
