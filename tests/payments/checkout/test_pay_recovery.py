"""A payment whose Stripe side went missing or stale: a create whose answer was lost,
an intent Stripe no longer knows, an idempotency key Stripe has forgotten."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from payments.models import Order, PaymentAttempt, PaymentEvent
from tests.payments.conftest import server_calls


def test_a_lost_create_is_recorded_with_what_a_scan_needs(shopper, sandbox, stripe_client):
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="drop",
                      when="after")
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 503
    attempt = shopper.order.attempts.get()
    assert attempt.status == PaymentAttempt.Status.CREATING and attempt.stripe_id is None
    assert attempt.outcome_lost_at is not None
    # Stripe holds a paid intent whose metadata names the order and the attempt.
    [intent] = stripe_client.v1.payment_intents.list().data
    assert intent.status == "succeeded"
    assert dict(intent.metadata) == {"order": shopper.order.reference, "attempt": "1"}


def test_an_intent_stripe_does_not_know_starts_a_new_attempt(shopper, sandbox,
                                                             stripe_client):
    declined = shopper.pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds")
    assert declined.status_code == 402
    old = shopper.order.attempts.get()
    sandbox.reset()  # the keys, the account or the sandbox changed: Stripe forgot it
    paid = shopper.pay(payment_method_id="pm_card_visa")
    assert paid.status_code == 200 and paid.json()["success"] is True
    assert shopper.order_now().status == Order.Status.PAID
    old.refresh_from_db()
    new = shopper.order.attempts.get(number=2)
    assert (old.status, new.status) == ("missing", "succeeded")
    assert old.events.filter(to_status="missing", error_code="resource_missing").exists()
    [intent] = stripe_client.v1.payment_intents.list().data
    assert intent.id == new.stripe_id and intent.metadata["attempt"] == "2"


def test_a_missing_intent_after_the_modal_asks_for_the_card_again(shopper, sandbox):
    first = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()
    intent_id = first["clientSecret"].split("_secret_")[0]
    sandbox.reset()
    response = shopper.pay(payment_intent_id=intent_id)
    assert response.status_code == 402
    assert "enter your card again" in response.json()["error"]
    again = shopper.pay(payment_intent_id=intent_id)  # a repeat answers the same, no call
    assert again.status_code == 402
    assert len(server_calls(sandbox)) == 1
    paid = shopper.pay(payment_method_id="pm_card_visa")
    assert paid.json()["success"] is True
    assert [a.status for a in shopper.order.attempts.order_by("number")] == \
        ["missing", "succeeded"]


def test_a_create_older_than_stripes_key_memory_is_looked_up_not_replayed(
        shopper, sandbox, stripe_client):
    """Stripe prunes idempotency keys after 24 hours: replaying the lost create then would
    create and charge a second intent. The checkout finds the first by its metadata."""
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="drop",
                      when="after")
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 503
    PaymentAttempt.objects.update(create_requested_at=timezone.now() - timedelta(hours=25))
    sandbox.advance_clock(25 * 3600)
    retried = shopper.pay(payment_method_id="pm_card_mastercard")
    assert retried.json()["success"] is True
    [intent] = stripe_client.v1.payment_intents.list().data
    assert intent.amount_received == 5198
    attempt = shopper.order.attempts.get()
    assert (attempt.stripe_id, attempt.card_brand) == (intent.id, "visa")
    creates = [c for c in server_calls(sandbox) if c["method"] == "POST"]
    assert len(creates) == 1  # the first, lost one; nothing replayed
    assert any(c["path"] == "/v1/payment_intents/search" for c in server_calls(sandbox))


def test_an_old_create_that_never_reached_stripe_is_made_afresh(shopper, sandbox,
                                                                stripe_client):
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="drop")
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 503
    PaymentAttempt.objects.update(create_requested_at=timezone.now() - timedelta(hours=25))
    sandbox.advance_clock(25 * 3600)
    retried = shopper.pay(payment_method_id="pm_card_mastercard")
    assert retried.json()["success"] is True
    [intent] = stripe_client.v1.payment_intents.list().data
    attempt = shopper.order.attempts.get()
    assert (attempt.stripe_id, attempt.card_brand) == (intent.id, "mastercard")
    assert PaymentEvent.objects.filter(attempt=attempt, to_status="succeeded").count() == 1


def legacy_failure(shopper, settings) -> PaymentAttempt:
    """An order of the old guide's flow: 3-D Secure refused (automatic confirmation)."""
    settings.PAYMENTS_HANDLE_ACTIONS = False
    assert shopper.pay(payment_method_id="pm_card_authenticationRequired").status_code == 402
    return shopper.order.attempts.get()


def test_a_legacy_order_paid_again_with_3ds_pays_on_a_new_manual_intent(shopper, sandbox,
                                                                        settings,
                                                                        stripe_client):
    """The merchant moved to the new flow; the shopper comes back (a recovery link) with a
    3-D Secure card. Stripe.js's handleCardAction refuses the old automatic intent, so the
    order pays on a new, manually confirmed one, and the ledger says why."""
    old = legacy_failure(shopper, settings)
    settings.PAYMENTS_HANDLE_ACTIONS = True
    answer = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()
    assert answer["requiresAction"] is True
    new = shopper.order.attempts.get(number=2)
    assert answer["clientSecret"].startswith(new.stripe_id + "_secret_")
    assert stripe_client.v1.payment_intents.retrieve(new.stripe_id).confirmation_method == \
        "manual"
    sandbox.authenticate(new.stripe_id, "complete")
    assert shopper.pay(payment_intent_id=new.stripe_id).json()["success"] is True
    assert shopper.order_now().status == Order.Status.PAID
    old.refresh_from_db()
    assert old.status == "requires_payment_method"  # never confirmed again: nothing waits
    why = old.events.get(note__contains="attempt 2")
    assert "automatic confirmation" in why.note
    assert stripe_client.v1.payment_intents.retrieve(old.stripe_id).status == \
        "requires_payment_method"


def test_in_legacy_mode_a_new_card_meeting_3ds_fails_cleanly_leaving_nothing_at_the_bank(
        shopper, sandbox, settings, stripe_client):
    legacy_failure(shopper, settings)
    again = shopper.pay(payment_method_id="pm_card_authenticationRequired")
    assert again.status_code == 402
    assert "requires authentication by your bank" in again.json()["error"]
    statuses = {i.status for i in stripe_client.v1.payment_intents.list().data}
    assert statuses == {"requires_payment_method"}  # none left waiting at the bank
    paid = shopper.pay(payment_method_id="pm_card_visa")
    assert paid.json()["success"] is True

