"""PaymentIntent behaviour through real stripe-python: cards, manual and automatic
confirmation, error_on_requires_action, 3-D Secure, expiry, idempotency."""

from __future__ import annotations

import time

import pytest
import stripe

CARD = {"exp_month": 12, "exp_year": 2040, "cvc": "123"}


def card_method(client: stripe.StripeClient, number: str) -> str:
    return client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, **CARD}}).id


def manual_intent(client: stripe.StripeClient, method: str, **extra) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(params={
        "amount": 1999, "currency": "eur", "payment_method_types": ["card"],
        "payment_method": method, "confirm": True, "confirmation_method": "manual", **extra})


def test_4242_succeeds_at_first_confirm_with_a_charge(stripe_client):
    intent = manual_intent(stripe_client, card_method(stripe_client, "4242424242424242"))
    assert intent.status == "succeeded"
    assert intent.amount_received == 1999
    charge = stripe_client.v1.charges.retrieve(intent.latest_charge)
    assert charge.id.startswith("ch_") and charge.paid and charge.captured
    assert charge.payment_method_details.card.last4 == "4242"
    assert charge.payment_intent == intent.id


@pytest.mark.parametrize("number,decline_code,message,code", [
    ("4000000000009995", "insufficient_funds", "Your card has insufficient funds.",
     "card_declined"),
    ("4000000000000002", "generic_decline", "Your card was declined.", "card_declined"),
    # Stripe's fraud-prevention cards paid here before (a card tester).
    ("4100000000000019", "fraudulent", "Your card was declined.", "card_declined"),
    ("4000000000004954", "fraudulent", "Your card was declined.", "card_declined"),
    ("4000000000000101", "incorrect_cvc", "Your card's security code is incorrect.",
     "incorrect_cvc"),
    ("4000000000000341", "generic_decline", "Your card was declined.", "card_declined"),
])
def test_declines_raise_card_error_carrying_the_intent(stripe_client, number, decline_code,
                                                       message, code):
    with pytest.raises(stripe.CardError) as caught:
        manual_intent(stripe_client, card_method(stripe_client, number))
    error = caught.value
    assert error.http_status == 402
    assert error.code == code
    assert error.error.decline_code == decline_code
    assert error.user_message == message
    intent = error.error.payment_intent
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.decline_code == decline_code
    charge = stripe_client.v1.charges.retrieve(intent.latest_charge)
    assert charge.status == "failed" and charge.failure_code == code


@pytest.mark.parametrize("number", ["4000002500003155", "4000000000003220",
                                    "4000003800000446"])
def test_3ds_cards_require_action_then_confirm_succeeds(stripe_client, sandbox, number):
    intent = manual_intent(stripe_client, card_method(stripe_client, number))
    assert intent.status == "requires_action"
    assert intent.next_action.type == "use_stripe_sdk"
    assert intent.latest_charge is None
    after = sandbox.authenticate(intent.id, "complete")
    assert after["status"] == "requires_confirmation"
    confirmed = stripe_client.v1.payment_intents.confirm(intent.id)
    assert confirmed.status == "succeeded"
    charge = stripe_client.v1.charges.retrieve(confirmed.latest_charge)
    assert charge.payment_method_details.card.three_d_secure.result == "authenticated"


def test_error_on_requires_action_fails_with_authentication_not_handled(stripe_client):
    method = card_method(stripe_client, "4000002500003155")
    with pytest.raises(stripe.CardError) as caught:
        stripe_client.v1.payment_intents.create(params={
            "amount": 1999, "currency": "usd", "payment_method": method, "confirm": True,
            "error_on_requires_action": True})
    error = caught.value
    assert error.code == "authentication_required"
    assert error.error.decline_code == "authentication_not_handled"
    intent = error.error.payment_intent
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == "authentication_required"


