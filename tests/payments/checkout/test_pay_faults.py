"""Stripe failing under /pay (faults injected in the sandbox): the shopper gets a clear
error, the order stays intact, a retry completes it, and nothing is charged twice."""

from __future__ import annotations

import pytest

from payments.checkout import services
from payments.models import Order
from payments.stripe import gateway
from tests.payments.conftest import server_calls

FAULTS = [
    pytest.param({"action": "status", "status": 500}, 503, id="500"),
    pytest.param({"action": "rate_limit"}, 429, id="429"),
    pytest.param({"action": "drop"}, 503, id="dropped"),
    pytest.param({"action": "status", "status": 500, "when": "after"}, 503, id="500-after-work"),
    pytest.param({"action": "drop", "when": "after"}, 503, id="dropped-after-work"),
    pytest.param({"action": "delay", "delay_ms": 1500}, 503, id="timeout"),
]


def paid_intents(stripe_client) -> list:
    return [i for i in stripe_client.v1.payment_intents.list().data if i.status == "succeeded"]


@pytest.mark.parametrize("fault,status", FAULTS)
def test_fault_on_create_then_retry(shopper, sandbox, stripe_client, site_on_sandbox, fault,
                                    status):
    site_on_sandbox.STRIPE_TIMEOUT_SECONDS = 0.5
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, **fault)
    failed = shopper.pay(payment_method_id="pm_card_visa")
    assert failed.status_code == status
    message = failed.json()["error"]
    assert "try again" in message.lower() or "wait" in message.lower()
    assert shopper.order_now().status == Order.Status.OPEN
    retried = shopper.pay(payment_method_id="pm_card_visa")
    assert retried.status_code == 200 and retried.json()["success"] is True
    assert shopper.order_now().status == Order.Status.PAID
    sandbox.set_latency(0)
    assert len(paid_intents(stripe_client)) == 1
    assert len(stripe_client.v1.payment_intents.list().data) == 1
    creates = [c for c in server_calls(sandbox) if c["path"] == "/v1/payment_intents"
               and c["method"] == "POST"]
    assert len({c["idempotency_key"] for c in creates}) == 1


@pytest.mark.parametrize("fault,status", FAULTS)
def test_fault_on_the_second_confirm_then_retry(shopper, sandbox, stripe_client,
                                                site_on_sandbox, fault, status):
    site_on_sandbox.STRIPE_TIMEOUT_SECONDS = 0.5
    intent_id = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "complete")
    sandbox.add_fault(method="POST", path=f"/v1/payment_intents/{intent_id}/confirm", count=1,
                      **fault)
    failed = shopper.pay(payment_intent_id=intent_id)
    assert failed.status_code == status and failed.json()["error"]
    assert shopper.order_now().status == Order.Status.OPEN
    retried = shopper.pay(payment_intent_id=intent_id)
    assert retried.json() == {"success": True, "orderUrl": f"/orders/{shopper.order.reference}/"}
    assert [i.id for i in paid_intents(stripe_client)] == [intent_id]
    assert stripe_client.v1.payment_intents.retrieve(intent_id).amount_received == 5198


@pytest.mark.parametrize("when", ["stored", "stored_after"])
def test_a_500_stripe_keeps_under_the_confirm_key_is_not_asked_again(shopper, sandbox,
                                                                   stripe_client, when):
    """Stripe replays a kept 500 to its key for a day: the second confirm after the bank's
    challenge failed that way, and every retry with the same key failed the same, until
    the hour ran out and the sale was lost. The next confirm takes a new key."""
    intent_id = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "complete")
    sandbox.add_fault(method="POST", path=f"/v1/payment_intents/{intent_id}/confirm",
                      count=1, status=500, when=when)
    assert shopper.pay(payment_intent_id=intent_id).status_code == 503
    assert shopper.pay(payment_intent_id=intent_id).json()["success"] is True
    assert [i.id for i in paid_intents(stripe_client)] == [intent_id]
    keys = [c["idempotency_key"] for c in server_calls(sandbox)
            if c["path"].endswith("/confirm")]
    assert len(keys) == len(set(keys)) == 2


def test_a_500_stripe_keeps_under_the_create_key_is_not_replayed_nor_a_new_intent_made(
        shopper, sandbox, stripe_client):
    """Its key would only replay the error, and a new key could make a second intent beside
    one the failed call made: the shopper is asked to wait for the sweep (which lists what
    Stripe made; tests/payments/monitoring/test_scans.py), and Stripe is not called."""
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, status=500,
                      when="stored_after")
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 503
    before = len(server_calls(sandbox))
    waiting = shopper.pay(payment_method_id="pm_card_mastercard")
    assert waiting.status_code == 503 and "a few minutes" in waiting.json()["error"]
    assert len(server_calls(sandbox)) == before
    assert shopper.order_now().status == Order.Status.OPEN


