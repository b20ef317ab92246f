"""Rows made directly in the database, for tests of what reads them (mail, selectors):
orders with lines, attempts, incidents. Tests of paying go through /pay instead
(``tests/payments/conftest.py``). Rows made so bypass the writers that keep the
dashboard's daily totals, so each helper counts them afresh, as after a bulk load."""

from __future__ import annotations

import itertools

from django.utils import timezone

from payments.models import (
    Incident,
    Order,
    OrderLine,
    PaymentAttempt,
    PaymentEvent,
    Product,
    RecoveryLink,
)
from payments.monitoring.totals import dashboard_totals_rebuild
from payments.recovery import links

Status = PaymentAttempt.Status
SITE = "https://shop.example.com"
OPS = ["ops@example.com", "lead@example.com"]
ids = itertools.count(1)


def order_of(*lines: tuple[str, int, int], currency: str = "eur",
             email: str = "shopper@example.com") -> Order:
    """An open order of (name, unit price, quantity) lines."""
    order = Order.objects.create(email=email, currency=currency,
                                 amount=sum(price * n for _, price, n in lines))
    for name, price, quantity in lines:
        product = Product.objects.create(sku=f"sku-{next(ids)}", name=name, price=price,
                                         currency=currency)
        OrderLine.objects.create(order=order, product=product, name=name, unit_price=price,
                                 quantity=quantity)
    return order


def attempt_of(order: Order, *, status: str = Status.REQUIRES_ACTION,
               requires_action_at=None, requires_confirmation_at=None) -> PaymentAttempt:
    attempt = PaymentAttempt.objects.create(
        order=order, number=order.attempts.count() + 1, stripe_id=f"pi_test{next(ids)}",
        create_payment_method="pm_card_threeDSecure2Required", status=status,
        amount=order.amount, currency=order.currency, confirmation_method="manual",
        card_brand="visa", card_last4="3155", requires_action_at=requires_action_at,
        requires_confirmation_at=requires_confirmation_at)
    return totals_recounted(attempt) if requires_action_at else attempt


def incident_of(kind: str, *, amount: int = 2599, currency: str = "eur", first_seen_at=None,
                status: str = Incident.Status.OPEN, attempt: PaymentAttempt | None = None,
                email: str = "", intent_status: str = "") -> Incident:
    return totals_recounted(Incident.objects.create(
        kind=kind, status=status, amount=attempt.amount if attempt else amount,
        currency=attempt.currency if attempt else currency,
        stripe_id=attempt.stripe_id if attempt else f"pi_outside{next(ids)}",
        attempt=attempt, order=attempt.order if attempt else None,
        order_reference=attempt.order.reference if attempt else None,
        customer_email=email or (attempt.order.email if attempt else "shopper@example.com"),
        card_last4="3155", intent_status=intent_status or (attempt.status if attempt else
                                                          "requires_payment_method"),
        first_seen_at=first_seen_at or timezone.now(), source="scan"))


def totals_recounted(row):
    """``row``, after the dashboard's daily totals were counted afresh."""
    dashboard_totals_rebuild()
    return row


def asked_for_authentication(order: Order) -> PaymentAttempt:
    """An attempt whose ledger says it entered requires_action just now."""
    attempt = attempt_of(order, requires_action_at=timezone.now())
    PaymentEvent.objects.create(attempt=attempt, from_status="creating",
                                to_status=Status.REQUIRES_ACTION, source="pay", actor="test")
    return attempt


def html_of(message) -> str:
    [(body, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return body


def recovery_link_sent(*, incident: Incident, user) -> RecoveryLink:
    """A recovery link made and mailed, as ops' "send link" does (in two steps there: the
    row under the order's lock, the mail after)."""
    link, token = links.recovery_link_create(incident=incident, user=user)
    links.recovery_link_mail(link=link, token=token)
    return link
