"""An order's latest payment as the shopper's pages read it (``order_payments_unsettled``):
one that may still take money is never "nothing was charged", and only one the page can
finish (at the bank, manual confirmation) is offered as such."""

from __future__ import annotations

import pytest

from payments.checkout.models import PaymentAttempt
from payments.checkout.selectors import PaymentUnsettled, order_payments_unsettled
from tests.payments.factories import attempt_of, order_of

Status = PaymentAttempt.Status


@pytest.mark.parametrize(("status", "at_the_bank"), [
    (Status.REQUIRES_ACTION, True), (Status.REQUIRES_CONFIRMATION, True),
    (Status.CREATING, False), (Status.PROCESSING, False), (Status.SUCCEEDED, False)])
def test_a_payment_that_may_still_take_money_is_unsettled(db, status, at_the_bank):
    order = order_of(("Lamp", 8900, 1))
    attempt = attempt_of(order, status=status)
    assert order_payments_unsettled(orders=[order]) == {
        order.pk: PaymentUnsettled(intent_id=attempt.stripe_id, at_the_bank=at_the_bank)}


@pytest.mark.parametrize("status", [Status.REQUIRES_PAYMENT_METHOD, Status.CANCELED,
                                    Status.MISSING])
def test_a_payment_that_took_nothing_and_will_not_is_settled(db, status):
    order = order_of(("Lamp", 8900, 1))
    attempt_of(order, status=Status.REQUIRES_ACTION)  # an older one, replaced
    attempt_of(order, status=status)
    assert order_payments_unsettled(orders=[order]) == {}


def test_a_create_whose_outcome_is_unknown_has_no_intent_to_finish(db):
    order = order_of(("Lamp", 8900, 1))
    PaymentAttempt.objects.filter(pk=attempt_of(order, status=Status.CREATING).pk).update(
        stripe_id=None)
    assert order_payments_unsettled(orders=[order]) == {
        order.pk: PaymentUnsettled(intent_id="", at_the_bank=False)}


def test_an_old_flow_intent_at_the_bank_is_not_offered_to_finish(db):
    """handleCardAction refuses an automatic-confirmation intent: "press Pay to finish"
    led to "not paid"; a new card retires it (``checkout.services``)."""
    order = order_of(("Lamp", 8900, 1))
    PaymentAttempt.objects.filter(pk=attempt_of(order).pk).update(
        confirmation_method="automatic")
    assert order_payments_unsettled(orders=[order]) == {}


def test_orders_without_payments_and_several_orders(db):
    bare, at_bank = order_of(("Lamp", 8900, 1)), order_of(("Mug", 1200, 2))
    attempt = attempt_of(at_bank)
    assert order_payments_unsettled(orders=[bare, at_bank]) == {
        at_bank.pk: PaymentUnsettled(intent_id=attempt.stripe_id, at_the_bank=True)}
