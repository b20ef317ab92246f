from __future__ import annotations

from django import template
from django.utils import translation

from payments.shop.money import money_localized

__all__ = ["money", "money_localized"]

register = template.Library()


@register.filter
def money(amount: int, currency: str) -> str:
    """Minor units as a price in the active language: ``2599|money:"eur"`` is
    ``25.99 EUR`` in English, ``25,99 €`` in German, ``25,99 €`` in French."""
    return money_localized(amount=amount, currency=currency,
                           language=translation.get_language() or "en")