def test_failed_challenge_returns_to_requires_payment_method(stripe_client, sandbox):
    intent = manual_intent(stripe_client, card_method(stripe_client, "4000002500003155"))
    after = sandbox.authenticate(intent.id, "fail")
    assert after["status"] == "requires_payment_method"
    assert after["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    # The shopper tries another card on the same intent: it succeeds.
    retried = stripe_client.v1.payment_intents.confirm(
        intent.id, params={"payment_method": card_method(stripe_client, "4242424242424242")})
    assert retried.status == "succeeded" and retried.last_payment_error is None


@pytest.mark.parametrize(("number", "code", "decline_code"), [
    ("4000008260003178", "card_declined", "insufficient_funds"),
    ("4000008400001629", "card_declined", "generic_decline"),  # paid here before
    ("4000008400001280", "processing_error", "processing_error"),  # paid here before
])
def test_cards_that_pass_the_challenge_then_decline(stripe_client, sandbox, number, code,
                                                    decline_code):
    intent = manual_intent(stripe_client, card_method(stripe_client, number))
    assert intent.status == "requires_action"
    sandbox.authenticate(intent.id, "complete")
    with pytest.raises(stripe.CardError) as caught:
        stripe_client.v1.payment_intents.confirm(intent.id)
    assert (caught.value.code, caught.value.error.decline_code) == (code, decline_code)
    assert caught.value.error.payment_intent.status == "requires_payment_method"


@pytest.mark.parametrize(("number", "brand"), [
    ("3056930009020004", "diners"), ("36227206271667", "diners"), ("3566002020360505", "jcb"),
    ("6200000000000005", "unionpay"), ("378282246310005", "amex"),
])
def test_every_brands_test_card_pays_under_its_brand(stripe_client, number, brand):
    """JCB, Diners Club and UnionPay read "unknown" before (a card tester)."""
    method = stripe_client.v1.payment_methods.create(params={"type": "card", "card": {
        "number": number, **CARD, "cvc": "1234" if brand == "amex" else "123"}}).id
    assert stripe_client.v1.payment_methods.retrieve(method).card.brand == brand
    intent = manual_intent(stripe_client, method)
    assert intent.status == "succeeded"


def test_automatic_confirmation_charges_as_soon_as_the_challenge_passes(stripe_client, sandbox):
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 1000, "currency": "usd", "payment_method": "pm_card_threeDSecure2Required",
        "confirm": True})
    assert intent.status == "requires_action"
    assert sandbox.authenticate(intent.id, "complete")["status"] == "succeeded"


def at_the_start_of_a_second() -> None:
    """The sandbox's clock counts whole wall-clock seconds: a check one second before a
    deadline must not straddle a second boundary between its calls."""
    time.sleep(1.02 - time.time() % 1)


def test_unconfirmed_manual_intent_expires_after_one_hour(stripe_client, sandbox):
    intent = manual_intent(stripe_client, card_method(stripe_client, "4000002500003155"))
    at_the_start_of_a_second()
    sandbox.authenticate(intent.id, "complete")
    sandbox.advance_clock(3599)
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "requires_confirmation"
    sandbox.advance_clock(1)
    expired = stripe_client.v1.payment_intents.retrieve(intent.id)
    assert expired.status == "requires_payment_method"
    assert expired.last_payment_error.code == "payment_intent_payment_attempt_expired"
    # No webhook announces it: the last event is still the requires_action one.
    events = stripe_client.v1.events.list(params={"limit": 1})
    assert events.data[0].type == "payment_intent.requires_action"


def test_idempotency_key_replays_the_first_answer(stripe_client, sandbox):
    params = {"amount": 1500, "currency": "usd", "payment_method": "pm_card_visa",
              "confirm": True}
    first = stripe_client.v1.payment_intents.create(params=params,
                                                    options={"idempotency_key": "order-7-a1"})
    second = stripe_client.v1.payment_intents.create(params=params,
                                                     options={"idempotency_key": "order-7-a1"})
    assert first.id == second.id
    assert len(stripe_client.v1.payment_intents.list().data) == 1
    log = sandbox.requests("/v1/payment_intents")
    posts = [entry for entry in log if entry["method"] == "POST"]
    assert [entry["idempotency_key"] for entry in posts] == ["order-7-a1", "order-7-a1"]


