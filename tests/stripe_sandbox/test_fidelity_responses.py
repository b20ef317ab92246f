"""Fidelity checks 2 and 3: every response the sandbox gives, error bodies included,
(2) matches stripe-python 15's resource annotations (known keys, right types,
Literal values) and (3) carries every key Stripe's own fixture
(``../shared/stripe/fixtures3.json``) puts on the same object."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import stripe
from stripe._error_object import ErrorObject

from stripe_sandbox import DEFAULT_SECRET_KEY

from ..conftest import need
from .stripe_types import check_object

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "stripe" / "fixtures3.json"
RESOURCES = {
    "payment_intent": stripe.PaymentIntent, "payment_method": stripe.PaymentMethod,
    "charge": stripe.Charge, "event": stripe.Event, "customer": stripe.Customer,
    "account": stripe.Account, "webhook_endpoint": stripe.WebhookEndpoint,
    "balance_transaction": stripe.BalanceTransaction,
}


@pytest.fixture
def responses(sandbox) -> list[tuple[str, dict]]:
    """Raw JSON of every kind of answer, from a scenario touching every state."""
    http = httpx.Client(base_url=sandbox.url,
                        headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"})
    seen: list[tuple[str, dict]] = []

    def call(method, path, data=None):
        response = http.request(method, path, data=data)
        seen.append((f"{method} {path} -> {response.status_code}", response.json()))
        return response.json()

    call("POST", "/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/x",
                                           "enabled_events[]": "*"})
    customer = call("POST", "/v1/customers", {"email": "a@example.com", "metadata[k]": "v"})
    method = call("POST", "/v1/payment_methods", {
        "type": "card", "card[number]": "4000002500003155", "card[exp_month]": "12",
        "card[exp_year]": "2040", "card[cvc]": "123", "billing_details[name]": "Ada",
        "billing_details[address][country]": "FR"})
    base = {"amount": "2000", "currency": "eur", "confirm": "true",
            "confirmation_method": "manual", "customer": customer["id"]}
    action = call("POST", "/v1/payment_intents", {**base, "payment_method": method["id"]})
    sandbox.authenticate(action["id"], "complete")
    call("POST", f"/v1/payment_intents/{action['id']}/confirm")
    failed = call("POST", "/v1/payment_intents", {**base, "payment_method": "pm_card_visa_debit",
                                                  "confirm": "false"})
    call("POST", f"/v1/payment_intents/{failed['id']}/confirm",
         {"payment_method": "pm_card_authenticationRequired"})
    sandbox.authenticate(failed["id"], "fail")
    call("GET", f"/v1/payment_intents/{failed['id']}")
    call("POST", "/v1/payment_intents", {**base, "payment_method":
                                         "pm_card_chargeDeclinedInsufficientFunds"})
    call("POST", "/v1/payment_intents", {**base, "payment_method": "pm_card_threeDSecure2Required",
                                         "error_on_requires_action": "true"})
    expiring = call("POST", "/v1/payment_intents", {**base, "payment_method":
                                                    "pm_card_authenticationRequired"})
    sandbox.authenticate(expiring["id"], "complete")
    sandbox.advance_clock(3601)
    call("GET", f"/v1/payment_intents/{expiring['id']}")
    call("POST", "/v1/payment_intents", {"amount": "900", "currency": "usd",
                                         "capture_method": "manual", "confirm": "true",
                                         "payment_method": "pm_card_visa"})
    canceled = call("POST", "/v1/payment_intents", {"amount": "900", "currency": "usd"})
    call("POST", f"/v1/payment_intents/{canceled['id']}/cancel",
         {"cancellation_reason": "requested_by_customer"})
    call("POST", f"/v1/payment_intents/{canceled['id']}/cancel")
    call("POST", "/v1/payment_intents", {"amount": "abc", "currency": "usd"})
    call("GET", "/v1/payment_intents/pi_missing")
    call("GET", "/v1/payment_intents?limit=100")
    call("GET", "/v1/payment_intents/search?query=status%3A%22succeeded%22")
    charges = call("GET", "/v1/charges?limit=100")
    paid = next(c for c in charges["data"] if c["balance_transaction"])
    call("GET", f"/v1/balance_transactions/{paid['balance_transaction']}")
    call("GET", "/v1/balance_transactions?limit=100")
    call("GET", f"/v1/charges/{paid['id']}?expand[]=balance_transaction")
    call("GET", "/v1/events?limit=100")
    call("GET", "/v1/account")
    call("GET", f"/v1/customers/{customer['id']}")
    call("GET", f"/v1/customers/{customer['id']}?expand[]=default_source&expand[]=sources"
                "&expand[]=subscriptions&expand[]=tax_ids")
    call("GET", f"/v1/payment_methods/{method['id']}")
    call("GET", "/v1/webhook_endpoints")
    http.close()
    return seen


def objects(value):
    """Every Stripe object (a dict with a known ``object``) inside a response."""
    if isinstance(value, dict):
        if isinstance(value.get("object"), str) and value["object"] in RESOURCES:
            yield value
        for item in value.values():
            yield from objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from objects(item)


def test_scenario_covers_every_resource_and_state(responses):
    kinds = {obj["object"] for _, body in responses for obj in objects(body)}
    assert kinds == set(RESOURCES)
    statuses = {obj["status"] for _, body in responses for obj in objects(body)
                if obj["object"] == "payment_intent"}
    assert statuses >= {"requires_action", "requires_confirmation", "succeeded",
                        "requires_payment_method", "requires_capture", "canceled"}
    assert sum("error" in body for _, body in responses) >= 5


def test_every_response_matches_stripe_python_annotations(responses):
    problems = []
    for label, body in responses:
        if "error" in body:
            problems += check_object(body["error"], ErrorObject, f"{label} error")
            continue
        if body.get("object") in ("list", "search_result"):
            assert set(body) <= {"object", "data", "has_more", "url", "next_page",
                                 "total_count"}, label
        for obj in objects(body):
            problems += check_object(obj, RESOURCES[obj["object"]], f"{label} {obj['object']}")
    assert problems == []


def test_every_fixture_key_is_present(responses):
    # Skips only where ../shared is absent; under REQUIRE_SERVICES=1 (CI) that fails.
    need(FIXTURES.exists(), f"Stripe's fixtures are not at {FIXTURES} (CI places ../shared "
                            "beside the checkout)")
    fixtures = json.loads(FIXTURES.read_text())["resources"]
    missing = []
    found = set()
    for label, body in responses:
        for obj in objects(body):
            found.add(obj["object"])
            missing += missing_keys(fixtures[obj["object"]], obj, f"{label} {obj['object']}")
    assert found == set(RESOURCES)
    assert sorted(set(missing)) == []


def missing_keys(fixture, ours, path):
    """Keys of the fixture absent from ours, recursing where both sides are objects."""
    out = []
    for key, value in fixture.items():
        if key not in ours:
            out.append(f"{path}.{key}")
        elif isinstance(value, dict) and isinstance(ours[key], dict) \
                and key not in ("metadata", "data", "object") and value.get("object") is None:
            out += missing_keys(value, ours[key], f"{path}.{key}")
    return out
