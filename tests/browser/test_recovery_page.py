"""The recovery page (a link ops mailed) on a bad connection, in headless Chromium."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from payments.models import Order
from tests.browser.test_accessibility import recovery_link_url
from tests.browser.test_checkout import (
    answer_lost,
    expect_paid,
    hold_intent_read,
    pay,
    to_payment,
    wait_held,
)

pytestmark = pytest.mark.browser


def left_at_the_bank_then_the_link(browser, page, store: str):
    """The shopper leaves at the bank's modal; the link ops mailed for the order, opened
    in another tab (not yet loaded: a test routes its requests first)."""
    to_payment(page, store)
    pay(page, "4000002500003155")
    page.get_by_role("dialog").wait_for()
    later = browser.new_page()
    later.set_default_timeout(10_000)
    return later, store + urlsplit(recovery_link_url(Order.objects.get())).path


def test_the_banks_answer_lost_is_asked_of_the_server_and_pays(browser, page, store, sandbox,
                                                               stripe_client):
    later, link = left_at_the_bank_then_the_link(browser, page, store)
    later.route("**/_sandbox/payment_intents/*/authenticate", answer_lost)
    later.goto(link)
    later.locator("#authenticate-button").click()
    later.get_by_role("dialog").get_by_role("button", name="Complete authentication").click()
    expect(later.locator("#order-status")).to_have_text("Paid")
    assert [i.status for i in stripe_client.v1.payment_intents.list().data] == ["succeeded"]
    later.close()


def test_the_store_unreachable_after_the_bank_says_the_bank_may_have_approved(
        browser, page, store, sandbox, stripe_client):
    later, link = left_at_the_bank_then_the_link(browser, page, store)
    later.goto(link)
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


def test_paid_in_the_checkout_tab_before_the_banks_modal_says_paid_not_unreachable(
        browser, page, store, sandbox, stripe_client):
    """The link's page got the client secret; before Stripe.js reads the intent, the
    checkout tab left at the bank's modal completes it and pays. Stripe.js's
    handleCardAction rejects (not in requires_action): the page asks the server, which
    says paid, instead of "We could not reach the store"."""
    later, link = left_at_the_bank_then_the_link(browser, page, store)
    later.goto(link)
    held = hold_intent_read(later)
    later.locator("#authenticate-button").click()
    wait_held(later, held)
    page.get_by_role("dialog").get_by_role("button", name="Complete authentication").click()
    expect_paid(page)
    held[0].continue_()
    expect(later.locator("#order-status")).to_have_text("Paid")
    assert later.get_by_role("dialog").count() == 0
    [intent] = stripe_client.v1.payment_intents.list().data
    assert (intent.status, intent.amount_received) == ("succeeded", 8900)
    later.close()