def test_idempotency_key_replays_a_decline_too(stripe_client):
    params = {"amount": 1500, "currency": "usd",
              "payment_method": "pm_card_chargeDeclinedInsufficientFunds", "confirm": True}
    ids = set()
    for _ in range(2):
        with pytest.raises(stripe.CardError) as caught:
            stripe_client.v1.payment_intents.create(params=params,
                                                    options={"idempotency_key": "k-decline"})
        ids.add(caught.value.error.payment_intent.id)
    assert len(ids) == 1


def test_idempotency_key_with_other_parameters_is_refused(stripe_client):
    stripe_client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd"},
                                            options={"idempotency_key": "k1"})
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.payment_intents.create(params={"amount": 1600, "currency": "usd"},
                                                options={"idempotency_key": "k1"})


def test_cancel_and_illegal_state_changes(stripe_client):
    intent = stripe_client.v1.payment_intents.create(params={"amount": 900, "currency": "usd"})
    canceled = stripe_client.v1.payment_intents.cancel(
        intent.id, params={"cancellation_reason": "abandoned"})
    assert canceled.status == "canceled" and canceled.cancellation_reason == "abandoned"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.payment_intents.cancel(intent.id)
    assert caught.value.http_status == 400
    assert caught.value.code == "payment_intent_unexpected_state"

    paid = manual_intent(stripe_client, "pm_card_visa")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.payment_intents.confirm(paid.id)
    assert caught.value.code == "payment_intent_unexpected_state"
    assert caught.value.error.payment_intent.status == "succeeded"


def test_update_then_confirm_with_new_method(stripe_client):
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 900, "currency": "usd", "confirmation_method": "manual",
        "metadata": {"order": "41"}})
    updated = stripe_client.v1.payment_intents.update(
        intent.id, params={"amount": 1200, "metadata": {"attempt": "2"}})
    assert updated.amount == 1200 and updated.metadata.to_dict() == {"order": "41", "attempt": "2"}
    confirmed = stripe_client.v1.payment_intents.confirm(
        intent.id, params={"payment_method": "pm_card_mastercard"})
    assert confirmed.status == "succeeded" and confirmed.amount_received == 1200


def test_publishable_key_reads_an_intent_only_with_its_client_secret(stripe_client,
                                                                     publishable_key):
    intent = stripe_client.v1.payment_intents.create(params={"amount": 900, "currency": "usd"})
    public = stripe.StripeClient(publishable_key,
                                 base_addresses={"api": stripe_client._requestor.base_addresses
                                                 ["api"]})
    fetched = public.v1.payment_intents.retrieve(intent.id,
                                                 params={"client_secret": intent.client_secret})
    assert fetched.id == intent.id
    with pytest.raises(stripe.InvalidRequestError):
        public.v1.payment_intents.retrieve(intent.id, params={"client_secret": "pi_x_secret_y"})
    with pytest.raises(stripe.AuthenticationError):
        public.v1.payment_intents.list()


# The PaymentIntent's properties the API reference marks "retrievable with publishable
# key" (docs.stripe.com/api/payment_intents/object).
PUBLISHABLE = {"id", "object", "amount", "automatic_payment_methods", "canceled_at",
               "cancellation_reason", "capture_method", "client_secret",
               "confirmation_method", "created", "currency", "description",
               "last_payment_error", "livemode", "next_action", "payment_method",
               "payment_method_types", "processing", "receipt_email", "setup_future_usage",
               "shipping", "status"}


