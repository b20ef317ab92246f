"""A shopper with an order, paying through the real /pay endpoint against the sandbox."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.test import Client

from payments.models import Order, Product


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
    """A fresh session that put ``quantity`` of ``product`` in its cart and checked out."""
    client = client or Client()
    client.post("/cart/", {"action": "add", "sku": product.sku, "quantity": quantity})
    response = client.post("/checkout/", {"email": "shopper@example.com"})
    assert response.status_code == 302, response.content
    reference = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    return Shopper(client=client, order=Order.objects.get(reference=reference))


@pytest.fixture
def shopper(site_on_sandbox, product) -> Shopper:
    return shopper_with_order(product)


def server_calls(sandbox, path: str = "/v1/payment_intents") -> list[dict]:
    """The calls our server made to Stripe (secret key), not Stripe.js's."""
    return [entry for entry in sandbox.requests(path) if not entry["publishable"]]
