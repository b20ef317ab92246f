"""Stripe's rate limits (``--rate-limits``, ``POST /_sandbox/rate_limits``): the excess of
a burst gets Stripe's 429 and changes nothing; limits count per endpoint (method and
route) and in all; stripe-python raises ``RateLimitError`` and does not retry it."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
import stripe

from stripe_sandbox import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY, SandboxServer
from stripe_sandbox.rate_limits import RateLimiter

from .test_state_and_keys import ROOT, start_process

CREATE = {"amount": 1000, "currency": "usd"}
SECRET = {"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def burst(call, count: int) -> tuple[list, list[stripe.RateLimitError]]:
    """``count`` calls as fast as they go, all within one second (else the test would
    measure the window sliding, not the limit)."""
    started = time.monotonic()
    answers, limited = [], []
    for n in range(count):
        try:
            answers.append(call(n))
        except stripe.RateLimitError as error:
            limited.append(error)
    assert time.monotonic() - started < 1.0, "the burst took over a second: machine too slow"
    return answers, limited


# --- the limiter on its own (a fake clock) ---------------------------------------------

def test_a_sliding_second_lets_the_limit_through_and_refuses_the_rest():
    clock = FakeClock()
    limiter = RateLimiter(mode="test", clock=clock)
    results = [limiter.take("POST /v1/customers") for _ in range(30)]
    assert results == [None] * 25 + ["global-rate"] * 5
    clock.now += 0.5
    assert limiter.take("GET /v1/account") == "global-rate"  # still the same second
    clock.now += 0.51  # the first 25 are now more than a second old
    assert [limiter.take("GET /v1/account") for _ in range(26)] == [None] * 25 + ["global-rate"]
    assert limiter.describe()["limited"] == {
        "total": 7, "by_reason": {"global-rate": 7},
        "by_endpoint": {"POST /v1/customers": 5, "GET /v1/account": 2}}


def test_refused_requests_use_no_capacity():
    clock = FakeClock()
    limiter = RateLimiter(mode="test", clock=clock)
    for _ in range(25):
        limiter.take("GET /v1/account")
    for _ in range(100):  # a client hammering on while limited
        clock.now += 0.005
        assert limiter.take("GET /v1/account") == "global-rate"
    clock.now = 1000.0 + 1.0 + 1e-6  # a second after the 25 that went through
    assert limiter.take("GET /v1/account") is None


def test_live_mode_limits_each_endpoint_to_25_and_search_to_20():
    limiter = RateLimiter(mode="live", clock=FakeClock())
    assert [limiter.take("GET /v1/payment_intents/{id}") for _ in range(26)][-2:] == \
        [None, "endpoint-rate"]
    assert [limiter.take("GET /v1/payment_intents/search") for _ in range(21)][-2:] == \
        [None, "endpoint-rate"]
    # 45 went through; the global limit is 100, so other endpoints still answer.
    assert all(limiter.take(f"GET /v1/x{n}") is None for n in range(55))
    assert limiter.take("GET /v1/account") == "global-rate"


def test_off_counts_nothing():
    limiter = RateLimiter(mode="off", clock=FakeClock())
    assert all(limiter.take("GET /v1/account") is None for _ in range(1000))
    with pytest.raises(ValueError):
        RateLimiter(mode="sometimes")


# --- over HTTP, with stripe-python ---------------------------------------------------------

def test_a_burst_over_the_test_limit_gets_429s_that_change_nothing(stripe_client, sandbox):
    sandbox.set_rate_limits("test")
    created, limited = burst(lambda n: stripe_client.v1.payment_intents.create(
        params=CREATE, options={"idempotency_key": f"burst-{n}"}), 30)
    assert (len(created), len(limited)) == (25, 5)
    error = limited[0]
    assert error.http_status == 429
    assert (error.error.type, error.error.code) == ("invalid_request_error", "rate_limit")
    assert error.headers["stripe-should-retry"] == "false"
    assert error.headers["stripe-rate-limited-reason"] == "global-rate"

    log = sandbox.requests("/v1/payment_intents")
    assert [e["status"] for e in log] == [200] * 25 + [429] * 5
    assert {(e["endpoint"], e["rate_limited"]) for e in log if e["status"] == 429} == \
        {("POST /v1/payment_intents", "global-rate")}
    counts = sandbox.rate_limits()["limited"]
    assert counts == {"total": 5, "by_endpoint": {"POST /v1/payment_intents": 5},
                      "by_reason": {"global-rate": 5}}

    sandbox.set_rate_limits("off")
    assert len(stripe_client.v1.payment_intents.list(params={"limit": 100}).data) == 25
    events = stripe_client.v1.events.list(params={"limit": 100}).data
    assert [e.type for e in events] == ["payment_intent.created"] * 25
    # A refused key was not stored: the same request now creates, it replays no 429.
    again = stripe_client.v1.payment_intents.create(params=CREATE,
                                                    options={"idempotency_key": "burst-29"})
    assert again.id not in {intent.id for intent in created}
    assert len(stripe_client.v1.payment_intents.list(params={"limit": 100}).data) == 26


def test_stripe_python_does_not_retry_a_rate_limit(sandbox):
    client = stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox.url},
                                 max_network_retries=2)
    sandbox.set_rate_limits("test")
    burst(lambda n: client.v1.accounts.retrieve_current(), 25)
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.create()
    assert [e["status"] for e in sandbox.requests("/v1/customers")] == [429]


def test_every_intent_id_counts_against_one_endpoint(stripe_client, sandbox):
    ids = [stripe_client.v1.payment_intents.create(params=CREATE).id for _ in range(3)]
    sandbox.set_rate_limits("live")
    _, limited = burst(lambda n: stripe_client.v1.payment_intents.retrieve(ids[n % 3]), 30)
    assert len(limited) == 5
    assert {e.headers["stripe-rate-limited-reason"] for e in limited} == {"endpoint-rate"}
    # Another endpoint, in the same second, is under its own limit and the global one.
    assert len(stripe_client.v1.payment_intents.list().data) == 3
    assert sandbox.rate_limits()["limited"]["by_endpoint"] == \
        {"GET /v1/payment_intents/{id}": 5}


def test_only_the_accounts_own_calls_count(stripe_client, sandbox):
    """Stripe.js's calls from browsers (publishable key) and calls with a wrong key do
    not use the account's budget: 25 of the server's own calls still go through."""
    sandbox.set_rate_limits("test")
    card = {"type": "card", "card[number]": "4242424242424242", "card[exp_month]": "12",
            "card[exp_year]": "2040"}
    with httpx.Client(base_url=sandbox.url) as browser:
        def call(n: int) -> int:
            if n < 5:  # a wrong key: no account to count against
                return browser.get("/v1/account",
                                   headers={"Authorization": "Bearer sk_test_wrong"}).status_code
            if n < 15:  # Stripe.js, with the publishable key
                return browser.post("/v1/payment_methods", data=card, headers={
                    "Authorization": f"Bearer {DEFAULT_PUBLISHABLE_KEY}"}).status_code
            return stripe_client.v1.accounts.retrieve_current()

        answers, limited = burst(call, 41)
    assert answers[:15] == [401] * 5 + [200] * 10 and len(limited) == 1
    assert sandbox.rate_limits()["limited"]["by_endpoint"] == {"GET /v1/account": 1}


# --- the control, the server option and the flag ----------------------------------------

def test_the_control_refuses_an_unknown_mode(sandbox):
    response = httpx.post(sandbox.url + "/_sandbox/rate_limits", json={"mode": "fast"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "mode"
    assert sandbox.rate_limits()["mode"] == "off"


def test_the_start_mode_is_what_a_reset_returns_to():
    with SandboxServer(rate_limits="test") as server:
        state = httpx.get(server.url + "/_sandbox/rate_limits").json()
        assert (state["mode"], state["global_per_second"], state["endpoint_per_second"]) == \
            ("test", 25, 25)
        httpx.post(server.url + "/_sandbox/rate_limits", json={"mode": "live"})
        assert httpx.get(server.url + "/_sandbox/rate_limits").json()["global_per_second"] == \
            100
        httpx.post(server.url + "/_sandbox/reset")
        assert httpx.get(server.url + "/_sandbox/rate_limits").json()["mode"] == "test"


def test_the_rate_limits_flag():
    process, url = start_process("--rate-limits", "live")
    try:
        assert httpx.get(url + "/_sandbox/rate_limits").json()["mode"] == "live"
    finally:
        process.terminate()
        process.wait(10)
    result = subprocess.run([sys.executable, "-m", "stripe_sandbox", "--rate-limits", "fast"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "--rate-limits" in result.stderr
