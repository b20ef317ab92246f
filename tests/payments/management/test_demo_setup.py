"""demo_setup, as the run command calls it: products, the admin login, and a webhook
endpoint at the sandbox that delivers to the site."""

from __future__ import annotations

from django.core.management import call_command
from django.db import connection
from djstripe.models import WebhookEndpoint

from payments.models import Product, WebhookEvent
from payments.stripe.facts import WEBHOOK_EVENT_TYPES
from tests.conftest import need
from tests.payments.conftest import shopper_with_order
from tests.waiting import wait_until

# On SQLite the live server shares the test's one connection, and a burst of webhook
# deliveries uses it from another thread at the same time as the test: flaky by design.
SHARED_CONNECTION = ("PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run "
                     "does): webhooks delivered to the live server need their own connection")


def test_demo_setup_registers_one_webhook_endpoint_that_delivers_to_the_site(
        site_on_sandbox, sandbox, stripe_client, live_server, transactional_db, staff_roles,
        monkeypatch):
    need(connection.vendor == "postgresql", SHARED_CONNECTION)
    monkeypatch.setattr("stripe.api_base", sandbox.url)  # dj-stripe's module-level client
    site_on_sandbox.DEBUG = True  # the demo login is made only with DEBUG on
    call_command("demo_setup", webhooks_to=live_server.url)
    call_command("demo_setup", webhooks_to=live_server.url)  # a rerun finds it
    assert Product.objects.count() == 4
    from django.contrib.auth.models import User

    assert {(u.username, u.is_superuser, tuple(u.groups.values_list("name", flat=True)))
            for u in User.objects.all()} == {("admin", True, ()),
                                              ("merchant", False, ("Merchants",)),
                                              ("ops", False, ("Payments ops",))}
    [registered] = stripe_client.v1.webhook_endpoints.list().data
    # Only the events the product uses: Stripe sends (and we store) nothing else.
    assert sorted(registered.enabled_events) == sorted(WEBHOOK_EVENT_TYPES)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.url.startswith(live_server.url)

    shopper = shopper_with_order(Product.objects.get(sku="desk-lamp"))
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"] is True
    wait_until(lambda: WebhookEvent.objects.filter(type="payment_intent.succeeded").exists(),
               what="the payment_intent.succeeded webhook")
    # Let every delivery land before the live server and its database go away.
    wait_until(lambda: all(d["delivered"] for d in sandbox.deliveries()),
               what="every webhook delivery")


def test_a_sandbox_that_forgot_the_endpoint_gets_it_again(site_on_sandbox, sandbox,
                                                          stripe_client, db, monkeypatch):
    monkeypatch.setattr("stripe.api_base", sandbox.url)
    site_on_sandbox.DEBUG = True
    call_command("demo_setup", webhooks_to="http://127.0.0.1:8000")
    sandbox.reset()
    call_command("demo_setup", webhooks_to="http://127.0.0.1:8000")
    assert len(stripe_client.v1.webhook_endpoints.list().data) == 1
    assert WebhookEndpoint.objects.count() == 1