def test_a_publishable_key_reads_only_what_stripe_lets_it(stripe_client, publishable_key,
                                                          sandbox):
    """Stripe.js's retrieve (the publishable key and the client secret) gets the subset
    the API reference marks retrievable with a publishable key: not the metadata (the
    site's order reference), the customer, the charge or the amount received."""
    customer = stripe_client.v1.customers.create(params={"email": "ada@example.com"})
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 900, "currency": "usd", "customer": customer.id,
        "payment_method": "pm_card_visa", "confirm": True, "description": "Order ord_1",
        "metadata": {"order_reference": "ord_1"}, "receipt_email": "ada@example.com"})
    assert intent.status == "succeeded"
    public = stripe.StripeClient(publishable_key, base_addresses={"api": sandbox.url},
                                 max_network_retries=0)
    read = public.v1.payment_intents.retrieve(intent.id,
                                              params={"client_secret": intent.client_secret})
    whole = stripe_client.v1.payment_intents.retrieve(intent.id).last_response.data
    assert set(read.last_response.data) == PUBLISHABLE
    assert read.last_response.data == {name: whole[name] for name in PUBLISHABLE}
    assert read.description == "Order ord_1" and read.status == "succeeded"
    assert {"metadata", "customer", "latest_charge", "amount_received"} <= set(whole)
    assert whole["metadata"] == {"order_reference": "ord_1"}
    # The secret key still reads the whole intent, with the client secret or without.
    assert stripe_client.v1.payment_intents.retrieve(
        intent.id, params={"client_secret": intent.client_secret}).last_response.data == whole


def test_customer_and_expand(stripe_client):
    customer = stripe_client.v1.customers.create(params={"email": "ada@example.com"})
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 900, "currency": "usd", "customer": customer.id,
        "payment_method": "pm_card_visa", "confirm": True,
        "expand": ["customer", "latest_charge", "payment_method"]})
    assert intent.customer.email == "ada@example.com"
    assert intent.latest_charge.object == "charge"
    assert intent.payment_method.card.brand == "visa"
    fetched = stripe_client.v1.customers.retrieve(customer.id)
    assert fetched.id == customer.id


def test_a_captured_charge_has_a_balance_transaction(stripe_client, sandbox):
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 2000, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True,
        "description": "order 5"})
    charge = stripe_client.v1.charges.retrieve(intent.latest_charge)
    txn = stripe_client.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert (txn.id, txn.source, txn.type, txn.reporting_category) == \
        (charge.balance_transaction, charge.id, "charge", "charge")
    assert (txn.amount, txn.currency, txn.net) == (2000, "eur", 2000 - txn.fee)
    assert txn.fee == txn.fee_details[0].amount == 88  # 2.9 % + 30, an assumption
    assert txn.status == "pending" and txn.available_on == txn.created + 2 * 86400
    sandbox.advance_clock(2 * 86400)
    assert stripe_client.v1.balance_transactions.retrieve(txn.id).status == "available"
    expanded = stripe_client.v1.charges.retrieve(charge.id,
                                                 params={"expand": ["balance_transaction"]})
    assert expanded.balance_transaction.id == txn.id
    listed = stripe_client.v1.balance_transactions.list(params={"source": charge.id})
    assert [t.id for t in listed.data] == [txn.id]
    assert stripe_client.v1.balance_transactions.list(params={"currency": "usd"}).data == []
    source = stripe_client.v1.balance_transactions.retrieve(txn.id,
                                                            params={"expand": ["source"]})
    assert source.source.id == charge.id


def test_failed_and_uncaptured_charges_have_no_balance_transaction(stripe_client, sandbox):
    with pytest.raises(stripe.CardError):
        stripe_client.v1.payment_intents.create(params={
            "amount": 2000, "currency": "usd", "confirm": True,
            "payment_method": "pm_card_chargeDeclined"})
    stripe_client.v1.payment_intents.create(params={
        "amount": 2000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True,
        "capture_method": "manual"})
    assert [c.balance_transaction for c in stripe_client.v1.charges.list().data] == [None, None]
    assert stripe_client.v1.balance_transactions.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.balance_transactions.retrieve("txn_nope")