def test_a_lost_create_then_another_card_does_not_charge_twice(shopper, sandbox, stripe_client):
    """The first card was charged but the answer was lost; the shopper then tries another
    card. The create is replayed with the first card's key, so Stripe answers with the
    paid intent and the second card is never charged."""
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="drop",
                      when="after")
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 503
    retried = shopper.pay(payment_method_id="pm_card_mastercard")
    assert retried.json()["success"] is True
    intents = stripe_client.v1.payment_intents.list().data
    assert len(intents) == 1 and intents[0].amount_received == 5198
    assert shopper.order.attempts.get().card_brand == "visa"


def test_a_create_retried_then_rate_limited_keeps_its_attempt_and_charges_once(
        shopper, sandbox, stripe_client, site_on_sandbox):
    """stripe-python retries a create whose answer was dropped, and Stripe refuses the
    retry with 429: the first try may have charged the card (here it did). That is an
    outcome unknown, not a refusal: the attempt stays, to be replayed with its key, and the
    shopper's next try with another card is not charged a second time. (Taken for a
    refusal, the attempt was deleted: a webhook that had bound it made that a 500, and
    without one the second card paid a second intent; found by bench/chaos.py.)"""
    site_on_sandbox.STRIPE_MAX_NETWORK_RETRIES = 2
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="drop",
                      when="after")
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="rate_limit")
    failed = shopper.pay(payment_method_id="pm_card_visa")
    assert failed.status_code == 503 and "try again" in failed.json()["error"]
    attempt = shopper.order.attempts.get()
    assert (attempt.stripe_id, attempt.status) == (None, "creating")
    assert attempt.outcome_lost_at is not None
    retried = shopper.pay(payment_method_id="pm_card_mastercard")
    assert retried.json()["success"] is True
    intents = stripe_client.v1.payment_intents.list().data
    assert len(intents) == 1 and intents[0].amount_received == 5198
    assert shopper.order.attempts.get().card_brand == "visa"


def test_network_retries_recover_a_dropped_create_without_the_shopper_noticing(
        shopper, sandbox, stripe_client, site_on_sandbox):
    site_on_sandbox.STRIPE_MAX_NETWORK_RETRIES = 2
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="drop",
                      when="after")
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"] is True
    assert len(stripe_client.v1.payment_intents.list().data) == 1


def paid_meanwhile(shopper, call):
    """``call``, after which the order is paid as a webhook (or the sweep, or another tab)
    records it while /pay still waits for its own Stripe answer."""
    def wrapped(**kwargs):
        try:
            return call(**kwargs)
        finally:
            Order.objects.filter(pk=shopper.order.pk).update(status=Order.Status.PAID)
    return wrapped


def test_stripe_unreachable_after_the_order_was_paid_meanwhile_answers_paid(
        shopper, sandbox, site_on_sandbox, monkeypatch):
    """Not "try again": a shopper told that orders again elsewhere and pays twice."""
    site_on_sandbox.STRIPE_TIMEOUT_SECONDS = 0.5
    intent_id = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "complete")
    sandbox.add_fault(method="POST", path=f"/v1/payment_intents/{intent_id}/confirm", count=1,
                      action="drop", when="after")
    monkeypatch.setattr(gateway, "payment_intent_confirm",
                        paid_meanwhile(shopper, gateway.payment_intent_confirm))
    answer = shopper.pay(payment_intent_id=intent_id)
    assert answer.status_code == 200
    assert answer.json() == {"success": True, "orderUrl": f"/orders/{shopper.order.reference}/"}


def test_a_decline_after_the_order_was_paid_meanwhile_answers_paid(shopper, sandbox,
                                                                  monkeypatch):
    """Another tab paid the order while this tab's card was being declined."""
    monkeypatch.setattr(gateway, "payment_intent_create",
                        paid_meanwhile(shopper, gateway.payment_intent_create))
    answer = shopper.pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds")
    assert answer.status_code == 200 and answer.json()["success"] is True


def test_a_decline_of_an_unpaid_order_is_still_a_decline(shopper, sandbox):
    answer = shopper.pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds")
    assert answer.status_code == 402
    assert shopper.order_now().status == Order.Status.OPEN


def test_an_ops_cancel_of_an_order_paid_meanwhile_is_no_cancel(shopper, sandbox,
                                                              site_on_sandbox, monkeypatch):
    """Only /pay answers "paid" for an order a webhook paid while its call waited: ops
    canceling it while Stripe is unreachable hear of the failure, not "already canceled"."""
    site_on_sandbox.STRIPE_TIMEOUT_SECONDS = 0.5
    intent_id = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"].split("_secret_")[0]
    sandbox.add_fault(method="POST", path=f"/v1/payment_intents/{intent_id}/cancel", count=3,
                      status=500)
    monkeypatch.setattr(gateway, "payment_intent_cancel",
                        paid_meanwhile(shopper, gateway.payment_intent_cancel))
    with pytest.raises(services.PaymentUnavailable):
        services.checkout_cancel(order_reference=shopper.order.reference,
                                 payment_intent_id=intent_id, reason="abandoned",
                                 source="admin", actor="ops:test")
