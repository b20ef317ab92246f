"""The admin as merchants and ops staff use it, in headless Chromium, with a real Celery
worker running the stale sweep: a merchant sees and cannot act; ops confirm an abandoned
payment; ops mail a recovery link that a shopper opens in a fresh browser to finish."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from payments.models import Incident, Order, PaymentAttempt, Product
from payments.monitoring import tasks
from tests.browser.shoppers import shopper_leaves
from tests.browser.test_checkout import enter_card, to_payment
from tests.conftest import need
from tests.waiting import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(site_on_sandbox, live_server, transactional_db, celery_worker, staff_roles):
    need(connection.vendor == "postgresql", "PostgreSQL is not configured (set DATABASE_URL="
         "postgres://…; .ci/run does): on SQLite's shared in-memory test database the "
         "worker's and the live server's writes meet this thread's reads as \"table is "
         "locked\" (no busy wait there)")
    site_on_sandbox.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    site_on_sandbox.PAYMENTS_AUTO_FINALIZE = False  # ops do it here
    site_on_sandbox.SITE_URL = live_server.url
    Product.objects.create(sku="wool-blanket", name="Wool blanket", price=8900, currency="eur")
    for username, group in (("mia", "Merchants"), ("olga", "Payments ops")):
        user = User.objects.create_user(username, password="pw-" + username, is_staff=True)
        user.groups.add(Group.objects.get(name=group))
    return live_server.url



def log_in(browser, shop: str, username: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(shop + "/admin/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-" + username)
    page.get_by_role("button", name="Log in").click()
    return context, page


def leave(browser, shop: str, *, complete_the_modal: bool) -> str:
    """A shopper in a browser of their own who leaves mid-3-D Secure (shoppers.py)."""
    context = browser.new_context()
    order_url = shopper_leaves(context, shop, complete_the_modal=complete_the_modal)
    context.close()
    return order_url


def sweep() -> Incident:
    """Beat's stale sweep, run by the worker once the threshold has passed."""
    PaymentAttempt.objects.update(requires_action_at=timezone.now() - timedelta(hours=1))
    tasks.scan_stale_task.delay()
    wait_until(Incident.objects.exists, timeout=20, what="the worker's sweep to open an incident")
    return Incident.objects.get()


def test_a_merchant_sees_the_dashboard_and_the_list_and_cannot_act(shop, browser):
    leave(browser, shop, complete_the_modal=True)
    incident = sweep()
    context, page = log_in(browser, shop, "mia")
    page.get_by_role("link", name=re.compile("Failed payments dashboard")).first.click()
    expect(page.locator("h1")).to_contain_text("Failed payments dashboard")
    expect(page.locator("body")).to_contain_text("89.00 EUR")
    page.goto(f"{shop}/admin/payments/incident/")
    expect(page.locator("#result_list")).to_contain_text("89.00 EUR")
    assert page.locator("select[name=action] option[value=ops_confirm]").count() == 0
    page.goto(f"{shop}/admin/payments/incident/{incident.pk}/change/")
    expect(page.locator("body")).to_contain_text("Authenticated, never confirmed")
    assert page.get_by_role("link", name="Confirm now").count() == 0
    context.close()


def test_ops_confirm_an_abandoned_payment_and_the_order_is_paid(shop, browser):
    order_url = leave(browser, shop, complete_the_modal=True)
    incident = sweep()
    assert incident.kind == "confirmation_abandoned"
    context, page = log_in(browser, shop, "olga")
    page.goto(f"{shop}/admin/payments/incident/{incident.pk}/change/")
    page.get_by_role("link", name="Confirm now").click()
    page.get_by_role("button", name=re.compile("Yes, confirm")).click()
    expect(page.locator(".messagelist")).to_contain_text("1 confirmed")
    assert Order.objects.get().status == Order.Status.PAID
    page.goto(order_url)  # staff see the admin's page of it
    expect(page.locator("body")).to_contain_text("Paid")
    assert PaymentAttempt.objects.get().events.get(to_status="succeeded").actor == "user:olga"
    context.close()


def mailed_link() -> str:
    [message] = mail.outbox
    return re.search(r"https?://\S+/recover/\S+/", message.body).group(0)


def send_link_as_ops(browser, shop: str, incident: Incident) -> None:
    context, page = log_in(browser, shop, "olga")
    page.goto(f"{shop}/admin/payments/incident/{incident.pk}/change/")
    page.get_by_role("link", name="Send authentication link").click()
    page.get_by_role("button", name=re.compile("Yes, send")).click()
    expect(page.locator(".messagelist")).to_contain_text("1 link sent")
    context.close()


def test_a_mailed_link_lets_the_shopper_pass_the_banks_challenge(shop, browser):
    leave(browser, shop, complete_the_modal=False)
    incident = sweep()
    assert incident.kind == "action_abandoned"
    send_link_as_ops(browser, shop, incident)
    fresh = browser.new_context()  # the shopper's mail app opens another browser
    page = fresh.new_page()
    page.set_default_timeout(10_000)
    page.goto(mailed_link())
    page.get_by_role("button", name=re.compile("with my bank")).click()
    page.get_by_role("button", name="Complete authentication").click()
    expect(page.locator("#order-status")).to_have_text("Paid")
    incident.refresh_from_db()
    assert incident.status == "recovered"
    fresh.close()


def test_a_mailed_link_after_a_not_handled_failure_takes_a_new_card(shop, browser,
                                                                    site_on_sandbox):
    site_on_sandbox.PAYMENTS_HANDLE_ACTIONS = False  # the old guide's integration
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    to_payment(page, shop)
    enter_card(page, "4000 0025 0000 3155")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect(page.locator("#card-errors")).to_contain_text("authentication")
    context.close()
    site_on_sandbox.PAYMENTS_HANDLE_ACTIONS = True
    tasks.scan_backfill_task.delay(1)  # the worker finds the day's failures
    wait_until(Incident.objects.exists, timeout=20,
               what="the worker's backfill to open an incident")
    incident = Incident.objects.get()
    assert incident.kind == "requires_action_not_handled"
    send_link_as_ops(browser, shop, incident)
    fresh = browser.new_context()
    page = fresh.new_page()
    page.set_default_timeout(10_000)
    page.goto(mailed_link())  # a failure: on to the order's card form, on a click
    page.get_by_role("button", name="Pay 89.00 EUR with a card").click()
    enter_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect(page.locator("#order-status")).to_have_text("Paid")
    incident.refresh_from_db()
    assert incident.status == "recovered"
    fresh.close()

