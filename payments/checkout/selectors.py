"""Reads of an order's payments for the shopper's pages (the order page and the cart's
orders awaiting payment, served by ``payments.shop``; ``payments/urls.py`` hands them
this room's reader, as the shop sits below the checkout)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from payments.checkout.models import PaymentAttempt
from payments.shop.models import Order

Status = PaymentAttempt.Status

# A latest payment in one of these took no money and none is coming: the card form, and
# "nothing was charged", are true of its order.
NOTHING_COMING = (Status.REQUIRES_PAYMENT_METHOD, Status.CANCELED, Status.MISSING)
# At the bank's check, or past it and waiting for our confirm (the page's second /pay
# lost, the tab closed): the page can finish it with Stripe.js's handleCardAction.
AT_THE_BANK = (Status.REQUIRES_ACTION, Status.REQUIRES_CONFIRMATION)


@dataclass(frozen=True)
class PaymentUnsettled:
    """An open order's latest payment that may still take money: the shopper must not
    be told "nothing was charged", nor invited to order again."""

    intent_id: str  # "" while its create's outcome is unknown
    # The page can finish it: at the bank, manual confirmation (handleCardAction refuses
    # an intent of the old, automatic flow), its intent known.
    at_the_bank: bool


def order_payments_unsettled(*, orders: Sequence[Order]) -> dict[int, PaymentUnsettled]:
    """Order id -> its latest payment, for those of ``orders`` whose latest payment may
    still take money or took it (created with its outcome unknown, at the bank,
    processing, succeeded with the order not yet marked paid). One
    small query per order: the cart lists at most five, the order page one."""
    found = {}
    for order in orders:
        latest = order.attempts.order_by("-number").values_list(
            "stripe_id", "status", "confirmation_method").first()
        if latest is None:
            continue
        intent_id, status, confirmation = latest
        old_flow_at_bank = confirmation == "automatic" and status == Status.REQUIRES_ACTION
        if status in NOTHING_COMING or old_flow_at_bank:
            continue
        found[order.pk] = PaymentUnsettled(
            intent_id=intent_id or "",
            at_the_bank=bool(intent_id) and status in AT_THE_BANK
            and confirmation == "manual")
    return found
