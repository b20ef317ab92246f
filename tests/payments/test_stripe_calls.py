"""Stripe calls per checkout from every source: /pay, the webhooks Stripe sends about it,
and the worker that processes them. The floor is one call without authentication, two
with it; webhooks add none (their events say the state; nothing is read back)."""

from __future__ import annotations

import pytest
from django.db import connection

from payments.models import Order, WebhookEvent
from tests.conftest import need
from tests.payments.conftest import server_calls, shopper_with_order
from tests.payments.monitoring.test_events import webhooks_to  # noqa: F401 (a fixture)
from tests.waiting import wait_until


def checkout(product, sandbox, card: str) -> Order:
    shopper = shopper_with_order(product)
    answer = shopper.pay(payment_method_id=card)
    if card == "pm_card_authenticationRequired":
        intent_id = answer.json()["clientSecret"].split("_secret_")[0]
        sandbox.authenticate(intent_id, "complete")  # the bank's modal
        answer = shopper.pay(payment_intent_id=intent_id,
                             order_reference=shopper.order.reference)
    return shopper.order_now()


@pytest.mark.parametrize(("card", "calls", "events", "paid"), [
    ("pm_card_visa", 1, ["payment_intent.succeeded"], True),
    ("pm_card_authenticationRequired", 2,
     ["payment_intent.requires_action", "payment_intent.succeeded"], True),
    ("pm_card_chargeDeclinedInsufficientFunds", 1, ["payment_intent.payment_failed"], False),
])
def test_one_checkout_costs_the_floor_with_its_webhooks_processed(
        site_on_sandbox, sandbox, webhooks_to, live_server, celery_worker, card,  # noqa: F811
        calls, events, paid):
    need(connection.vendor == "postgresql", "PostgreSQL is not configured (set DATABASE_URL="
         "postgres://…; .ci/run does): the live server and the worker need their own "
         "connections")
    from payments.models import Product

    product = Product.objects.create(sku="lamp", name="Lamp", price=14500, currency="eur")
    webhooks_to(live_server.url)
    sandbox.clear_requests()
    order = checkout(product, sandbox, card)
    assert (order.status == Order.Status.PAID) is paid
    wait_until(lambda: sorted(WebhookEvent.objects.filter(processed_at__isnull=False)
                              .values_list("type", flat=True)) == sorted(events),
               timeout=20, what=f"the events {events} stored and processed")
    made = [(c["method"], c["endpoint"]) for c in server_calls(sandbox, "/v1/")]
    assert len(made) == calls, made
    assert all(method == "POST" for method, _ in made), made  # nothing read back
