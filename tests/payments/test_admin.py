"""The merchant's read-only view: a legacy-mode 3-D Secure failure is findable, amounts
read as money, and our section leads the admin."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin

from payments.models import Order
from tests.payments.conftest import shopper_with_order

NBSP = "\u00a0"  # the admin keeps "51.98 EUR" and a card on one line


@pytest.fixture
def merchant(admin_client):
    return admin_client


def test_a_legacy_authentication_failure_shows_in_the_admin(site_on_sandbox, product,
                                                            merchant):
    site_on_sandbox.PAYMENTS_HANDLE_ACTIONS = False
    failed = shopper_with_order(product)
    failed.pay(payment_method_id="pm_card_authenticationRequired")
    site_on_sandbox.PAYMENTS_HANDLE_ACTIONS = True
    paid = shopper_with_order(product)
    paid.pay(payment_method_id="pm_card_visa")
    page = merchant.get("/admin/payments/paymentattempt/",
                        {"last_decline_code": "authentication_not_handled"})
    assert page.status_code == 200
    html = page.content.decode()
    assert failed.order.reference in html and paid.order.reference not in html
    attempt = failed.order.attempts.get()
    detail = merchant.get(f"/admin/payments/paymentattempt/{attempt.pk}/change/")
    assert detail.status_code == 200 and "authentication_not_handled" in detail.content.decode()
    order_page = merchant.get(f"/admin/payments/order/{paid.order.pk}/change/").content.decode()
    assert f"51.98{NBSP}EUR" in order_page and "Succeeded" in order_page


def test_payments_cannot_be_edited_or_deleted_in_the_admin(site_on_sandbox, product,
                                                           merchant):
    shopper = shopper_with_order(product)
    shopper.pay(payment_method_id="pm_card_visa")
    attempt = shopper.order.attempts.get()
    response = merchant.post(f"/admin/payments/paymentattempt/{attempt.pk}/delete/",
                             {"post": "yes"})
    assert response.status_code == 403
    assert merchant.get("/admin/payments/order/add/").status_code == 403
    attempt.refresh_from_db()
    assert attempt.status == "succeeded"


def cells(html: str) -> list[str]:
    """The text of every table cell, tags stripped."""
    found = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html, flags=re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in found]


@pytest.fixture
def paid_order(site_on_sandbox, product) -> Order:
    shopper = shopper_with_order(product, quantity=3)  # 3 × 25.99 EUR
    shopper.pay(payment_method_id="pm_card_visa")
    return shopper.order_now()


def test_amounts_read_as_money_in_lists_details_and_inlines(paid_order, merchant):
    attempt = paid_order.attempts.get()
    pages = {
        "orders": merchant.get("/admin/payments/order/"),
        "order": merchant.get(f"/admin/payments/order/{paid_order.pk}/change/"),
        "attempts": merchant.get("/admin/payments/paymentattempt/"),
        "attempt": merchant.get(f"/admin/payments/paymentattempt/{attempt.pk}/change/"),
    }
    for name, page in pages.items():
        html = page.content.decode()
        assert page.status_code == 200, name
        assert f"77.97{NBSP}EUR" in html, name
        # Never the stored minor units or a bare currency code.
        assert not {"7797", "2599", "eur"} & set(cells(html)), name
        assert not re.search(r'<div class="readonly">\s*(7797|eur)\s*</div>', html), name
    order_html = pages["order"].content.decode()
    assert f"25.99{NBSP}EUR" in order_html  # the line's unit price


def test_order_lines_say_what_was_bought(paid_order, merchant):
    html = merchant.get(f"/admin/payments/order/{paid_order.pk}/change/").content.decode()
    assert "3 × Espresso cups" in html
    assert "OrderLine object" not in html and "PaymentAttempt object" not in html


def test_the_attempts_list_has_few_compact_columns(paid_order, merchant):
    attempt = paid_order.attempts.get()
    html = merchant.get("/admin/payments/paymentattempt/").content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-([\w]+)', html)
    assert headers == ["intent", "order_link", "status", "amount_display", "card", "failure",
                       "updated"]
    row = cells(html)[len(headers):]
    assert row[0] == f"{attempt.stripe_id[:9]}\u2060…\u2060{attempt.stripe_id[-4:]}"
    assert row[1] == paid_order.reference and row[2] == "Succeeded"
    assert row[4] == NBSP.join(["visa", "••••", "4242", "(US)"])
    assert f'href="/admin/payments/order/{paid_order.pk}/change/"' in html
    assert f'title="{attempt.stripe_id}"' in html  # the full id, on hover


def test_a_decline_shows_its_code_in_the_list(site_on_sandbox, product, merchant):
    shopper_with_order(product).pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds")
    html = merchant.get("/admin/payments/paymentattempt/").content.decode()
    assert "insufficient_funds" in cells(html)


def test_the_order_page_shows_the_session_hash_never_the_key(paid_order, merchant):
    html = merchant.get(f"/admin/payments/order/{paid_order.pk}/change/").content.decode()
    assert "session_key" not in html.lower() and "Session key" not in html
    assert paid_order.session_hash and paid_order.session_hash in html


def test_payments_come_first_in_the_admin_index(merchant):
    html = merchant.get("/admin/").content.decode()
    apps = re.findall(r'class="app-(\w+) module', html)
    assert apps[0] == "payments" and {"auth", "djstripe"} <= set(apps)


def test_only_the_stripe_models_ops_needs_stay_in_the_admin(merchant):
    from djstripe import models as djstripe_models

    for kept in ("paymentintent", "charge", "event", "webhookendpoint",
                 "webhookeventtrigger", "customer", "paymentmethod"):
        assert merchant.get(f"/admin/djstripe/{kept}/").status_code == 200, kept
    for dropped in (djstripe_models.Subscription, djstripe_models.Invoice,
                    djstripe_models.Coupon, djstripe_models.TaxRate,
                    djstripe_models.IdempotencyKey):
        assert not admin.site.is_registered(dropped)
    assert merchant.get("/admin/djstripe/subscription/").status_code == 404
