"""The cart in the session (payments.shop.cart): prices from the database at every read,
one currency, quantities bounded; its summary is what the cart, the checkout and
order_place read."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.db import SessionStore

from payments.models import Product
from payments.shop.cart import (
    CartError,
    cart_add,
    cart_remove,
    cart_set_quantity,
    cart_summary,
)


@pytest.fixture
def session(db) -> SessionStore:
    return SessionStore()


def test_the_summary_adds_current_prices_in_the_carts_currency(session, product):
    cart_add(session=session, sku=product.sku, quantity=2)
    Product.objects.filter(pk=product.pk).update(price=3000)  # repriced since: the new one
    summary = cart_summary(session=session)
    assert (summary.total, summary.currency, summary.mixed) == (6000, "eur", False)
    assert [(line.product.sku, line.quantity) for line in summary.lines] == [(product.sku, 2)]


def test_an_empty_cart_is_not_mixed_and_has_no_total(session):
    summary = cart_summary(session=session)
    assert (summary.lines, summary.total, summary.currency, summary.mixed) == \
        ([], None, None, False)


def test_a_product_repriced_in_another_currency_makes_the_cart_mixed(session, product):
    Product.objects.create(sku="paper-fan", name="Paper fan", price=1500, currency="eur")
    cart_add(session=session, sku=product.sku, quantity=1)
    cart_add(session=session, sku="paper-fan", quantity=1)
    Product.objects.filter(sku="paper-fan").update(currency="jpy")
    summary = cart_summary(session=session)
    assert (summary.total, summary.currency, summary.mixed) == (None, None, True)
    cart_remove(session=session, sku="paper-fan")
    assert cart_summary(session=session).total == 2599


def test_a_withdrawn_product_leaves_the_cart(session, product):
    cart_add(session=session, sku=product.sku, quantity=1)
    Product.objects.filter(pk=product.pk).update(active=False)
    assert cart_summary(session=session).lines == []


@pytest.mark.parametrize("quantity", [0, 100, -1, True, 1.5, "2"])
def test_a_quantity_out_of_bounds_changes_nothing(session, product, quantity):
    cart_add(session=session, sku=product.sku, quantity=1)
    with pytest.raises(CartError):
        cart_set_quantity(session=session, sku=product.sku, quantity=quantity)
    assert cart_summary(session=session).lines[0].quantity == 1


def test_adding_past_the_most_is_refused(session, product):
    cart_add(session=session, sku=product.sku, quantity=99)
    with pytest.raises(CartError):
        cart_add(session=session, sku=product.sku, quantity=1)
    assert cart_summary(session=session).total == 99 * 2599
