from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency
from django import template
from django.utils import translation

from payments.stripe.facts import ZERO_DECIMAL, money_format

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
    ("1.234,50 €", "1 234,50 €", with no-break spaces)."""
    if language.split("-")[0] == "en" or not currency:
        return money_format(amount=amount, currency=currency)
    major = Decimal(amount) if currency.lower() in ZERO_DECIMAL else Decimal(amount).scaleb(-2)
    return format_currency(major, currency.upper(), locale=translation.to_locale(language))
