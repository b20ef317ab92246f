"""Bad input gets Stripe's error shape and status, and never crashes the sandbox."""

from __future__ import annotations

import httpx
import pytest

from stripe_sandbox import DEFAULT_SECRET_KEY

AUTH = {"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}


def post(sandbox, path, data=None, **kwargs):
    return httpx.post(sandbox.url + path, data=data, headers=kwargs.pop("headers", AUTH),
                      **kwargs)


@pytest.mark.parametrize("body,param,code", [
    ({"amount": "abc", "currency": "usd"}, "amount", "parameter_invalid_integer"),
    ({"amount": "-5", "currency": "usd"}, "amount", "parameter_invalid_integer"),
    ({"amount": "10", "currency": "usd"}, "amount", "amount_too_small"),
    # 10.00 CZK: Stripe's minimum is 15.00 (docs: minimum-and-maximum-charge-amounts).
    ({"amount": "1000", "currency": "czk"}, "amount", "amount_too_small"),
    ({"amount": "17499", "currency": "huf"}, "amount", "amount_too_small"),
    ({"amount": "100000000", "currency": "eur"}, "amount", "amount_too_large"),
    ({"amount": "1000", "currency": "xyz"}, "currency", None),
    ({"currency": "usd"}, "amount", "parameter_missing"),
    ({"amount": "1000", "currency": "usd", "colour": "red"}, "colour", "parameter_unknown"),
    ({"amount": "1000", "currency": "usd", "card[number]": "4242"}, "card", "parameter_unknown"),
    ({"amount": "1000", "currency": "usd", "confirm": "maybe"}, "confirm", None),
    ({"amount": "1000", "currency": "usd", "confirmation_method": "sometimes"},
     "confirmation_method", None),
    ({"amount": "1000", "currency": "usd", "payment_method_types[0]": "ideal"},
     "payment_method_types[0]", "payment_intent_invalid_parameter"),
    ({"amount": "1000", "currency": "usd", "customer": "cus_nope"}, "customer",
     "resource_missing"),
])
def test_malformed_create_parameters(sandbox, body, param, code):
    response = post(sandbox, "/v1/payment_intents", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error.get("code") == code
    assert error["message"]
    # Nothing was created.
    listed = httpx.get(sandbox.url + "/v1/payment_intents", headers=AUTH).json()
    assert listed["data"] == []


@pytest.mark.parametrize("amount,currency", [
    ("1500", "czk"), ("17500", "huf"), ("50", "jpy"), ("99999999", "eur")])
def test_amounts_at_stripes_limits_are_charged(sandbox, amount, currency):
    response = post(sandbox, "/v1/payment_intents", {"amount": amount, "currency": currency})
    assert response.status_code == 200, response.text
    assert response.json()["amount"] == int(amount)


def test_unknown_ids_are_404_resource_missing(sandbox):
    for path in ("/v1/payment_intents/pi_nope", "/v1/charges/ch_nope", "/v1/customers/cus_x",
                 "/v1/events/evt_nope", "/v1/payment_methods/pm_nope"):
        response = httpx.get(sandbox.url + path, headers=AUTH)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "resource_missing"


def test_missing_or_wrong_key_is_401(sandbox):
    response = httpx.get(sandbox.url + "/v1/payment_intents")
    assert response.status_code == 401
    assert "did not provide an API key" in response.json()["error"]["message"]
    response = httpx.get(sandbox.url + "/v1/payment_intents",
                         headers={"Authorization": "Bearer sk_test_wrong_key_123"})
    assert response.status_code == 401
    assert "Invalid API Key" in response.json()["error"]["message"]
    basic = httpx.get(sandbox.url + "/v1/account", auth=(DEFAULT_SECRET_KEY, ""))
    assert basic.status_code == 200 and basic.json()["object"] == "account"


def test_unknown_route_and_method(sandbox):
    assert httpx.get(sandbox.url + "/v1/nothing", headers=AUTH).status_code == 404
    assert httpx.delete(sandbox.url + "/v1/payment_intents", headers=AUTH).status_code == 405


@pytest.mark.parametrize("raw", [
    b"amount=1000&currency=usd&metadata[a][b][c]=1",
    b"\xff\xfe\x00garbage=%%%",
    b"amount[]=1&currency=usd",
    b"expand[0][x]=1&amount=1000&currency=usd",
    b"=" * 5000,
    b"amount=99999999999999999999999&currency=usd",
])
def test_garbage_bodies_get_400s_not_crashes(sandbox, raw):
    response = httpx.post(sandbox.url + "/v1/payment_intents", content=raw,
                          headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(sandbox.url + "/v1/account", headers=AUTH).status_code == 200


@pytest.mark.parametrize("number,code", [
    ("4242424242424241", "incorrect_number"),
    ("1234", "invalid_number"),
])
def test_bad_card_numbers_are_card_errors(sandbox, number, code):
    response = post(sandbox, "/v1/payment_methods", {
        "type": "card", "card[number]": number, "card[exp_month]": "12",
        "card[exp_year]": "2040", "card[cvc]": "123"})
    assert response.status_code == 402
    assert response.json()["error"] == {**response.json()["error"], "type": "card_error",
                                        "code": code}


def test_expired_card_and_bad_cvc(sandbox):
    base = {"type": "card", "card[number]": "4242424242424242", "card[exp_month]": "1",
            "card[exp_year]": "2020", "card[cvc]": "123"}
    assert post(sandbox, "/v1/payment_methods", base).json()["error"]["code"] == \
        "invalid_expiry_year"
    base.update({"card[exp_year]": "2040", "card[cvc]": "12"})
    assert post(sandbox, "/v1/payment_methods", base).json()["error"]["code"] == "invalid_cvc"
