"""One budget of Stripe calls for the account (payments.stripe.budget), in Redis when
REDIS_URL is set (shared by every process) or in this process: shoppers first,
background yields, and no call over Stripe's limits reaches the sandbox enforcing them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from payments.stripe import budget, gateway
from payments.stripe.budget import stripe_calls_for
from payments.telemetry import counters


@pytest.fixture
def limited(site_on_sandbox, sandbox, settings):
    """The sandbox enforcing Stripe's test-mode limits (25/s), our budget sized to them."""
    sandbox.set_rate_limits("test")
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 25
    settings.STRIPE_RATE_LIMIT_PER_ENDPOINT = 25
    settings.STRIPE_BUDGET_SHARE = 0.8  # 20 a second for us
    settings.STRIPE_BUDGET_FOREGROUND_RESERVE = 10
    settings.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 4
    settings.STRIPE_BUDGET_MAX_WAIT_SECONDS = 0.3
    counters.counters_clear()
    time.sleep(1.05)  # windows of earlier tests (the same Redis) are over
    yield sandbox
    sandbox.set_rate_limits("off")


def test_a_burst_of_shopper_calls_stays_within_the_budget_and_the_rest_is_refused(limited):
    """40 reads at once: the budget lets 20 through in the second and refuses the others
    after their short wait, so Stripe never answers 429; the refused ones cost nothing."""
    intent = gateway.payment_intent_create(
        amount=1000, currency="eur", payment_method="pm_card_visa", idempotency_key="b-1",
        metadata={}, handle_actions=True)
    time.sleep(1.05)

    def read(_: int) -> str:
        with stripe_calls_for("shopper"):
            try:
                gateway.payment_intent_retrieve(intent_id=intent.id)
                return "read"
            except gateway.RateLimited as error:
                return error.code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(read, range(40)))
    assert time.monotonic() - started < 1.0, "the burst took over a second: too slow to tell"
    assert results.count("rate_limit") == 0  # Stripe never had to refuse
    assert 16 <= results.count("read") <= 20  # the sliding window lets about 20 by
    assert results.count("budget") == 40 - results.count("read")
    assert limited.rate_limits()["limited"]["total"] == 0
    read_calls = [r for r in limited.requests(f"/v1/payment_intents/{intent.id}")
                  if r["method"] == "GET"]
    assert len(read_calls) == results.count("read")  # a refused call never left us
    counted = counters.counters_read()
    refused = counters.field("stripe_budget_refused", {
        "endpoint": gateway.RETRIEVE, "source": "shopper"})
    assert counted[refused] == results.count("budget")


def test_background_calls_are_paced_and_yield_to_shoppers(limited):
    """Background reads go at their own pace (4/s here); while shoppers' calls fill the
    budget beyond the foreground reserve, background waits and shoppers are never
    refused."""
    intent = gateway.payment_intent_create(
        amount=1000, currency="eur", payment_method="pm_card_visa", idempotency_key="b-2",
        metadata={}, handle_actions=True)
    stop = threading.Event()
    background_times: list[float] = []

    def background() -> None:
        with stripe_calls_for("scan"):
            while not stop.is_set():
                gateway.payment_intent_retrieve(intent_id=intent.id)
                background_times.append(time.monotonic())

    worker = threading.Thread(target=background)
    worker.start()
    time.sleep(2.0)
    alone = len(background_times)
    # Shoppers now spend 15 calls a second, more than budget − reserve (20 − 10).
    shopper_refused = 0
    shoppers_from = time.monotonic()
    with stripe_calls_for("shopper"):
        for _ in range(45):
            try:
                gateway.payment_intent_retrieve(intent_id=intent.id)
            except gateway.RateLimited:
                shopper_refused += 1
            time.sleep(1 / 15)
    shoppers_until = time.monotonic()
    stop.set()
    worker.join(timeout=5)
    # Once the shoppers' second is full (after its first second), background waits.
    during = [t for t in background_times if shoppers_from + 1.0 <= t <= shoppers_until]
    assert 6 <= alone <= 10  # about 4 a second for two seconds
    assert shopper_refused == 0
    assert len(during) <= 1, (len(during), shoppers_until - shoppers_from)
    assert limited.rate_limits()["limited"]["total"] == 0


def test_without_a_budget_nothing_waits(site_on_sandbox, sandbox, settings):
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 0
    assert budget.budget_spend(endpoint=gateway.RETRIEVE) == 0.0


def test_an_unknown_source_is_refused():
    with pytest.raises(ValueError), stripe_calls_for("shoppers"):
        pass


def test_every_stripe_call_is_counted_by_source_endpoint_and_status(site_on_sandbox, sandbox):
    counters.counters_clear()
    with stripe_calls_for("ops"), pytest.raises(gateway.CardDeclined):
        gateway.payment_intent_create(
            amount=1000, currency="eur", payment_method="pm_card_chargeDeclined",
            idempotency_key="c-2", metadata={}, handle_actions=True)
    with stripe_calls_for("scan"), pytest.raises(gateway.InvalidRequest):
        gateway.payment_intent_retrieve(intent_id="pi_noSuchIntent")
    counted = counters.counters_read()
    assert counted[counters.field("stripe_calls", {
        "endpoint": gateway.CREATE, "source": "ops", "status": "402"})] == 1
    assert counted[counters.field("stripe_calls", {
        "endpoint": gateway.RETRIEVE, "source": "scan", "status": "404"})] == 1


def test_with_redis_down_shoppers_go_at_once_and_background_keeps_its_pace(own_redis,
                                                                           settings,
                                                                           monkeypatch):
    """Each process counts its own calls while Redis is away: a shopper's call is never
    held, and background calls are not let loose on the account."""
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 25
    settings.STRIPE_BUDGET_SHARE = 1.0
    settings.STRIPE_BUDGET_FOREGROUND_RESERVE = 10
    settings.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 3
    endpoint = "GET /v1/payment_intents/{id}"
    own_redis.kill()
    monkeypatch.setattr(budget, "_local", budget._LocalWindows())  # empty windows
    with stripe_calls_for("shopper"):
        assert budget.budget_spend(endpoint=endpoint) < 0.5
    limits = budget.limits_get()
    taken = [budget._take(endpoint=endpoint, endpoint_limit=limits.endpoint, limits=limits,
                          foreground=False) for _ in range(5)]
    assert taken == [True, True, True, False, False]
