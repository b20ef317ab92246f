from __future__ import annotations

from decimal import Decimal

from babel import Locale
from babel.numbers import parse_pattern
from django import template
from django.utils import translation

from payments.stripe.facts import currency_exponent, money_format

register = template.Library()


@register.filter
def money(amount: int, currency: str) -> str:
    """Minor units as a price in the active language: ``2599|money:"eur"`` is
    ``25.99 EUR`` in English, ``25,99 €`` in German, ``25,99 €`` in French."""
    return money_localized(amount=amount, currency=currency,
                           language=translation.get_language() or "en")


def money_localized(*, amount: int, currency: str, language: str) -> str:
    """English keeps the site's one unambiguous form (the admin, ops mail and CSV write
    it too); other languages are written as CLDR says their readers write money
    ("1.234,50 €", "1 234,50 €", with no-break spaces), with as many decimals as Stripe's
    amount has: CLDR writes some currencies Stripe charges in cents (ALL, ISK) without
    them, which would round 10.50 ALL to "10 ALL" here and not in the admin."""
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
