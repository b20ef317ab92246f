"""The Stripe facts every room takes from payments.stripe.facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payments.models import Order, PaymentAttempt
from payments.stripe import facts

Kind = facts.FailureKind


@pytest.mark.parametrize(("code", "decline", "status", "kind"), [
    ("authentication_required", "authentication_not_handled", "requires_payment_method",
     Kind.REQUIRES_ACTION_NOT_HANDLED),
    ("requires_action_not_handled", None, "requires_payment_method",
     Kind.REQUIRES_ACTION_NOT_HANDLED),
    ("payment_intent_authentication_failure", None, "requires_payment_method",
     Kind.AUTHENTICATION_FAILED),
    ("payment_intent_payment_attempt_expired", None, "requires_payment_method", Kind.EXPIRED),
    ("payment_intent_payment_attempt_expired", None, "succeeded", None),  # paid after all
    # A card decline is a kind of its own (issue 15: the failure mix), not 3-D Secure's.
    ("card_declined", "insufficient_funds", "requires_payment_method", Kind.CARD_DECLINED),
    ("expired_card", None, "requires_payment_method", Kind.CARD_DECLINED),
    ("card_declined", "insufficient_funds", "succeeded", None),  # another card paid
    (None, None, "succeeded", None),
])
def test_failure_kinds_from_stripes_codes(code, decline, status, kind):
    assert facts.failure_kind(error_code=code, decline_code=decline, status=status) == kind


def test_the_incident_kinds_are_the_failure_kinds():
    from payments.models import Incident

    assert Incident.Kind is Kind
    assert set(facts.AUTHENTICATION_FAILURES) == \
        set(Kind) - {Kind.CONFIRMATION_ABANDONED, Kind.CARD_DECLINED}
    assert set(facts.THREE_D_SECURE_KINDS) == set(Kind) - {Kind.CARD_DECLINED}


def test_a_payment_expires_an_hour_after_it_passed_the_challenge(db):
    passed = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    order = Order.objects.create(email="a@example.com", amount=100, currency="eur")
    attempt = PaymentAttempt(order=order, number=1, amount=100, currency="eur",
                             status=PaymentAttempt.Status.REQUIRES_CONFIRMATION,
                             requires_action_at=passed - timedelta(minutes=5),
                             requires_confirmation_at=passed)
    assert attempt.expires_at == datetime(2026, 12, 6, 11, 0, tzinfo=UTC)
    attempt.status = PaymentAttempt.Status.REQUIRES_ACTION  # still at the bank: no hour
    assert attempt.expires_at is None
    attempt.status = PaymentAttempt.Status.REQUIRES_CONFIRMATION
    attempt.save()
    expiring = PaymentAttempt.objects.expiring
    assert list(expiring(now=passed + timedelta(minutes=59))) == [attempt]
    assert list(expiring(now=passed + timedelta(minutes=60))) == []


@pytest.mark.parametrize(("amount", "currency", "shown", "major"), [
    (2599, "eur", "25.99 EUR", "25.99"), (123450, "usd", "1,234.50 USD", "1234.50"),
    (500, "jpy", "500 JPY", "500"), (5, "eur", "0.05 EUR", "0.05"),
    (5120, "kwd", "5.120 KWD", "5.120"), (1234560, "BHD", "1,234.560 BHD", "1234.560"),
    (10000, "isk", "100.00 ISK", "100.00"),
])
def test_money_in_minor_units(amount, currency, shown, major):
    assert facts.money_format(amount=amount, currency=currency) == shown
    assert facts.major_units(amount=amount, currency=currency) == major
    assert facts.minor_units(typed=major, currency=currency) == amount


@pytest.mark.parametrize(("typed", "currency", "minor"), [
    ("10", "eur", 1000), ("10,5", "eur", 1050), ("500", "jpy", 500), ("5.50", "jpy", None),
    ("ten", "eur", None), ("-5", "eur", None), ("1,000.00", "eur", None), ("1e9", "eur", None),
    ("5.12", "kwd", 5120), ("5,125", "kwd", 5125), ("5.1250", "kwd", None),
    ("10.505", "eur", None), ("10.500", "eur", 1050), ("", "eur", None),
])
def test_amounts_typed_by_a_person(typed, currency, minor):
    assert facts.minor_units(typed=typed, currency=currency) == minor


def test_a_negative_amount_keeps_its_sign_and_its_digits():
    assert facts.money_format(amount=-150, currency="eur") == "-1.50 EUR"
    assert facts.money_format(amount=-5, currency="eur") == "-0.05 EUR"
    assert facts.major_units(amount=-5120, currency="kwd") == "-5.120"
    assert facts.money_format(amount=-500, currency="jpy") == "-500 JPY"


@pytest.mark.parametrize(("amount", "currency", "refused"), [
    (5120, "kwd", False), (5125, "KWD", True), (5, "tnd", True), (4000, "isk", False),
    (4010, "isk", True), (4010, "eur", False), (7, "jpy", False),
])
def test_amounts_stripe_refuses_for_their_digits(amount, currency, refused):
    problem = facts.amount_unchargeable(amount=amount, currency=currency)
    assert bool(problem) is refused
    if refused:
        assert currency.upper() in problem


def test_words_for_stripes_codes():
    words = facts.error_in_words(error_code="card_declined", decline_code="insufficient_funds",
                                 message="Your card has insufficient funds.")
    assert words == "Insufficient funds"
    assert facts.error_in_words(error_code="", decline_code="", message="") == ""
    assert facts.error_in_words(error_code="new_code", decline_code="", message="") == "new_code"
    assert facts.card_brand_label(brand="cartes_bancaires") == "Cartes Bancaires"
    assert facts.card_brand_label(brand="new_brand") == "New Brand"


@pytest.mark.parametrize(("currency", "minimum"), [
    ("eur", 50), ("EUR", 50), ("gbp", 30),  # two decimals: cents
    ("czk", 1500), ("huf", 17500), ("mxn", 1000), ("thb", 1000),  # whole units in cents
    ("jpy", 50),  # zero decimals: ¥50 is 50
    ("kwd", None), ("bhd", None),  # three decimals: not in Stripe's table
    ("zar", None), ("isk", None), ("xyz", None),  # 0.50 USD at the day's rate: unknown
])
def test_stripes_minimum_charge_in_minor_units(currency, minimum):
    assert facts.charge_minimum(currency=currency) == minimum


def test_the_minimums_are_stripes_whole_table_with_each_currencys_exponent():
    # docs.stripe.com/currencies#minimum-and-maximum-charge-amounts, 24 currencies.
    assert len(facts.CHARGE_MINIMUMS) == 24
    assert facts.CHARGE_MINIMUMS["aed"] == 200 and facts.CHARGE_MINIMUMS["myr"] == 200
    assert facts.CHARGE_MINIMUMS["dkk"] == 250 and facts.CHARGE_MINIMUMS["hkd"] == 400
    assert facts.CHARGE_MAXIMUM == 99_999_999  # eight digits


def test_the_sandboxs_minimums_are_the_sites():
    """Two copies of one table (the sandbox imports nothing of the site): they agree, or
    a test against the sandbox would pass an amount Stripe refuses (or the reverse)."""
    from stripe_sandbox import params

    assert params.MINIMUM_AMOUNTS == facts.CHARGE_MINIMUMS
    assert params.MAXIMUM_AMOUNT == facts.CHARGE_MAXIMUM


@pytest.mark.parametrize(("amount", "refused"), [
    (0, True), (1, False), (99_999_999, False), (100_000_000, True), (2_147_483_647, True)])
def test_a_price_that_can_never_be_paid_is_said_in_the_readers_money(amount, refused):
    from django.utils import translation

    from payments.shop.limits import price_refusal_words
    problem = price_refusal_words(price=amount, currency="eur")
    assert bool(problem) is refused
    if amount > 99_999_999:
        assert "999,999.99 EUR" in problem
        with translation.override("de"):
            assert "999.999,99" in price_refusal_words(price=amount, currency="eur")


