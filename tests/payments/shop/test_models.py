"""The shop's models: a currency is kept as Stripe writes it, whoever typed it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from payments.models import Order, Product
from tests.conftest import ApplicationClient
from tests.payments.conftest import server_calls, shopper_with_order


def product_add(client, **fields):
    data = {"sku": "mug", "name": "Mug", "description": "", "price": "1500",
            "currency": "eur", "active": "on", **fields}
    return client.post("/admin/payments/product/add/", data)


@pytest.fixture
def merchant_admin(db) -> ApplicationClient:
    client = ApplicationClient()
    client.force_login(User.objects.create_superuser("boss", "boss@example.com", "x"))
    return client


def test_a_currency_is_stored_in_lower_case_however_it_was_written(db):
    product = Product.objects.create(sku="mug", name="Mug", price=1500, currency="EUR")
    order = Order.objects.create(email="a@example.com", amount=1500, currency=" Usd ")
    product.refresh_from_db()
    order.refresh_from_db()
    assert (product.currency, order.currency) == ("eur", "usd")


def test_a_product_typed_EUR_in_the_admin_is_paid_and_its_order_marked_paid(
        merchant_admin, site_on_sandbox, sandbox):
    """The admin shows prices as "15.00 EUR", which invites typing the currency so; Stripe
    answers "eur", and the order is paid only for its own amount and currency."""
    response = product_add(merchant_admin, currency="EUR")
    assert response.status_code == 302, response.content
    product = Product.objects.get(sku="mug")
    assert product.currency == "eur"

    shopper = shopper_with_order(product, quantity=1)
    assert shopper.order.currency == "eur"
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"] is True
    order = shopper.order_now()
    assert order.status == Order.Status.PAID
    assert len(server_calls(sandbox)) == 1


CODE = "Enter a three-letter ISO currency code, such as EUR."


@pytest.mark.parametrize("typed,message", [
    ("€", CODE), ("e1r", CODE), ("eu", CODE), ("EURO", "has at most 3 characters")])
def test_the_admin_refuses_a_currency_that_is_not_a_three_letter_code(merchant_admin, typed,
                                                                      message):
    response = product_add(merchant_admin, currency=typed)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Product.objects.filter(sku="mug").exists()


@pytest.mark.parametrize("typed", ["xyz", "DEM", "Xts"])
def test_the_admin_refuses_a_code_no_country_pays_with_today(merchant_admin, typed):
    # Each passed the three-letter check and failed every shopper at Stripe ("Invalid
    # currency"), in Stripe's words for developers.
    response = product_add(merchant_admin, currency=typed)
    assert response.status_code == 200
    assert (f"{typed.upper()} is not a currency any country pays with today (ISO 4217). "
            "Enter one such as EUR.") in response.content.decode()
    assert not Product.objects.filter(sku="mug").exists()


@pytest.mark.parametrize("typed", ["NGN", "chf", "KWD"])
def test_the_admin_takes_any_currency_a_country_pays_with(merchant_admin, typed):
    response = product_add(merchant_admin, currency=typed, price="5120")  # KWD: ends in 0
    assert response.status_code == 302, response.content
    assert Product.objects.get(sku="mug").currency == typed.lower()
