"""A shopper with an order, paying through the real /pay endpoint against the sandbox."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from payments.models import Incident, Order, PaymentAttempt, Product
from payments.monitoring import scans
from tests.conftest import ApplicationClient
from tests.payments.factories import OPS, SITE


@pytest.fixture
def product(db) -> Product:
    return Product.objects.create(sku="espresso-cups", name="Espresso cups", price=2599,
                                  currency="eur")


@dataclass
class Shopper:
    client: Client
    order: Order

    def pay(self, **body: object):
        return self.client.post("/pay", json.dumps(body), content_type="application/json")

    def pay_raw(self, body: str | bytes):
        return self.client.post("/pay", body, content_type="application/json")

    def order_now(self) -> Order:
        self.order.refresh_from_db()
        return self.order


def shopper_with_order(product: Product, quantity: int = 2, client: Client | None = None
                       ) -> Shopper:
    """A fresh session that put ``quantity`` of ``product`` in its cart and checked out;
    its requests answered by the site's WSGI application, as in production (/pay through
    its own middleware chain, paymentsite/wsgi.py)."""
    client = client or ApplicationClient()
    client.post("/cart/", {"action": "add", "sku": product.sku, "quantity": quantity})
    response = client.post("/checkout/", {"email": "shopper@example.com"})
    assert response.status_code == 302, response.content
    reference = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    return Shopper(client=client, order=Order.objects.get(reference=reference))


@pytest.fixture
def shopper(site_on_sandbox, product) -> Shopper:
    return shopper_with_order(product)


def random_address() -> str:
    """A documentation IPv6 address in its own /64 (the block the throttles count), so
    counters left in a shared Redis by an earlier run cannot interfere."""
    return f"2001:db8:{secrets.randbits(16):x}:{secrets.randbits(16):x}::1"


def server_calls(sandbox, path: str = "/v1/payment_intents") -> list[dict]:
    """The calls our server made to Stripe (secret key), not Stripe.js's."""
    return [entry for entry in sandbox.requests(path) if not entry["publishable"]]


def shopper_abandoned(product: Product, sandbox, *, authenticated: bool
                      ) -> tuple[Shopper, Incident]:
    """A shopper who went to the bank (and passed, if ``authenticated``), then left an hour
    ago; the stale sweep has opened the incident."""
    shopper = shopper_with_order(product)
    intent_id = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"].split("_secret_")[0]
    if authenticated:
        sandbox.authenticate(intent_id, "complete")
    PaymentAttempt.objects.filter(stripe_id=intent_id).update(
        requires_action_at=timezone.now() - timedelta(hours=1))
    scans.scan_stale()
    return shopper, Incident.objects.get(stripe_id=intent_id)


# --- mail ---------------------------------------------------------------------------------

@pytest.fixture
def mailbox(db, settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = SITE + "/"
    settings.DEFAULT_FROM_EMAIL = "Shop <shop@example.com>"
    settings.PAYMENTS_OPS_EMAILS = list(OPS)
    settings.PAYMENTS_ALERT_FAILED_AUTH_RATE = 0.25
    settings.PAYMENTS_ALERT_MIN_PAYMENTS = 4
    cache.clear()
    yield mailoutbox
    cache.clear()


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops-person")


@pytest.fixture
def ops(db) -> User:
    """An ops person (Payments ops): the recovery and privacy tests act as her."""
    user = User.objects.create_user("olga", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Payments ops"))
    return user
