"""Webhook delivery as Stripe schedules it (``test``/``live`` retries on the sandbox clock)
and the delivery faults: drop, duplicate, hold and release out of order."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from stripe_sandbox.webhooks import LIVE_MAX_DELAY, LIVE_WINDOW, live_retry_delays
from tests.waiting import wait_until

from .test_state_and_keys import free_port
from .test_webhooks_and_controls import Receiver


@pytest.fixture
def hooks(sandbox, stripe_client):
    """A receiver with an endpoint for every event; the sandbox is reset afterwards, so
    deliveries left dropped, held or waiting do not hold up the shared teardown."""
    made: list[Receiver] = []

    def make(failures: int = 0, url: str | None = None) -> Receiver:
        receiver = Receiver(failures)
        made.append(receiver)
        stripe_client.v1.webhook_endpoints.create(params={"url": url or receiver.url,
                                                          "enabled_events": ["*"]})
        return receiver

    yield make
    sandbox.reset()
    for receiver in made:
        receiver.close()


def event_ids(receiver: Receiver) -> list[str]:
    return [json.loads(body)["id"] for body, _ in receiver.bodies]


def settled(sandbox, count: int) -> list[dict]:
    """The deliveries, once ``count`` of them have stopped changing state."""
    return wait_until(lambda: (lambda d: d if sum(x["state"] != "pending" for x in d) >= count
                               else None)(sandbox.deliveries()),
                      what=f"{count} deliveries to settle")


# --- drop and duplicate ------------------------------------------------------------------

def test_a_dropped_delivery_is_logged_never_sent_and_not_retried(sandbox, stripe_client, hooks):
    hook = hooks()
    sandbox.add_webhook_fault("drop", count=1)
    lost = stripe_client.v1.customers.create()
    kept = stripe_client.v1.customers.create()
    deliveries = settled(sandbox, 2)
    assert [(d["state"], d["fault"]) for d in deliveries] == [("dropped", "drop"),
                                                               ("delivered", None)]
    (attempt,) = deliveries[0]["attempts"]
    assert (attempt["fault"], attempt["status"], attempt["attempt"]) == ("drop", None, 1)
    events = {e.data.object.id: e for e in stripe_client.v1.events.list().data}
    assert event_ids(hook) == [events[kept.id].id]
    # Stripe saw nothing fail: the event is not left pending.
    assert events[lost.id].pending_webhooks == 0
    assert sandbox.webhook_faults()[0]["remaining"] == 0


def test_a_fault_can_pick_the_event_type(sandbox, stripe_client, hooks):
    hook = hooks()
    sandbox.add_webhook_fault("drop", event_type="payment_intent.succeeded")
    stripe_client.v1.payment_intents.create(params={
        "amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True})
    settled(sandbox, 3)
    assert sorted(json.loads(body)["type"] for body, _ in hook.bodies) == \
        ["charge.succeeded", "payment_intent.created"]


def test_a_duplicated_delivery_arrives_twice_and_counts_once(sandbox, stripe_client, hooks):
    hook = hooks()
    sandbox.add_webhook_fault("duplicate", count=1)
    customer = stripe_client.v1.customers.create()
    deliveries = settled(sandbox, 2)
    assert [d["state"] for d in deliveries] == ["delivered", "delivered"]
    assert deliveries[1]["duplicate_of"] == deliveries[0]["id"]
    assert deliveries[1]["fault"] == "duplicate"
    (event,) = stripe_client.v1.events.list().data
    assert event.data.object.id == customer.id
    assert event_ids(hook) == [event.id, event.id]
    assert event.pending_webhooks == 0


# --- hold and release out of order ---------------------------------------------------------

def test_held_deliveries_go_out_in_reverse_order_on_release(sandbox, stripe_client, hooks):
    hook = hooks()
    sandbox.hold_webhooks()
    customers = [stripe_client.v1.customers.create().id for _ in range(4)]
    held = sandbox.deliveries()
    assert [d["state"] for d in held] == ["held"] * 4 and hook.bodies == []
    assert sandbox.webhooks()["held"] == 4
    released = sandbox.release_webhooks("reverse")
    assert released == [d["id"] for d in reversed(held)]
    hook.wait_for(4)
    by_customer = {e.data.object.id: e.id for e in stripe_client.v1.events.list().data}
    assert event_ids(hook) == [by_customer[c] for c in reversed(customers)]
    deliveries = settled(sandbox, 4)
    assert {a["fault"] for d in deliveries for a in d["attempts"]} == {"hold, released reverse"}
    assert sandbox.webhooks()["holding"] is False


def test_a_shuffled_release_sends_in_the_order_it_names(sandbox, stripe_client, hooks):
    hook = hooks()
    sandbox.hold_webhooks()
    for _ in range(6):
        stripe_client.v1.customers.create()
    events = {d["id"]: d["event"] for d in sandbox.deliveries()}
    released = sandbox.release_webhooks("shuffle", seed=3)
    hook.wait_for(6)
    assert event_ids(hook) == [events[i] for i in released]
    assert sorted(released) == sorted(events) and released != list(events)


# --- the retry schedule --------------------------------------------------------------------

def test_test_mode_retries_three_times_over_hours_of_the_sandbox_clock(sandbox, stripe_client,
                                                                        hooks):
    """Stripe: "In test mode, Stripe retries three times over a few hours." An endpoint
    that is down (the connection refused) gets four attempts in all, as the clock moves."""
    sandbox.set_webhook_retries("test")
    assert sandbox.webhooks()["retry_delays"] == [1800, 3600, 7200]
    hooks(url=f"http://127.0.0.1:{free_port()}/down")
    stripe_client.v1.customers.create()

    def attempts() -> list[dict]:
        return sandbox.deliveries()[0]["attempts"]

    for number, delay in enumerate([1800, 3600, 7200], start=1):
        delivery = wait_until(lambda n=number: (lambda d: d if len(d["attempts"]) == n
                                                and d["next_attempt_at"] else None)(
            sandbox.deliveries()[0]), what=f"attempt {number} and its retry time")
        last = delivery["attempts"][-1]
        # The clock counts whole seconds: the retry time is taken just after the answer.
        assert delivery["next_attempt_at"] - last["sandbox_time"] in (delay, delay + 1)
        wait = delivery["next_attempt_at"] - sandbox.clock()["now"]
        sandbox.advance_clock(wait - 10)
        time.sleep(0.3)
        assert len(attempts()) == number, "retried before its time"
        sandbox.advance_clock(10)
        wait_until(lambda n=number: len(attempts()) == n + 1, what=f"retry {number}")
    delivery = wait_until(lambda: (lambda d: d if d["state"] == "failed" else None)(
        sandbox.deliveries()[0]), what="the delivery to give up")
    assert [a["attempt"] for a in delivery["attempts"]] == [1, 2, 3, 4]
    assert all(a["status"] is None and a["error"].startswith("ConnectError")
               and a["event"] == delivery["event"] and a["endpoint"] == delivery["endpoint"]
               for a in delivery["attempts"])
    sandbox.advance_clock(7 * 86400)
    time.sleep(0.2)
    assert len(attempts()) == 4


def test_live_mode_backs_off_for_up_to_three_days(sandbox, stripe_client, hooks):
    delays = live_retry_delays()
    assert delays[:4] == (300, 600, 1200, 2400) and max(delays) == LIVE_MAX_DELAY
    assert sum(delays) <= LIVE_WINDOW < sum(delays) + LIVE_MAX_DELAY
    sandbox.set_webhook_retries("live")
    hook = hooks(failures=1)
    stripe_client.v1.customers.create()
    wait_until(lambda: sandbox.deliveries()[0]["next_attempt_at"], what="the first failure")
    sandbox.advance_clock(300)
    hook.wait_for(2)
    (delivery,) = settled(sandbox, 1)
    assert [a["status"] for a in delivery["attempts"]] == [500, 200]
    assert delivery["state"] == "delivered"


# --- controls ----------------------------------------------------------------------------------

def test_a_reset_ends_holding_faults_and_the_retry_mode(sandbox):
    start = sandbox.webhooks()
    sandbox.hold_webhooks()
    sandbox.add_webhook_fault("duplicate", count=3)
    sandbox.set_webhook_retries("live")
    sandbox.reset()
    assert sandbox.webhooks() == start
    assert (start["holding"], start["faults"], start["retries"]) == (False, [], "fast")


@pytest.mark.parametrize("path,body,param", [
    ("webhooks/faults", {"action": "explode"}, "action"),
    ("webhooks/faults", {"action": "drop", "count": 0}, "count"),
    ("webhooks/faults", {"action": "drop", "count": "²"}, "count"),
    ("webhooks/faults", {"action": "drop", "event_type": ["x"]}, "event_type"),
    ("webhooks/release", {"order": "sideways"}, "order"),
    ("webhooks/release", {"order": "shuffle", "seed": "-1"}, "seed"),
    ("webhooks/retries", {"mode": "slow"}, "mode"),
])
def test_bad_webhook_control_input_is_400(sandbox, path, body, param):
    response = httpx.post(f"{sandbox.url}/_sandbox/{path}", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert sandbox.webhook_faults() == [] and sandbox.webhooks()["retries"] == "fast"
