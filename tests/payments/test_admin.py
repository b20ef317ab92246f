"""The merchant's read-only view: a legacy-mode 3-D Secure failure is findable."""

from __future__ import annotations

import pytest

from tests.payments.conftest import shopper_with_order


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
    assert "51.98 EUR" in order_page and "Succeeded" in order_page


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
