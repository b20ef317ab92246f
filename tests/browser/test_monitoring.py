"""Monitoring as a shopper meets it, in headless Chromium: the bank's modal completed,
the tab closed before the second confirm; the next stale sweep, run by a real Celery
worker, confirms the payment and the order page says it is paid."""

from __future__ import annotations

import pytest
from django.db import connection
from playwright.sync_api import expect

from payments.models import Incident, Order, PaymentAttempt, Product
from payments.monitoring import tasks
from tests.browser.shoppers import shopper_leaves
from tests.conftest import need
from tests.waiting import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def store(site_on_sandbox, live_server, transactional_db):
    site_on_sandbox.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    Product.objects.create(sku="wool-blanket", name="Wool blanket", price=8900, currency="eur")
    return live_server.url



def test_a_tab_closed_after_the_bank_modal_is_finalized_by_the_next_scan(
        store, browser, celery_worker, settings):
    need(connection.vendor == "postgresql", "PostgreSQL is not configured (set DATABASE_URL="
         "postgres://…; .ci/run does): on SQLite's shared in-memory test database the "
         "worker's write can meet the live server's table lock and fail at once")
    context = browser.new_context()
    order_url = shopper_leaves(context, store, complete_the_modal=True)
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == "requires_action"  # all we know: the shopper went to the bank
    assert Order.objects.get().status == Order.Status.OPEN

    settings.PAYMENTS_ACTION_ABANDONED_AFTER_SECONDS = 0  # the threshold has passed
    tasks.scan_stale_task.delay()  # what beat does every minute
    wait_until(lambda: Order.objects.get().status == Order.Status.PAID, timeout=20,
               what="the worker's sweep to finalize the payment")
    # The sweep pays the order first, then ends its incident: wait for the whole run.
    incident = wait_until(lambda: Incident.objects.filter(status="auto_finalized").first(),
                          timeout=20, what="the sweep to end the incident")
    assert incident.kind == "confirmation_abandoned"

    again = context.new_page()  # the shopper comes back to the order
    again.goto(order_url)
    expect(again.locator("#order-status")).to_have_text("Paid")
    context.close()
