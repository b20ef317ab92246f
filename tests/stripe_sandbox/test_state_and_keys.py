"""Idempotency keys expire after 24 hours of the sandbox clock; the state file keeps
the sandbox across restarts (and a kill -9); ``--webhook-url`` delivers every event."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import stripe

from stripe_sandbox import DEFAULT_SECRET_KEY, SandboxServer
from stripe_sandbox.idempotency import KEY_LIFETIME_SECONDS, IdempotencyStore, StoredAnswer
from tests.waiting import wait_until

from .test_webhooks_and_controls import Receiver

ROOT = Path(__file__).resolve().parents[2]
CREATE = {"amount": 1000, "currency": "usd"}


def client_for(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": url},
                               max_network_retries=0)


# --- idempotency keys ------------------------------------------------------------------

def test_a_key_replays_for_24_hours_then_creates_anew(stripe_client, sandbox):
    options = {"idempotency_key": "order-17"}
    first = stripe_client.v1.payment_intents.create(params=CREATE, options=options)
    sandbox.advance_clock(KEY_LIFETIME_SECONDS - 60)
    assert stripe_client.v1.payment_intents.create(params=CREATE, options=options).id == \
        first.id
    sandbox.advance_clock(90_000 - (KEY_LIFETIME_SECONDS - 60))
    later = stripe_client.v1.payment_intents.create(params=CREATE, options=options)
    assert later.id != first.id
    assert len(stripe_client.v1.payment_intents.list().data) == 2
    # The fresh answer is the one replayed now.
    assert stripe_client.v1.payment_intents.create(params=CREATE, options=options).id == \
        later.id


def test_old_keys_are_pruned_so_memory_stays_bounded():
    store = IdempotencyStore()
    for n in range(1000):
        store.put(("sk", f"k{n}"), StoredAnswer("f", 200, b"{}", created=n))
    assert store.get(("sk", "k999"), now=999 + KEY_LIFETIME_SECONDS - 1) is not None
    assert len(store) == 1  # everything older went in the same lookup
    assert store.get(("sk", "k999"), now=999 + KEY_LIFETIME_SECONDS) is None
    assert len(store) == 0


# --- state file ------------------------------------------------------------------------

def test_state_survives_a_restart(tmp_path):
    state = tmp_path / "var" / "sandbox-state.json"
    with SandboxServer(state_file=state) as server:
        client = client_for(server.url)
        intent = client.v1.payment_intents.create(params={
            "amount": 2500, "currency": "eur", "confirm": True, "confirmation_method": "manual",
            "payment_method": "pm_card_authenticationRequired", "metadata": {"order": "9"}},
            options={"idempotency_key": "order-9"})
        endpoint = client.v1.webhook_endpoints.create(params={
            "url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]})
        httpx.post(server.url + "/_sandbox/clock/advance", json={"seconds": 600})
        httpx.post(server.url + "/_sandbox/seed", json={"count": 3, "kind": "succeeded",
                                                        "events": True})
    assert state.exists()
    with SandboxServer(state_file=state) as server:
        client = client_for(server.url)
        again = client.v1.payment_intents.retrieve(intent.id)
        assert (again.status, again.amount, again.metadata["order"]) == \
            ("requires_action", 2500, "9")
        replay = client.v1.payment_intents.create(params={
            "amount": 2500, "currency": "eur", "confirm": True, "confirmation_method": "manual",
            "payment_method": "pm_card_authenticationRequired", "metadata": {"order": "9"}},
            options={"idempotency_key": "order-9"})
        assert replay.id == intent.id
        assert [e.id for e in client.v1.webhook_endpoints.list().data] == [endpoint.id]
        assert httpx.get(server.url + "/_sandbox/clock").json()["offset"] == 600
        events = client.v1.events.list(params={"limit": 100}).data
        assert {e.type for e in events} >= {"payment_intent.created",
                                            "payment_intent.requires_action",
                                            "charge.succeeded", "payment_intent.succeeded"}
        assert len(client.v1.payment_intents.list().data) == 4
        charge = client.v1.charges.list().data[0]
        assert client.v1.balance_transactions.retrieve(charge.balance_transaction).amount == \
            2000
        # The live intent goes on where it stopped.
        httpx.post(f"{server.url}/_sandbox/payment_intents/{intent.id}/authenticate",
                   json={"outcome": "complete"})
        assert client.v1.payment_intents.confirm(intent.id).status == "succeeded"


def test_a_state_file_that_cannot_be_read_stops_the_start(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{not json")
    result = subprocess.run([sys.executable, "-m", "stripe_sandbox", "--port", "1",
                             "--state-file", str(state)], cwd=ROOT, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2 and "cannot read the sandbox state file" in result.stderr
    assert state.read_text() == "{not json"  # left for the user to inspect


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_process(*args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "stripe_sandbox", "--port", str(port),
                                *args], cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, what="python -m stripe_sandbox to start")
    return process, url


def test_kill_9_loses_at_most_the_last_second(tmp_path):
    state = tmp_path / "sandbox-state.json"
    process, url = start_process("--state-file", str(state))
    try:
        intent = client_for(url).v1.payment_intents.create(params=CREATE)
        wait_until(lambda: state.exists() and intent.id in state.read_text(),
                   what="the debounced save")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    process, url = start_process("--state-file", str(state))
    try:
        assert client_for(url).v1.payment_intents.retrieve(intent.id).amount == 1000
    finally:
        process.terminate()
        process.wait(10)
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file left behind


# --- --webhook-url ---------------------------------------------------------------------

def test_webhook_url_option_delivers_every_event_signed():
    receiver = Receiver()
    secret = "whsec_siteSecret0123456789"
    process, url = start_process("--webhook-url", receiver.url, "--webhook-secret", secret)
    try:
        client = client_for(url)
        client.v1.payment_intents.create(params={**CREATE, "confirm": True,
                                                 "payment_method": "pm_card_visa"})
        receiver.wait_for(3)
        types = {stripe.Webhook.construct_event(body, signature, secret).type
                 for body, signature in receiver.bodies}
        assert types == {"payment_intent.created", "charge.succeeded",
                         "payment_intent.succeeded"}
        (endpoint,) = client.v1.webhook_endpoints.list().data
        assert (endpoint.url, endpoint.enabled_events) == (receiver.url, ["*"])
        # A reset forgets everything but the endpoint the command line asked for.
        httpx.post(url + "/_sandbox/reset")
        client.v1.customers.create()
        receiver.wait_for(4)
        assert json.loads(receiver.bodies[-1][0])["type"] == "customer.created"
    finally:
        process.terminate()
        process.wait(10)
        receiver.close()


def test_webhook_options_go_together():
    result = subprocess.run([sys.executable, "-m", "stripe_sandbox", "--webhook-url",
                             "http://127.0.0.1:9/hook"], cwd=ROOT, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2 and "--webhook-secret" in result.stderr
