"""``order_paid`` → the recovery links used for the order are marked paid through."""

from __future__ import annotations

from django.dispatch import receiver

from payments.recovery.links import recovery_links_paid
from payments.shop.models import order_paid


@receiver(order_paid, dispatch_uid="payments.recovery.links_paid")
def order_paid_received(sender, order_id: int, **kwargs) -> None:
    recovery_links_paid(order_id=order_id)
