"""Webhook endpoints and signed delivery; faults, latency, clock, request log, seed."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import stripe

from stripe_sandbox import DEFAULT_SECRET_KEY
from tests.waiting import wait_until


class Receiver:
    """A local webhook receiver that fails the first ``failures`` posts."""

    def __init__(self, failures: int = 0) -> None:
        self.bodies: list[tuple[bytes, str]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append((body, self.headers["Stripe-Signature"]))
                failing = receiver.failures > 0
                receiver.failures -= 1
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10) -> None:
        wait_until(lambda: len(self.bodies) >= count, timeout=timeout,
                   what=f"{count} deliveries (got {len(self.bodies)})")

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(failures: int = 0) -> Receiver:
        made.append(Receiver(failures))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_events_are_delivered_signed_and_verifiable(stripe_client, sandbox, receiver):
    hook = receiver()
    endpoint = stripe_client.v1.webhook_endpoints.create(params={
        "url": hook.url, "enabled_events": ["payment_intent.succeeded", "charge.succeeded"]})
    assert endpoint.secret.startswith("whsec_")
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True})
    hook.wait_for(2)
    types = set()
    for body, signature in hook.bodies:
        event = stripe.Webhook.construct_event(body, signature, endpoint.secret)
        types.add(event.type)
        if event.type == "payment_intent.succeeded":
            assert event.data.object.id == intent.id
    assert types == {"payment_intent.succeeded", "charge.succeeded"}
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(hook.bodies[0][0], hook.bodies[0][1], "whsec_wrong")


def test_failed_deliveries_are_retried_until_accepted(stripe_client, sandbox, receiver):
    hook = receiver(failures=2)
    stripe_client.v1.webhook_endpoints.create(params={"url": hook.url,
                                                      "enabled_events": ["*"]})
    stripe_client.v1.customers.create()
    hook.wait_for(3)
    # The sandbox records an attempt only once it has the answer, which may be
    # after the receiver saw the request: wait for the record itself.
    deliveries = wait_until(lambda: [d for d in sandbox.deliveries() if d["delivered"]],
                            what="the delivery recorded as delivered")
    assert len(sandbox.deliveries()) == 1
    assert [a["status"] for a in deliveries[0]["attempts"]] == [500, 500, 200]
    assert deliveries[0]["delivered"]
    # The same event each time: at-least-once delivery of one event id.
    assert len({json.loads(body)["id"] for body, _ in hook.bodies}) == 1


def test_webhook_endpoint_crud(stripe_client):
    endpoint = stripe_client.v1.webhook_endpoints.create(params={
        "url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]})
    assert stripe_client.v1.webhook_endpoints.retrieve(endpoint.id).url.endswith("/hook")
    assert "secret" not in stripe_client.v1.webhook_endpoints.retrieve(endpoint.id)
    assert [e.id for e in stripe_client.v1.webhook_endpoints.list().data] == [endpoint.id]
    assert stripe_client.v1.webhook_endpoints.delete(endpoint.id).deleted is True
    # As dj-stripe's admin form creates one (it refused "Received unknown parameter").
    made = stripe_client.v1.webhook_endpoints.create(params={
        "url": "http://127.0.0.1:9/hook", "enabled_events": ["payment_intent.succeeded"],
        "connect": False, "api_version": "2026-08-26.dahlia"})
    assert made.secret.startswith("whsec_")
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.webhook_endpoints.create(params={"url": "not a url",
                                                          "enabled_events": ["*"]})


@pytest.mark.parametrize("fault,expected", [
    ({"status": 500}, stripe.APIError),
    ({"action": "rate_limit"}, stripe.RateLimitError),
    ({"status": 503}, stripe.APIError),
    ({"action": "drop"}, stripe.APIConnectionError),
])
def test_faults_fail_the_next_matching_request_only(stripe_client, sandbox, fault, expected):
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, **fault)
    with pytest.raises(expected):
        stripe_client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    # Nothing was created by the failed request; the next one goes through.
    assert stripe_client.v1.payment_intents.list().data == []
    stripe_client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    assert len(stripe_client.v1.payment_intents.list().data) == 1


def test_fault_after_processing_is_healed_by_an_idempotent_retry(sandbox):
    """The answer is lost after Stripe did the work: stripe-python retries with the same
    idempotency key and gets the first result, so nothing is charged twice."""
    sandbox.add_fault(method="POST", path="/v1/payment_intents", action="drop", when="after")
    client = stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox.url},
                                 max_network_retries=2)
    intent = client.v1.payment_intents.create(params={
        "amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True})
    assert intent.status == "succeeded"
    assert len(client.v1.payment_intents.list().data) == 1
    assert len(client.v1.charges.list().data) == 1


@pytest.mark.parametrize("when,created", [("stored", 0), ("stored_after", 1)])
def test_a_stored_500_is_replayed_to_its_key_and_tells_the_client_not_to_retry(
        sandbox, when, created):
    """Stripe keeps a 500 under the request's idempotency key ("including 500 errors") and
    answers every retry with that key with it: a new key is needed. The first answer says
    Stripe-Should-Retry: false, so stripe-python does not retry it."""
    sandbox.add_fault(method="POST", path="/v1/payment_intents", status=500, when=when)
    client = stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox.url},
                                 max_network_retries=2)
    params = {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa",
              "confirm": True}
    with pytest.raises(stripe.APIError) as first:
        client.v1.payment_intents.create(params=params, options={"idempotency_key": "k-1"})
    assert first.value.http_status == 500
    assert first.value.headers["Stripe-Should-Retry"] == "false"
    assert len([r for r in sandbox.requests() if r["idempotency_key"] == "k-1"]) == 1
    with pytest.raises(stripe.APIError) as replayed:
        client.v1.payment_intents.create(params=params, options={"idempotency_key": "k-1"})
    assert replayed.value.http_status == 500
    assert replayed.value.headers["Idempotent-Replayed"] == "true"
    assert len(client.v1.payment_intents.list().data) == created
    client.v1.payment_intents.create(params=params, options={"idempotency_key": "k-2"})
    assert len(client.v1.payment_intents.list().data) == created + 1


def test_a_stored_fault_must_be_a_server_error(sandbox):
    with pytest.raises(Exception, match="stored fault"):
        sandbox.add_fault(path="/v1/payment_intents", status=402, when="stored")


def test_delay_fault_times_the_client_out(sandbox):
    sandbox.add_fault(path="/v1/account", action="delay", delay_ms=1500)
    client = stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox.url},
                                 http_client=stripe.RequestsClient(timeout=0.5))
    with pytest.raises(stripe.APIConnectionError):
        client.v1.accounts.retrieve_current()


def test_latency_and_request_log(stripe_client, sandbox):
    sandbox.set_latency(120)
    started = time.monotonic()
    stripe_client.v1.accounts.retrieve_current()
    assert time.monotonic() - started >= 0.12
    sandbox.set_latency(0)
    log = sandbox.requests()
    assert [(e["method"], e["path"], e["status"], e["publishable"]) for e in log] == \
        [("GET", "/v1/account", 200, False)]


def test_bad_control_input_is_400(sandbox):
    for path, body in [("faults", {"action": "explode"}), ("clock/advance", {"seconds": "-1"}),
                       ("latency", {"ms": "lots"}), ("seed", {"kind": "nonsense"}),
                       ("seed", {"count": "x"})]:
        response = httpx.post(f"{sandbox.url}/_sandbox/{path}", json=body)
        assert response.status_code == 400, (path, response.text)
    response = httpx.post(f"{sandbox.url}/_sandbox/payment_intents/pi_x/authenticate",
                          json={"outcome": "complete"})
    assert response.status_code == 404


def test_seed_creates_intents_in_states_and_ages(stripe_client, sandbox):
    result = sandbox.seed(batches=[
        {"kind": "succeeded", "count": 5},
        {"kind": "authentication_not_handled", "count": 3, "age_seconds": 7200},
        {"kind": "requires_action", "count": 2, "age_seconds": 5400},
        {"kind": "requires_confirmation", "count": 2, "age_seconds": 1800},
        {"kind": "requires_confirmation", "count": 1, "age_seconds": 4000},
    ])
    assert result["total"] == 13 and result["expired_on_arrival"] == 1
    failures = stripe_client.v1.payment_intents.search(
        params={"query": 'status:"requires_payment_method"'}).data
    codes = sorted((pi.last_payment_error or {}).get("decline_code") or
                   (pi.last_payment_error or {}).get("code") for pi in failures)
    assert codes == ["authentication_not_handled"] * 3 + ["payment_intent_payment_attempt_expired"]
    stale = stripe_client.v1.payment_intents.search(
        params={"query": 'status:"requires_action"'}).data
    now = sandbox.clock()["now"]
    assert all(now - pi.created >= 5400 for pi in stale) and len(stale) == 2
    waiting = stripe_client.v1.payment_intents.search(
        params={"query": 'status:"requires_confirmation"'}).data
    assert len(waiting) == 2
    sandbox.advance_clock(1800)
    assert stripe_client.v1.payment_intents.search(
        params={"query": 'status:"requires_confirmation"'}).data == []


def test_a_request_delayed_across_a_reset_is_not_processed(sandbox):
    """Otherwise a slow request from one test would write into the next test's state."""
    sandbox.add_fault(path="/v1/customers", action="delay", delay_ms=400)
    answers = []
    thread = threading.Thread(target=lambda: answers.append(httpx.post(
        sandbox.url + "/v1/customers",
        headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"})))
    thread.start()
    # The request has arrived and is waiting out its delay once it took the fault.
    wait_until(lambda: httpx.get(f"{sandbox.url}/_sandbox/faults").json()["data"][0][
        "remaining"] == 0, what="the delayed request to reach the sandbox")
    sandbox.reset()
    thread.join()
    assert answers[0].status_code == 503
    listed = httpx.get(sandbox.url + "/v1/events",
                       headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}).json()
    assert listed["data"] == []
