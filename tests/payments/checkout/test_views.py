"""/pay end to end: real stripe-python over HTTP to the sandbox, a real database."""

from __future__ import annotations

import pytest

from payments.checkout import errors, services, views
from payments.checkout.views import pay_error_status
from payments.models import Order, PaymentAttempt, PaymentEvent
from tests.payments.conftest import server_calls, shopper_with_order


def test_a_card_without_authentication_pays_with_one_stripe_call(shopper, sandbox):
    response = shopper.pay(payment_method_id="pm_card_visa")
    assert response.status_code == 200
    assert response.json() == {"success": True, "orderUrl": f"/orders/{shopper.order.reference}/"}
    order = shopper.order_now()
    assert order.status == Order.Status.PAID and order.paid_at is not None
    calls = server_calls(sandbox)
    assert [(c["method"], c["path"]) for c in calls] == [("POST", "/v1/payment_intents")]
    # Amount and currency come from the order (2 × 25.99 EUR), with manual confirmation.
    params = calls[0]["params"]
    assert (params["amount"], params["currency"], params["confirmation_method"]) == \
        ("5198", "eur", "manual")
    assert params["payment_method_types"] == ["card"] and params["confirm"] == "true"
    attempt = order.attempts.get()
    assert (attempt.status, attempt.amount, attempt.currency, attempt.card_brand,
            attempt.card_last4, attempt.confirmation_method) == \
        ("succeeded", 5198, "eur", "visa", "4242", "manual")
    assert attempt.final_at is not None and attempt.latest_charge.startswith("ch_")
    assert [(e.from_status, e.to_status, e.source) for e in attempt.events.all()] == \
        [("creating", "succeeded", "pay")]


def test_three_d_secure_pays_after_the_modal_with_two_stripe_calls(shopper, sandbox):
    first = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()
    assert first["requiresAction"] is True
    intent_id = first["clientSecret"].split("_secret_")[0]
    attempt = PaymentAttempt.objects.get(stripe_id=intent_id)
    assert attempt.status == "requires_action" and attempt.requires_action_at is not None
    sandbox.authenticate(intent_id, "complete")  # what the bank modal's button does
    second = shopper.pay(payment_intent_id=intent_id)
    assert second.status_code == 200 and second.json()["success"] is True
    assert shopper.order_now().status == Order.Status.PAID
    assert [c["path"] for c in server_calls(sandbox)] == \
        ["/v1/payment_intents", f"/v1/payment_intents/{intent_id}/confirm"]
    attempt.refresh_from_db()
    assert (attempt.status, attempt.card_last4, attempt.confirmations) == ("succeeded", "3184", 1)


def test_a_decline_is_402_and_another_card_confirms_the_same_intent(shopper, sandbox,
                                                                     stripe_client):
    declined = shopper.pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds")
    assert declined.status_code == 402
    assert declined.json() == {"error": "Your card has insufficient funds."}
    attempt = shopper.order.attempts.get()
    assert (attempt.status, attempt.last_error_code, attempt.last_decline_code) == \
        ("requires_payment_method", "card_declined", "insufficient_funds")
    assert shopper.order_now().status == Order.Status.OPEN
    paid = shopper.pay(payment_method_id="pm_card_visa")
    assert paid.json()["success"] is True
    assert server_calls(sandbox)[-1]["path"] == f"/v1/payment_intents/{attempt.stripe_id}/confirm"
    intents = stripe_client.v1.payment_intents.list().data
    assert [i.id for i in intents] == [attempt.stripe_id]
    assert intents[0].amount_received == 5198
    assert [(e.to_status, e.decline_code) for e in attempt.events.all()] == \
        [("requires_payment_method", "insufficient_funds"), ("succeeded", "")]


