"""/pay against hostile use: CSRF, card-testing rate limits, wrong methods."""

from __future__ import annotations

import json

from django.conf import settings

from payments.models import PaymentAttempt
from tests.conftest import ApplicationClient
from tests.payments.conftest import random_address, shopper_with_order
from tests.waiting import same_window


def test_missing_or_wrong_csrf_token_is_a_json_403(site_on_sandbox, product, sandbox):
    shopper = shopper_with_order(product)
    shopper.client.handler.enforce_csrf_checks = True
    body = json.dumps({"payment_method_id": "pm_card_visa"})
    for headers in ({}, {"HTTP_X_CSRFTOKEN": "x" * 64}):
        response = shopper.client.post("/pay", body, content_type="application/json", **headers)
        assert response.status_code == 403
        assert "security token" in response.json()["error"]
    assert sandbox.requests() == [] and not PaymentAttempt.objects.exists()


def test_a_session_that_ended_is_told_so_not_to_reload(site_on_sandbox, product, sandbox):
    """Cookies cleared (or the session expired) on the order page: "reload the page" led
    to a 404 for the order, which this browser no longer owns."""
    shopper = shopper_with_order(product)
    shopper.client.cookies.pop(settings.SESSION_COOKIE_NAME)
    shopper.client.handler.enforce_csrf_checks = True
    response = shopper.client.post("/pay", json.dumps({
        "payment_method_id": "pm_card_visa", "order_reference": shopper.order.reference}),
        content_type="application/json")
    assert response.status_code == 403
    error = response.json()["error"]
    assert "session has ended" in error and "Nothing was charged" in error
    assert "reload" not in error
    assert sandbox.requests() == [] and not PaymentAttempt.objects.exists()


def test_the_csrf_token_from_the_page_is_accepted(site_on_sandbox, product, sandbox):
    client = ApplicationClient(enforce_csrf_checks=True)
    client.get("/")
    token = client.cookies["csrftoken"].value
    client.post("/cart/", {"action": "add", "sku": product.sku, "quantity": 1,
                           "csrfmiddlewaretoken": token})
    client.post("/checkout/", {"email": "a@example.com", "csrfmiddlewaretoken": token})
    response = client.post("/pay", json.dumps({"payment_method_id": "pm_card_visa"}),
                           content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["success"] is True


def test_pay_is_rate_limited_per_session(site_on_sandbox, product, sandbox):
    site_on_sandbox.PAYMENTS_PAY_RATE_PER_SESSION = "3/m"
    hammering = shopper_with_order(product)
    same_window(seconds=60)
    codes = [hammering.pay(payment_method_id="pm_card_chargeDeclined").status_code
             for _ in range(5)]
    assert codes == [402, 402, 402, 429, 429]
    assert "Too many payment attempts" in hammering.pay(payment_method_id="pm_card_visa").json()[
        "error"]
    assert len(sandbox.requests()) == 3
    # Another shopper is not affected.
    assert shopper_with_order(product).pay(payment_method_id="pm_card_visa").status_code == 200


def test_the_confirm_after_the_bank_is_not_refused_for_the_cards_tried_before_it(
        site_on_sandbox, product, sandbox):
    """A shopper who used up the session's card attempts (a decline, then a card the bank
    asks about) and passed the bank's check is confirmed, not told "too many attempts";
    a further card is still refused."""
    site_on_sandbox.PAYMENTS_PAY_RATE_PER_SESSION = "2/m"
    shopper = shopper_with_order(product)
    same_window(seconds=60)
    assert shopper.pay(payment_method_id="pm_card_chargeDeclined").status_code == 402
    asked = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()
    intent_id = asked["clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "complete")
    confirmed = shopper.pay(payment_intent_id=intent_id)
    assert confirmed.status_code == 200 and confirmed.json()["success"] is True
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 429


def test_the_confirm_after_the_bank_is_rate_limited_on_its_own(site_on_sandbox, product,
                                                               sandbox):
    site_on_sandbox.PAYMENTS_PAY_RATE_PER_SESSION = "2/m"
    shopper = shopper_with_order(product)
    same_window(seconds=60)
    asked = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()
    intent_id = asked["clientSecret"].split("_secret_")[0]
    codes = [shopper.pay(payment_intent_id=intent_id).status_code for _ in range(3)]
    assert codes[-1] == 429 and 429 not in codes[:2]


def test_pay_is_rate_limited_per_address(site_on_sandbox, product, sandbox):
    site_on_sandbox.PAYMENTS_PAY_RATE_PER_IP = "2/m"
    address = random_address()
    same_window(seconds=60)
    codes = [shopper_with_order(product, client=ApplicationClient(REMOTE_ADDR=address)).pay(
        payment_method_id="pm_card_chargeDeclined").status_code for _ in range(3)]
    assert codes == [402, 402, 429]
    response = shopper_with_order(
        product, client=ApplicationClient(REMOTE_ADDR=random_address())).pay(
        payment_method_id="pm_card_visa")
    assert response.status_code == 200


def test_get_on_pay_is_405(site_on_sandbox, client, db):
    assert client.get("/pay").status_code == 405
