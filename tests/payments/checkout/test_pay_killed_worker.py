"""The server process dies while Stripe is creating the intent (a worker timeout, an OOM
kill, a deploy): what Stripe may have done must already be on disk, so the shopper's
retry with another card replays the first create and nothing is charged twice.

The process is killed for real: gunicorn serves /pay against the test database, the
sandbox holds the create for a few seconds, and the test SIGKILLs the worker meanwhile.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection

from payments.models import Order, OrderLine, PaymentAttempt
from tests.conftest import need
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]



@pytest.fixture
def gunicorn(transactional_db, sandbox):
    """gunicorn with one sync worker, on the test database, against the test sandbox."""
    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does): the "
         "server process must share the test database")
    db = connection.settings_dict
    port = free_port()
    env = {**os.environ, "DJANGO_DEBUG": "true", "STRIPE_API_BASE": sandbox.url,
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "STRIPE_MAX_NETWORK_RETRIES": "0", "STRIPE_TIMEOUT_SECONDS": "20",
           "PAYMENTS_PAY_RATE_PER_SESSION": "", "PAYMENTS_PAY_RATE_PER_IP": ""}
    env.pop("REDIS_URL", None)  # sessions in the database the test writes to
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "paymentsite.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--worker-class", "sync", "--timeout", "60", "--log-level",
         "warning"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, timeout=30, what="gunicorn to answer")
        yield server, url
    finally:
        server.terminate()
        server.wait(timeout=15)


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def test_a_worker_killed_mid_create_then_another_card_charges_once(gunicorn, sandbox,
                                                                   stripe_client, product):
    server, url = gunicorn
    order = Order.objects.create(email="shopper@example.com", amount=5198, currency="eur")
    OrderLine.objects.create(order=order, product=product, name=product.name,
                             unit_price=product.price, quantity=2)
    session = SessionStore()
    session["orders"] = [order.reference]
    session.create()
    token = secrets.token_hex(16)  # a CSRF secret of 32 characters, as cookie and header
    client = httpx.Client(base_url=url, timeout=30, headers={"X-CSRFToken": token},
                          cookies={"sessionid": session.session_key, "csrftoken": token})

    def pay(card: str) -> httpx.Response:
        return client.post("/pay", json={"payment_method_id": card,
                                         "order_reference": order.reference})

    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="delay",
                      delay_ms=3000)
    outcome: dict[str, object] = {}

    def first_try() -> None:
        try:
            outcome["response"] = pay("pm_card_visa")
        except httpx.HTTPError as error:
            outcome["error"] = error

    shopper = threading.Thread(target=first_try)
    shopper.start()
    # The attempt is on disk before the create call; then the worker dies mid-call, once
    # the sandbox has the create (its delay fault is taken) and before it answers.
    wait_until(lambda: PaymentAttempt.objects.filter(order=order).exists(), timeout=10,
               what="the attempt to be committed")
    wait_until(lambda: sandbox.faults()[0]["remaining"] == 0, timeout=10,
               what="the create to reach the sandbox")
    [worker] = worker_pids(server.pid)
    os.kill(worker, signal.SIGKILL)
    shopper.join(timeout=30)
    assert "error" in outcome or outcome["response"].status_code >= 500, outcome
    # Stripe finishes the create (and charges the card) after the worker is gone.
    wait_until(lambda: len(stripe_client.v1.payment_intents.list().data) == 1, timeout=10,
               what="the sandbox to finish the delayed create")
    attempt = PaymentAttempt.objects.get(order=order)
    assert (attempt.status, attempt.stripe_id) == ("creating", None)

    wait_until(lambda: len(worker_pids(server.pid)) == 1, timeout=30,
               what="gunicorn to replace its worker")
    retried = pay("pm_card_mastercard")  # Stripe.js makes a new PaymentMethod per submit
    assert retried.status_code == 200, retried.text
    assert retried.json()["success"] is True
    [intent] = stripe_client.v1.payment_intents.list().data
    assert (intent.status, intent.amount_received) == ("succeeded", 5198)
    order.refresh_from_db()
    attempt.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert (attempt.stripe_id, attempt.card_brand) == (intent.id, "visa")
