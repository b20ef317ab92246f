"""The recovery page (a link ops mailed) on a bad connection, in headless Chromium."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from payments.models import Order
from tests.browser.test_accessibility import recovery_link_url
from tests.browser.test_checkout import answer_lost, pay, to_payment

pytestmark = pytest.mark.browser


def test_the_banks_answer_lost_is_asked_of_the_server_and_pays(browser, page, store, sandbox,
                                                               stripe_client):
    to_payment(page, store)
    pay(page, "4000002500003155")
    page.get_by_role("dialog").wait_for()  # and the shopper leaves at the bank
    order = Order.objects.get()
    later = browser.new_page()
    later.set_default_timeout(10_000)
    later.route("**/_sandbox/payment_intents/*/authenticate", answer_lost)
    later.goto(store + urlsplit(recovery_link_url(order)).path)
    later.locator("#authenticate-button").click()
    later.get_by_role("dialog").get_by_role("button", name="Complete authentication").click()
    expect(later.locator("#order-status")).to_have_text("Paid")
    assert [i.status for i in stripe_client.v1.payment_intents.list().data] == ["succeeded"]
    later.close()


def test_the_store_unreachable_after_the_bank_says_the_bank_may_have_approved(
        browser, page, store, sandbox, stripe_client):
    to_payment(page, store)
    pay(page, "4000002500003155")
    page.get_by_role("dialog").wait_for()
    order = Order.objects.get()
    later = browser.new_page()
    later.set_default_timeout(10_000)
    later.goto(store + urlsplit(recovery_link_url(order)).path)
    later.route("**/_sandbox/payment_intents/*/authenticate", answer_lost)
    later.route("**/pay", lambda route: route.abort("internetdisconnected"))
    later.locator("#authenticate-button").click()
    later.get_by_role("dialog").get_by_role("button", name="Complete authentication").click()
    expect(later.locator("#card-errors")).to_contain_text("your bank may have approved")
    later.unroute("**/pay")
    later.locator("#authenticate-button").click()  # still there: the way to finish it
    expect(later.locator("#order-status")).to_have_text("Paid")
    assert [i.status for i in stripe_client.v1.payment_intents.list().data] == ["succeeded"]
    later.close()
