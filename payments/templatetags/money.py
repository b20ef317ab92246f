from __future__ import annotations

from django import template

from payments.stripe.facts import money_format

register = template.Library()


@register.filter
def money(amount: int, currency: str) -> str:
    """Minor units as a price: ``2599|money:"eur"`` → ``25.99 EUR``."""
    return money_format(amount=amount, currency=currency)
