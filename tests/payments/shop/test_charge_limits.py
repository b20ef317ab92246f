"""Stripe's minimum and maximum charge amounts, said to the shopper before Stripe is
asked: the cart names the least (or most) a card payment in its currency may total and
offers no checkout, and no order is placed for such a total."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from payments.models import Order, Product
from payments.shop.cart import CartError
from payments.shop.limits import charge_limit_words, price_minimum_warning
from payments.shop.orders import order_place

NBSP = "\u00a0"
BELOW_EN = "Card payments in CZK must total at least 15.00 CZK."
BELOW_DE = f"Kartenzahlungen in CZK müssen mindestens 15,00{NBSP}CZK betragen."


@pytest.fixture(autouse=True)
def language_reset():
    """LocaleMiddleware leaves the last request's language active in this thread."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def magnet(db) -> Product:
    """10 CZK: under Stripe's 15 CZK minimum alone, over it two at a time."""
    return Product.objects.create(sku="fridge-magnet", name="Fridge magnet", price=1000,
                                  currency="czk")


def add(client: Client, product: Product, quantity: int):
    return client.post("/cart/", {"action": "add", "sku": product.sku, "quantity": quantity})


@pytest.mark.parametrize(("amount", "currency", "words"), [
    (1499, "czk", BELOW_EN), (1500, "czk", ""),  # two decimals
    (49, "jpy", "Card payments in JPY must total at least 50 JPY."), (50, "jpy", ""),  # none
    (17499, "HUF", "Card payments in HUF must total at least 175.00 HUF."),
    (10, "kwd", ""), (1, "zar", ""),  # not in Stripe's table: no minimum of ours
    (0, "zar", "Card payments in ZAR must total at least 0.01 ZAR."),  # the API's floor
    (99_999_999, "eur", ""),
    (100_000_000, "eur", "Card payments in EUR can total at most 999,999.99 EUR."),
    (100_000_000, "jpy", "Card payments in JPY can total at most 99,999,999 JPY."),
])
def test_the_words_for_an_amount_stripe_refuses(amount, currency, words):
    with translation.override("en"):
        assert charge_limit_words(amount=amount, currency=currency) == words


def test_the_words_name_the_limit_as_the_shoppers_language_writes_money():
    with translation.override("de"):
        assert charge_limit_words(amount=1000, currency="czk") == BELOW_DE
    with translation.override("fr"):
        assert charge_limit_words(amount=40, currency="eur") == \
            f"Les paiements par carte en EUR doivent atteindre au moins 0,50{NBSP}€."


def test_a_cart_below_the_minimum_says_so_next_to_the_total_and_offers_no_checkout(magnet):
    client = Client()
    add(client, magnet, 1)
    page = client.get("/cart/").content.decode()
    assert "10.00 CZK" in page  # the total, still shown
    assert f'<p class="error" role="alert" id="cart-limit">{BELOW_EN}</p>' in page
    assert 'href="/checkout/"' not in page
    # One more reaches the minimum: the words go, the checkout comes.
    client.post("/cart/", {"action": "update", "sku": magnet.sku, "quantity": 2})
    page = client.get("/cart/").content.decode()
    assert "20.00 CZK" in page and "Card payments" not in page
    assert 'href="/checkout/"' in page


def test_a_cart_above_the_maximum_offers_no_checkout(db):
    tractor = Product.objects.create(sku="tractor", name="Tractor", price=60_000_000,
                                     currency="eur")
    client = Client()
    add(client, tractor, 2)
    page = client.get("/cart/").content.decode()
    assert "Card payments in EUR can total at most 999,999.99 EUR." in page
    assert 'href="/checkout/"' not in page
    assert client.get("/checkout/").url == "/cart/"


def test_the_checkout_places_no_order_below_the_minimum_and_says_why_once(magnet):
    client = Client()
    add(client, magnet, 1)
    assert client.get("/checkout/").url == "/cart/"
    # The checkout form sent anyway (a tab left open while the cart shrank).
    answer = client.post("/checkout/", {"email": "a@example.com"}, follow=True)
    assert answer.redirect_chain[-1][0] == "/cart/"
    assert answer.content.decode().count(BELOW_EN) == 1
    assert not Order.objects.exists()
    assert client.session["cart"] == {magnet.sku: 1}  # the cart kept as it was


def test_the_cart_and_checkout_say_it_in_german(magnet):
    client = Client(HTTP_ACCEPT_LANGUAGE="de")
    add(client, magnet, 1)
    page = client.get("/cart/").content.decode()
    assert BELOW_DE in page and 'href="/checkout/"' not in page
    answer = client.post("/checkout/", {"email": "a@example.com"}, follow=True)
    assert answer.content.decode().count(BELOW_DE) == 1
    assert not Order.objects.exists()


def test_placing_the_order_refuses_it_with_the_same_words(magnet):
    """The service itself, whatever its caller checked: no order, the cart kept."""
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session["cart"] = {magnet.sku: 1}
    with translation.override("en"), pytest.raises(CartError) as refused:
        order_place(session=session, email="a@example.com")
    assert refused.value.message == BELOW_EN
    assert not Order.objects.exists() and session["cart"] == {magnet.sku: 1}
    session["cart"] = {magnet.sku: 2}
    assert order_place(session=session, email="a@example.com").amount == 2000


def test_the_merchants_warning_for_a_price_below_the_minimum():
    with translation.override("en"):
        assert price_minimum_warning(price=1000, currency="czk") == (
            "10.00 CZK is below Stripe's smallest card payment in CZK (15.00 CZK): the shop "
            "will ask shoppers for a cart of at least 15.00 CZK before they can check out.")
        assert price_minimum_warning(price=1500, currency="czk") == ""
        assert price_minimum_warning(price=1, currency="zar") == ""  # no known minimum