def test_a_card_blocked_as_fraud_is_a_plain_decline_to_the_shopper(shopper, sandbox):
    """Stripe's always-blocked card (it paid in the sandbox before, a card tester): the
    shopper reads a plain decline, never "fraud"; the attempt keeps Stripe's code."""
    declined = shopper.pay(payment_method_id="pm_card_chargeDeclinedFraudulent")
    assert declined.status_code == 402
    assert declined.json() == {"error": "Your card was declined."}
    attempt = shopper.order.attempts.get()
    assert (attempt.status, attempt.last_decline_code) == ("requires_payment_method",
                                                           "fraudulent")
    assert shopper.order_now().status == Order.Status.OPEN


def test_failed_authentication_then_another_card_pays_the_same_intent(shopper, sandbox,
                                                                      stripe_client):
    first = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()
    intent_id = first["clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "fail")
    paid = shopper.pay(payment_method_id="pm_card_visa")
    assert paid.json()["success"] is True
    assert [i.id for i in stripe_client.v1.payment_intents.list().data] == [intent_id]


def test_legacy_mode_fails_three_d_secure_and_records_it(shopper, sandbox, settings):
    settings.PAYMENTS_HANDLE_ACTIONS = False
    response = shopper.pay(payment_method_id="pm_card_authenticationRequired")
    assert response.status_code == 402
    assert "requires authentication by your bank" in response.json()["error"]
    params = server_calls(sandbox)[0]["params"]
    assert params["error_on_requires_action"] == "true" and "confirmation_method" not in params
    attempt = shopper.order.attempts.get()
    assert (attempt.status, attempt.last_error_code, attempt.last_decline_code,
            attempt.confirmation_method) == ("requires_payment_method", "authentication_required",
                                             "authentication_not_handled", "automatic")
    event = attempt.events.get()
    assert (event.decline_code, event.source) == ("authentication_not_handled", "pay")


@pytest.mark.parametrize("body,message", [
    ("{not json", "must be JSON"),
    ("[1, 2]", "must be a JSON object"),
    ("{}", "exactly one of"),
    ('{"payment_method_id": "pm_card_visa", "payment_intent_id": "pi_123"}', "exactly one of"),
    ('{"payment_method_id": "pi_123"}', "not a valid Stripe id"),
    ('{"payment_intent_id": "pm_card_visa"}', "not a valid Stripe id"),
    ('{"payment_method_id": 42}', "not a valid Stripe id"),
    ('{"payment_method_id": ["pm_card_visa"]}', "not a valid Stripe id"),
    ('{"payment_intent_id": "pi_../../v1/account"}', "not a valid Stripe id"),
    ('{"payment_method_id": "pm_' + "a" * 300 + '"}', "not a valid Stripe id"),
    (b"\xff\xfe", "must be JSON"),
])
def test_bad_bodies_are_400_and_change_nothing(shopper, sandbox, body, message):
    response = shopper.pay_raw(body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert sandbox.requests() == [] and not PaymentAttempt.objects.exists()


def test_amount_and_currency_from_the_browser_are_ignored(shopper, sandbox):
    shopper.pay(payment_method_id="pm_card_visa", amount=1, currency="usd")
    assert (server_calls(sandbox)[0]["params"]["amount"], shopper.order.currency) == \
        ("5198", "eur")


def test_a_session_without_an_order_gets_404(site_on_sandbox, client, sandbox, db):
    response = client.post("/pay", '{"payment_method_id": "pm_card_visa"}',
                           content_type="application/json")
    assert response.status_code == 404 and "no order" in response.json()["error"]
    assert sandbox.requests() == []


def test_another_shoppers_intent_is_404_and_not_confirmed(shopper, product, sandbox):
    intent_id = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "complete")
    other = shopper_with_order(product)
    sandbox.clear_requests()
    for foreign in (intent_id, "pi_doesNotBelongToAnyOrder"):
        response = other.pay(payment_intent_id=foreign)
        assert response.status_code == 404 and response.json()["error"]
    assert sandbox.requests() == []
    assert PaymentAttempt.objects.get(stripe_id=intent_id).status == "requires_action"


def test_a_paid_order_answers_success_without_calling_stripe(shopper, sandbox):
    shopper.pay(payment_method_id="pm_card_visa")
    intent_id = shopper.order.attempts.get().stripe_id
    sandbox.clear_requests()
    assert shopper.pay(payment_intent_id=intent_id).json()["success"] is True
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"] is True
    assert sandbox.requests() == []
    assert PaymentEvent.objects.count() == 1


def test_an_intent_canceled_at_stripe_is_409_then_a_new_card_pays(shopper, sandbox,
                                                                   stripe_client):
    intent_id = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"].split("_secret_")[0]
    stripe_client.v1.payment_intents.cancel(intent_id)
    response = shopper.pay(payment_intent_id=intent_id)
    assert response.status_code == 409 and "canceled" in response.json()["error"]
    assert PaymentAttempt.objects.get(stripe_id=intent_id).status == "canceled"
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"] is True
    assert list(shopper.order.attempts.values_list("number", "status").order_by("number")) == \
        [(1, "canceled"), (2, "succeeded")]


def test_a_409_that_is_final_says_no_retry_and_one_in_progress_does(shopper, sandbox,
                                                                     stripe_client):
    """The page keeps its payment for the next Pay only when the answer says the same
    request may succeed later (Retry-After, as 429 and 503): a canceled intent's 409 does
    not, so the next Pay sends the card the shopper typed (it re-sent the canceled intent
    for ever)."""
    intent_id = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"].split("_secret_")[0]
    stripe_client.v1.payment_intents.cancel(intent_id)
    canceled = shopper.pay(payment_intent_id=intent_id)
    assert canceled.status_code == 409 and "Retry-After" not in canceled
    busy = views._pay_error("busy", pay_error_status(errors.PaymentInProgress("busy")),
                            retry=True)
    assert (busy.status_code, busy["Retry-After"]) == (409, "2")


def test_an_order_canceled_by_ops_says_so_to_a_page_left_at_the_bank(shopper, sandbox):
    """Not "enter your card to pay again", which the next card then contradicts."""
    intent_id = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"].split("_secret_")[0]
    services.checkout_cancel(order_reference=shopper.order.reference,
                             payment_intent_id=intent_id, reason="abandoned",
                             actor="user:ops", source=PaymentEvent.Source.ADMIN)
    answer = shopper.pay(payment_intent_id=intent_id)
    assert answer.status_code == 409
    assert answer.json()["error"] == "This order was canceled and cannot be paid."


def test_a_form_body_is_a_json_400_not_a_500(shopper, sandbox):
    """The CSRF check reads a form's body before the view, which then cannot (Django's
    RawPostDataException was a 500 with a traceback)."""
    shopper.client.handler.enforce_csrf_checks = True
    shopper.client.get(f"/orders/{shopper.order.reference}/")  # sets the CSRF cookie
    token = shopper.client.cookies["csrftoken"].value
    response = shopper.client.post(
        "/pay", b'{"payment_method_id": "pm_card_visa"}',
        content_type="multipart/form-data; boundary=x", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 400
    assert response.json() == {"error": "The request body must be JSON."}
    assert server_calls(sandbox) == []


def test_a_confirmation_past_the_hour_asks_the_bank_again(shopper, sandbox):
    """Past the hour the intent is back to requires_payment_method with the card still on
    it (the sandbox's reading); confirming restarts the challenge instead of failing."""
    intent_id = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "complete")
    sandbox.advance_clock(3601)
    again = shopper.pay(payment_intent_id=intent_id).json()
    assert again["requiresAction"] is True
    sandbox.authenticate(intent_id, "complete")
    assert shopper.pay(payment_intent_id=intent_id).json()["success"] is True
    attempt = PaymentAttempt.objects.get(stripe_id=intent_id)
    # The second requires_action repeats the recorded status: no second ledger row.
    assert [e.to_status for e in attempt.events.all()] == ["requires_action", "succeeded"]
    assert attempt.confirmations == 2


def test_an_unknown_payment_method_is_400_and_another_card_then_pays(shopper, sandbox):
    response = shopper.pay(payment_method_id="pm_doesNotExist")
    assert response.status_code == 400 and "could not be used" in response.json()["error"]
    assert shopper.order_now().status == Order.Status.OPEN
    assert not PaymentAttempt.objects.exists()  # Stripe created nothing; nothing to replay
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"] is True


def test_3178_passes_the_challenge_then_declines_and_another_card_pays(shopper, sandbox):
    first = shopper.pay(payment_method_id="pm_card_authenticationRequiredChargeDeclined"
                                          "InsufficientFunds").json()
    intent_id = first["clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "complete")
    declined = shopper.pay(payment_intent_id=intent_id)
    assert declined.status_code == 402
    assert declined.json() == {"error": "Your card has insufficient funds."}
    attempt = PaymentAttempt.objects.get(stripe_id=intent_id)
    assert (attempt.status, attempt.last_decline_code) == \
        ("requires_payment_method", "insufficient_funds")
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"] is True
    assert shopper.order.attempts.count() == 1


def test_an_oversized_body_is_413_and_changes_nothing(shopper, sandbox, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = shopper.pay_raw('{"payment_method_id": "pm_card_visa", "x": "' + "a" * 2048 + '"}')
    assert response.status_code == 413 and response.json()["error"] == "The request is too large."
    assert sandbox.requests() == [] and not PaymentAttempt.objects.exists()


def test_deeply_nested_json_is_400(shopper, sandbox):
    response = shopper.pay_raw("[" * 50000)
    assert response.status_code == 400
    assert response.json() == {"error": "The request body must be JSON."}
    assert server_calls(sandbox) == []


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_other_methods_on_pay_are_a_json_405(site_on_sandbox, client, db, method):
    response = getattr(client, method)("/pay")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"]


def _subclasses(kind: type) -> list[type]:
    return [sub for direct in kind.__subclasses__() for sub in (direct, *_subclasses(direct))]


# What /pay answers for each error, written out (not derived from PAY_ERROR_STATUS): a
# new error must be added here, with the status a shopper's browser should get.
EXPECTED_STATUS = {
    "OrderNotFound": 404, "IntentNotFound": 404,
    "OrderNotPayable": 409, "OrderMismatch": 409, "OrderAmbiguous": 409,
    "OrderAmountRefused": 409,
    "PaymentInProgress": 409,
    "PaymentDeclined": 402, "PaymentNeedsCard": 402, "PaymentIntentMissing": 402,
    "PaymentInvalid": 400, "PaymentRefusedForShop": 409,
    "PaymentRateLimited": 429,
    "PaymentUnavailable": 503,
}


@pytest.mark.parametrize("error_class", _subclasses(errors.CheckoutError),
                         ids=lambda kind: kind.__name__)
def test_every_checkout_error_has_the_status_a_shopper_should_get(error_class):
    assert error_class.__name__ in EXPECTED_STATUS, \
        f"{error_class.__name__} is new: add the status /pay should answer to EXPECTED_STATUS"
    assert pay_error_status(error_class("x")) == EXPECTED_STATUS[error_class.__name__]


def test_a_new_checkout_error_answers_as_its_parent():
    class PaymentDeclinedByRisk(errors.PaymentDeclined):
        pass

    assert pay_error_status(PaymentDeclinedByRisk("no")) == 402
    assert pay_error_status(errors.CheckoutError("?")) == 400


def test_nesting_a_flat_body_never_reaches_the_json_decoder(shopper, sandbox):
    """A RecursionError in json's C decoder would leave the worker thread's recursion
    accounting off in CPython 3.11; such bodies are refused before decoding."""
    for body in ('{"a":' * 40 + "1" + "}" * 40, "[" * 33 + "]" * 33):
        response = shopper.pay_raw(body)
        assert response.status_code == 400
        assert response.json() == {"error": "The request body must be JSON."}
    assert server_calls(sandbox) == []
