"""Hostile or absurd input gets Stripe's error shape with a 4xx, never a 500; and
only the API and Stripe.js are open to other web origins (CORS)."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from stripe_sandbox import DEFAULT_SECRET_KEY
from stripe_sandbox.app import MAX_BODY_BYTES

AUTH = {"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}
DEEP_KEY = "metadata" + "[a]" * 1000


def assert_stripe_error(response: httpx.Response, status: int = 400) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    return error


@pytest.mark.parametrize("method,path,kwargs", [
    ("POST", "/v1/payment_intents", {"content": f"amount=1000&currency=usd&{DEEP_KEY}=x"}),
    ("POST", "/v1/customers", {"content": DEEP_KEY + "=x"}),
    ("GET", "/v1/payment_intents?" + DEEP_KEY.replace("metadata", "created") + "=1", {}),
    ("POST", "/v1/payment_intents", {"content": "amount=1000&currency=usd&expand[²]=x"}),
    ("POST", "/v1/payment_intents",
     {"content": f"amount=1000&currency=usd&expand[{'9' * 5000}]=x"}),
    ("POST", "/v1/payment_intents", {"content": "amount=١٠٠٠&currency=usd"}),
    ("GET", "/v1/payment_intents/search?query=amount>" + "9" * 5000, {}),
    ("GET", "/v1/payment_intents/search?query=created>²", {}),
    ("GET", "/v1/payment_intents?limit=²", {}),
    ("GET", "/v1/events?created[gt]=" + "1" * 5000, {}),
], ids=["deep-brackets-create", "deep-brackets-customer", "deep-brackets-query",
        "unicode-index", "5000-digit-index", "arabic-digits", "5000-digit-search",
        "unicode-digit-search", "unicode-limit", "5000-digit-created"])
def test_hostile_api_input_is_a_400(sandbox, method, path, kwargs):
    headers = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
    response = httpx.request(method, sandbox.url + path, headers=headers, **kwargs)
    assert_stripe_error(response)
    assert httpx.get(sandbox.url + "/v1/payment_intents", headers=AUTH).json()["data"] == []


@pytest.mark.parametrize("path,body", [
    ("clock/advance", {"seconds": "²"}),
    ("clock/advance", {"seconds": "١٢"}),
    ("clock/advance", {"seconds": 10 ** 30}),
    ("clock/advance", {"seconds": str(10 ** 30)}),
    ("clock/advance", {"seconds": 1e30}),
    ("clock/advance", {"seconds": True}),
    ("latency", {"ms": "²"}),
    ("latency", {"ms": 10 ** 30}),
    ("faults", {"count": "²"}),
    ("faults", {"count": "9" * 5000}),
    ("faults", {"path": {"nested": True}}),
    ("faults", {"message": ["not", "a", "string"]}),
    ("seed", {"count": "²"}),
    ("seed", {"age_seconds": 10 ** 30}),
    ("seed", {"kind": ["succeeded"]}),
    ("seed", {"metadata": {"k": {"deep": "x"}}}),
    ("seed", {"events": "maybe"}),
], ids=lambda value: json.dumps(value)[:40] if not isinstance(value, str) else value)
def test_hostile_control_input_is_a_400(sandbox, path, body):
    response = httpx.post(f"{sandbox.url}/_sandbox/{path}", json=body)
    error = assert_stripe_error(response)
    assert error.get("param") or "JSON" in error["message"]
    assert sandbox.clock()["offset"] == 0


@pytest.mark.parametrize("content", [
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 100_000 + "1" + "}" * 100_000,
    "{" + '"count": Infinity' + "}",
], ids=["deep-list", "deep-object", "infinity"])
def test_deep_or_odd_json_to_controls_is_a_400(sandbox, content):
    response = httpx.post(f"{sandbox.url}/_sandbox/faults", content=content,
                          headers={"Content-Type": "application/json"})
    assert_stripe_error(response)
    assert httpx.get(f"{sandbox.url}/_sandbox/faults").json()["data"] == []


def test_a_clock_advance_past_ten_years_is_refused_with_a_reason(sandbox):
    response = httpx.post(f"{sandbox.url}/_sandbox/clock/advance",
                          json={"seconds": 11 * 366 * 86400})
    assert "ten years" in assert_stripe_error(response)["message"]
    assert sandbox.advance_clock(86400)["offset"] == 86400


@pytest.mark.parametrize("path,headers", [
    ("/v1/payment_intents", {}),  # checked before authentication
    ("/v1/payment_intents", AUTH),
    ("/_sandbox/seed", {"Content-Type": "application/json"}),
])
def test_oversized_bodies_are_refused_before_being_read(sandbox, path, headers):
    response = httpx.post(sandbox.url + path, content=b"a=" + b"x" * MAX_BODY_BYTES,
                          headers=headers)
    assert_stripe_error(response, 413)


def test_an_oversized_body_is_answered_without_reading_the_rest(sandbox):
    """A chunked body (no length announced) that passes the cap gets its 413 while the
    client has not finished sending: the sandbox does not wait for the rest."""
    host, port = sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /v1/payment_intents HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        for _ in range(MAX_BODY_BYTES // len(chunk) + 1):
            conn.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        # No final chunk: were the sandbox reading on, this would time out.
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"invalid_request_error" in answer


# --- CORS ----------------------------------------------------------------------------

ELSEWHERE = {"Origin": "https://evil.example"}


def test_api_and_stripe_js_answer_cors(sandbox):
    for path in ("/v1/payment_intents", "/v3/"):
        response = httpx.get(sandbox.url + path, headers={**AUTH, **ELSEWHERE})
        assert response.headers["access-control-allow-origin"] == "*", path
    preflight = httpx.options(sandbox.url + "/v1/payment_methods", headers={
        **ELSEWHERE, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["access-control-allow-methods"]


@pytest.mark.parametrize("method,path", [
    ("POST", "/_sandbox/reset"), ("POST", "/_sandbox/clock/advance"),
    ("GET", "/_sandbox/requests"), ("POST", "/_sandbox/seed"), ("DELETE", "/_sandbox/faults"),
])
def test_controls_answer_no_cors_and_refuse_preflight(sandbox, method, path):
    preflight = httpx.options(sandbox.url + path, headers={
        **ELSEWHERE, "Access-Control-Request-Method": method})
    assert preflight.status_code == 403
    assert not [h for h in preflight.headers if h.startswith("access-control-")]
    plain = httpx.request(method, sandbox.url + path)
    assert not [h for h in plain.headers if h.startswith("access-control-")]


def test_a_page_elsewhere_cannot_drive_the_controls(sandbox):
    """A form POST needs no preflight: refusing other origins is what protects the state."""
    sandbox.advance_clock(60)
    response = httpx.post(f"{sandbox.url}/_sandbox/reset", headers=ELSEWHERE,
                          data={"x": "1"})
    assert response.status_code == 403
    assert sandbox.clock()["offset"] == 60  # not reset
    same_origin = {"Origin": sandbox.url}
    assert httpx.get(f"{sandbox.url}/_sandbox/clock", headers=same_origin).status_code == 200


def test_the_bank_modal_route_has_narrow_cors_and_needs_the_client_secret(sandbox,
                                                                          stripe_client):
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 1000, "currency": "usd", "confirm": True, "confirmation_method": "manual",
        "payment_method": "pm_card_authenticationRequired"})
    url = f"{sandbox.url}/_sandbox/payment_intents/{intent.id}/authenticate"
    preflight = httpx.options(url, headers={**ELSEWHERE,
                                            "Access-Control-Request-Method": "POST"})
    assert preflight.headers["access-control-allow-methods"] == "POST"
    without_secret = httpx.post(url, headers=ELSEWHERE, data={"outcome": "complete"})
    assert assert_stripe_error(without_secret)["param"] == "client_secret"
    answer = httpx.post(url, headers=ELSEWHERE,
                        data={"outcome": "complete", "client_secret": intent.client_secret})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.json()["status"] == "requires_confirmation"
