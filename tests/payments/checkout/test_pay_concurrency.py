"""Two /pay calls for the same order at the same moment, on PostgreSQL (the order lock
is what serialises them; SQLite has no such lock), connected directly and through a real
PgBouncer in transaction pooling (where a session-level lock would let both through).
Each test proves that the two calls really were in flight together, so a late second
thread cannot pass it vacuously."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from payments.models import Order, PaymentAttempt, PaymentEvent
from payments.monitoring import scans
from tests.conftest import ApplicationClient, need
from tests.payments.conftest import server_calls, shopper_with_order
from tests.pgbouncer import django_through_pgbouncer


@pytest.fixture(params=["direct", "pgbouncer"])
def postgres(request, transactional_db):
    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    if request.param == "direct":
        yield
        return
    with django_through_pgbouncer():
        yield


def pay_together(client: Client, bodies: list[dict]) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, dict]] = [None] * len(bodies)  # type: ignore[list-item]
    spans: list[tuple[float, float]] = [None] * len(bodies)  # type: ignore[list-item]

    def pay(index: int, body: dict) -> None:
        twin = ApplicationClient()
        twin.cookies = client.cookies  # the same browser session, two tabs
        barrier.wait()
        started = time.monotonic()
        response = twin.post("/pay", json.dumps(body), content_type="application/json")
        spans[index] = (started, time.monotonic())
        results[index] = (response.status_code, response.json())
        connection.close()

    threads = [threading.Thread(target=pay, args=(i, body)) for i, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every call started before any call ended: they overlapped, and the lock was tested.
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans
    return results


def test_two_concurrent_first_payments_create_one_intent(postgres, site_on_sandbox, product,
                                                         sandbox, stripe_client):
    shopper = shopper_with_order(product)
    sandbox.set_latency(300)  # both requests are in flight together
    results = pay_together(shopper.client, [{"payment_method_id": "pm_card_visa"}] * 2)
    sandbox.set_latency(0)
    assert [status for status, _ in results] == [200, 200]
    assert all(body["success"] for _, body in results)
    assert len(server_calls(sandbox)) == 1
    assert len(stripe_client.v1.payment_intents.list().data) == 1
    assert Order.objects.get().status == Order.Status.PAID
    assert shopper.order.attempts.count() == 1


def test_two_concurrent_confirms_confirm_once(postgres, site_on_sandbox, product, sandbox):
    shopper = shopper_with_order(product)
    intent_id = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "complete")
    sandbox.set_latency(300)
    results = pay_together(shopper.client, [{"payment_intent_id": intent_id}] * 2)
    sandbox.set_latency(0)
    assert [(status, body.get("success")) for status, body in results] == [(200, True)] * 2
    confirms = [c for c in server_calls(sandbox) if c["path"].endswith("/confirm")]
    assert len(confirms) == 1


def test_a_shopper_confirm_racing_the_auto_finalize_confirms_once(
        postgres, site_on_sandbox, product, sandbox):
    site_on_sandbox.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    shopper = shopper_with_order(product)
    intent_id = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "complete")
    PaymentAttempt.objects.update(requires_action_at=timezone.now() - timedelta(hours=1))
    sandbox.set_latency(300)
    barrier = threading.Barrier(2)
    spans: dict[str, tuple[float, float]] = {}
    answers: dict[str, object] = {}

    def shopper_confirms() -> None:
        twin = ApplicationClient()
        twin.cookies = shopper.client.cookies
        barrier.wait()
        started = time.monotonic()
        answers["shopper"] = twin.post("/pay", json.dumps({"payment_intent_id": intent_id}),
                                       content_type="application/json").json()
        spans["shopper"] = (started, time.monotonic())
        connection.close()

    def scan_finalizes() -> None:
        barrier.wait()
        started = time.monotonic()
        answers["scan"] = scans.scan_stale()
        spans["scan"] = (started, time.monotonic())
        connection.close()

    threads = [threading.Thread(target=shopper_confirms), threading.Thread(target=scan_finalizes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sandbox.set_latency(0)
    assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values()), spans
    assert answers["shopper"] == {"success": True,
                                  "orderUrl": f"/orders/{shopper.order.reference}/"}
    confirms = [c for c in server_calls(sandbox) if c["path"].endswith("/confirm")]
    assert len(confirms) == 1
    assert Order.objects.get().status == Order.Status.PAID
    assert PaymentEvent.objects.filter(to_status="succeeded").count() == 1
