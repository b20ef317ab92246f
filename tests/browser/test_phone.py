"""Shoppers on a phone (360 to 430 px wide), in headless Chromium: every page they meet,
the card field and the bank's modal fit the screen, and paying works; a recovery link
opened first by a mail scanner and then paid on a phone; an old-flow order recovered with
a 3-D Secure card; Stripe.js's messages never reach the shopper."""

from __future__ import annotations

import os
import re

import httpx
import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from payments.models import Incident, Order, PaymentAttempt, RecoveryLink
from payments.monitoring import scans
from payments.recovery import links
from tests.browser.accessibility import axe_violations
from tests.browser.test_checkout import enter_card, expect_paid, to_payment, to_payment_page
from tests.payments.conftest import server_calls

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def too_wide(page) -> list[str]:
    """What sticks out past the right edge of the screen (empty: the page fits)."""
    return page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const out = [];
        if (document.documentElement.scrollWidth > width)
            out.push(`page ${document.documentElement.scrollWidth} > ${width}`);
        for (const el of document.querySelectorAll('body *')) {
            const box = el.getBoundingClientRect();
            if (box.width && (box.right > width + 0.5 || box.left < -0.5))
                out.push(`${el.tagName.toLowerCase()}.${el.className} ${Math.round(box.left)}`
                         + `..${Math.round(box.right)}`);
        }
        return out;
    }""")


def fits(page) -> None:
    # Measured on a loaded page: during a navigation the document may not exist yet.
    page.wait_for_load_state("load")
    assert too_wide(page) == [], page.url


@pytest.mark.parametrize("width", [360, 390, 430])
def test_a_phone_pays_with_3155_and_every_page_fits(browser, store, sandbox, width):
    context = browser.new_context(viewport={"width": width, "height": 800},
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(store + "/")
    fits(page)
    page.get_by_role("button", name="Add to cart").click()
    expect(page).to_have_url(re.compile(r"/cart/$"))
    fits(page)  # the cart
    page.get_by_role("link", name="Checkout").click()
    expect(page).to_have_url(re.compile(r"/checkout/$"))
    fits(page)
    # A long address without a dot or hyphen to break at: the paid page names it.
    page.fill("input[name=email]", "johannesmaximilianmustermann1987@gmail.com")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_selector("input[name=cardnumber]")
    fits(page)  # the order page with the card field
    pay = page.get_by_role("button", name="Pay 89.00 EUR")
    box = pay.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    enter_card(page, "4000 0000 0000 9995")
    pay.click()
    expect(page.locator("#card-errors")).to_contain_text("insufficient funds")
    fits(page)
    enter_card(page, "4000 0025 0000 3155")
    pay.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    fits(page)  # the bank's modal
    modal = dialog.bounding_box()
    assert modal["x"] >= 0 and modal["x"] + modal["width"] <= width
    # A phone has no Escape key: the modal's close button, a thumb's size, fails the check.
    close = dialog.get_by_role("button", name="Close")
    target = close.bounding_box()
    assert target["width"] >= 44 and target["height"] >= 44
    assert target["x"] + target["width"] <= modal["x"] + modal["width"]
    close.tap()
    expect(page.locator("#card-errors")).to_contain_text("The check with your bank was cancelled")
    pay.click()
    dialog.wait_for()
    page.get_by_role("button", name="Complete authentication").click()
    expect_paid(page)
    expect(page.locator("main")).to_contain_text("johannesmaximilianmustermann1987@")
    fits(page)  # the address wraps
    page.goto(store + "/no/such/page/")
    fits(page)
    context.close()


def test_after_a_decline_the_order_page_says_what_to_do(page, store, sandbox):
    to_payment(page, store)
    expect(page.locator("#order-status")).to_contain_text("enter your card")
    enter_card(page, "4000 0000 0000 9995")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect(page.locator("#card-errors")).to_contain_text("insufficient funds")
    status = page.locator("#order-status")
    expect(status).to_contain_text("Not paid")
    expect(status).not_to_contain_text("Awaiting payment")
    expect(status).to_contain_text("another card")
    enter_card(page, "4000 0025 0000 3155")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    page.get_by_role("button", name="Fail authentication").click()
    expect(page.locator("#card-errors")).to_contain_text("The check with your bank was cancelled")
    expect(status).to_have_text("Not paid: the check with your bank did not go through.")


def test_a_session_that_ended_on_the_order_page_is_told_so(page, store, sandbox):
    """Cookies cleared while the order page was open: the page said "check the card
    details" and "reload", and a reload found no order for this browser."""
    to_payment(page, store)
    status = page.locator("#order-status")
    before = status.text_content()
    page.context.clear_cookies()
    enter_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect(page.locator("#card-errors")).to_contain_text("Your session has ended")
    expect(status).to_have_text(before)  # nothing about the card: it was never tried
    assert not PaymentAttempt.objects.exists()


def test_a_stripe_js_message_never_reaches_the_shopper(page, store, sandbox, stripe_client):
    """Stripe.js refuses handleCardAction on an automatic-confirmation intent, in words
    for developers; the page says what to do instead."""
    automatic = stripe_client.v1.payment_intents.create(params={
        "amount": 8900, "currency": "eur", "payment_method_types": ["card"],
        "payment_method": "pm_card_authenticationRequired", "confirm": True})
    assert automatic.status == "requires_action"
    to_payment(page, store)
    page.route("**/pay", lambda route: route.fulfill(json={
        "requiresAction": True, "clientSecret": automatic.client_secret}))
    enter_card(page, "4000 0025 0000 3155")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    errors = page.locator("#card-errors")
    expect(errors).to_contain_text("Please try again or use another card")
    for developer_words in ("handleCardAction", "PaymentIntent", "confirmCardPayment"):
        expect(errors).not_to_contain_text(developer_words)


# --- recovery links on a phone ----------------------------------------------------------

def ops_person() -> User:
    user = User.objects.create_user("olga", password="a-long-enough-passphrase",
                                    is_staff=True)
    user.groups.add(Group.objects.get(name="Payments ops"))
    return user


def link_for(incident: Incident) -> str:
    link = RecoveryLink.objects.create(
        order=incident.order, incident=incident, email=incident.order.email,
        created_by=ops_person(), expires_at=incident.first_seen_at.replace(year=2100))
    return links.recovery_url(token=links.recovery_link_token(link=link))


def link_of_a_shopper_left_at_the_bank(browser, store: str) -> str:
    """A shopper left at the bank's modal an age ago; the sweep found it; ops mailed this."""
    from tests.browser.shoppers import shopper_leaves

    context = browser.new_context()
    shopper_leaves(context, store, complete_the_modal=False)
    context.close()
    PaymentAttempt.objects.update(requires_action_at=Order.objects.get().created_at.replace(
        year=2000))
    scans.scan_stale()
    return link_for(Incident.objects.get())


def test_a_link_opened_by_a_scanner_without_cookies_is_then_paid_on_a_phone(
        browser, store, sandbox, phone):
    url = link_of_a_shopper_left_at_the_bank(browser, store)
    for _ in range(2):  # the mail provider's scanner, then a curl
        scanned = httpx.get(url, timeout=10)
        assert scanned.status_code == 200
        assert "_secret_" not in scanned.text and "sessionid" not in scanned.cookies
    # A scanner that runs the page's scripts, in a browser of its own, and clicks nothing.
    reads = len(server_calls(sandbox))
    scanner = browser.new_context()
    scanned_page = scanner.new_page()
    scanned_page.goto(url, wait_until="networkidle")
    expect(scanned_page.get_by_role("button", name=re.compile("with my bank"))).to_be_enabled()
    scanner.close()
    assert RecoveryLink.objects.get().used_at is None  # not "used" in the admin
    assert len(server_calls(sandbox)) == reads  # and no Stripe read
    phone.goto(url)
    fits(phone)
    phone.get_by_role("button", name=re.compile("with my bank")).click()
    phone.get_by_role("dialog").wait_for()
    fits(phone)
    phone.get_by_role("button", name="Complete authentication").click()
    expect(phone.locator("#order-status")).to_have_text("Paid")
    fits(phone)
    link = RecoveryLink.objects.get()
    assert link.open_count >= 3 and [s for s, _ in link.progress()] == ["opened", "used",
                                                                         "paid"]
    assert Incident.objects.get().status == "recovered"


def test_a_link_whose_bank_check_was_closed_leads_on_to_the_card(browser, store, sandbox,
                                                                  phone):
    """The shopper closes the bank's window (×): Stripe no longer waits for it, and the
    big "Confirm with my bank" button could only fail again, while the way on was a small
    link. Now the card's button takes its place, a thumb's size, and pays."""
    phone.goto(link_of_a_shopper_left_at_the_bank(browser, store))
    bank = phone.get_by_role("button", name=re.compile("with my bank"))
    bank.click()
    phone.get_by_role("dialog").get_by_role("button", name="Close").tap()
    expect(phone.locator("#card-errors")).to_contain_text("another card")
    expect(bank).to_be_hidden()
    card = phone.get_by_role("button", name="Pay with a card")
    expect(card).to_be_focused()
    box = card.bounding_box()
    assert box["height"] >= 44
    fits(phone)
    card.click()
    enter_card(phone, "4242 4242 4242 4242")
    phone.get_by_role("button", name=re.compile("^Pay ")).click()
    expect(phone.locator("#order-status")).to_have_text("Paid")


def test_a_link_opened_in_two_browsers_the_later_modal_says_paid(browser, store, sandbox,
                                                                  phone):
    """The shopper opens the mailed link on the phone and on the desktop and starts the
    bank's check in both; the phone finishes first. The desktop's modal, completed after,
    finds the payment no longer waiting: its page asks the server and says paid."""
    url = link_of_a_shopper_left_at_the_bank(browser, store)
    desktop_context = browser.new_context()
    desktop = desktop_context.new_page()
    desktop.set_default_timeout(10_000)
    for page in (desktop, phone):
        page.goto(url)
        page.get_by_role("button", name=re.compile("with my bank")).click()
        page.get_by_role("dialog").wait_for()
    phone.get_by_role("button", name="Complete authentication").click()
    expect(phone.locator("#order-status")).to_have_text("Paid")
    desktop.get_by_role("button", name="Complete authentication").click()
    expect(desktop.locator("#order-status")).to_have_text("Paid")
    desktop_context.close()
    assert PaymentAttempt.objects.get().status == "succeeded"


def test_an_old_flow_order_is_recovered_with_3155_on_a_new_manual_intent(
        browser, store, sandbox, site_on_sandbox, phone):
    site_on_sandbox.PAYMENTS_HANDLE_ACTIONS = False  # the old guide's integration
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    to_payment(page, store)
    enter_card(page, "4000 0025 0000 3155")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect(page.locator("#card-errors")).to_contain_text("authentication")
    context.close()
    site_on_sandbox.PAYMENTS_HANDLE_ACTIONS = True  # the merchant moved to the new flow
    scans.scan_backfill(days=1)
    incident = Incident.objects.get()
    assert incident.kind == "requires_action_not_handled"
    seen: list[str] = []
    phone.on("console", lambda message: seen.append(message.text))
    phone.goto(link_for(incident))  # a failure: on to the order's card form, on a click
    fits(phone)
    phone.get_by_role("button", name="Pay 89.00 EUR with a card").click()
    phone.wait_for_selector("input[name=cardnumber]")
    fits(phone)
    enter_card(phone, "4000 0025 0000 3155")
    phone.get_by_role("button", name="Pay 89.00 EUR").click()
    phone.get_by_role("dialog").wait_for()
    fits(phone)
    phone.get_by_role("button", name="Complete authentication").click()
    expect(phone.locator("#order-status")).to_have_text("Paid")
    old, new = PaymentAttempt.objects.order_by("number")
    assert (old.confirmation_method, new.confirmation_method) == ("automatic", "manual")
    assert old.events.filter(note__contains="Superseded by attempt 2").exists()
    assert new.status == "succeeded" and old.status == "requires_payment_method"
    assert list(Incident.objects.values_list("kind", "status")) == [
        ("requires_action_not_handled", "recovered")]  # no second incident for the order
    assert not any("handleCardAction" in text for text in seen)


# --- the admin's dashboard on a phone ---------------------------------------------------

def boxes_overlap(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] + 0.5 or b["x"] + b["width"] <= a["x"] + 0.5
                or a["y"] + a["height"] <= b["y"] + 0.5 or b["y"] + b["height"] <= a["y"] + 0.5)


@pytest.mark.parametrize("width", [390, 1280])
def test_the_dashboards_boxes_never_overlap(browser, store, sandbox, width):
    from tests.browser.shoppers import shopper_leaves

    shopper = browser.new_context()
    shopper_leaves(shopper, store, complete_the_modal=True)  # something on the dashboard
    shopper.close()
    old = Order.objects.get().created_at.replace(year=2000)
    PaymentAttempt.objects.update(requires_action_at=old, requires_confirmation_at=old)
    scans.scan_stale()
    user = User.objects.create_user("mia", password="a-long-enough-passphrase", is_staff=True)
    user.groups.add(Group.objects.get(name="Merchants"))
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(store + "/admin/login/?next=/admin/payments/dashboard/")
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", "a-long-enough-passphrase")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("h1")).to_contain_text("Failed payments dashboard")
    page.wait_for_load_state("load")  # every tile parsed and styled before it is measured
    boxes = [box for box in (el.bounding_box() for el in
                             page.locator(".dash-kpi, .dash-card").all()) if box]
    assert len(boxes) >= 8
    overlapping = [(i, j) for i, a in enumerate(boxes) for j, b in enumerate(boxes)
                   if i < j and boxes_overlap(a, b)]
    assert overlapping == []
    spilling = page.evaluate("""() => [...document.querySelectorAll('.dash-kpi')]
        .filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.className)""")
    assert spilling == []  # no tile's text runs over the next one
    widths = page.evaluate("() => [document.documentElement.scrollWidth, "
                           "document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], widths
    context.close()


def test_an_order_below_stripes_minimum_says_why_in_place_of_the_card_form(phone, store,
                                                                           sandbox):
    """An order placed before the cart checked Stripe's limits: its page showed a card
    form that only failed at Pay; now the reason, the way back, and nothing to pay."""
    to_payment_page(phone, store)
    order = Order.objects.get()
    Order.objects.filter(pk=order.pk).update(amount=1000, currency="czk")  # as placed then
    order.lines.update(unit_price=1000)
    phone.reload()
    expect(phone.locator(".error")).to_have_text(
        "Card payments in CZK must total at least 15.00 CZK. This order cannot be paid by "
        "card; please place a new order from your cart. Back to your cart")
    assert phone.locator("#payment-form").count() == 0
    fits(phone)
    assert axe_violations(phone, "order below the minimum") == []
    if os.environ.get("SHOTS_DIR"):
        phone.screenshot(path=f"{os.environ['SHOTS_DIR']}/order-below-minimum-390.png",
                         full_page=True)
    phone.get_by_role("link", name="Back to your cart").click()
    expect(phone).to_have_url(re.compile(r"/cart/$"))
    assert not server_calls(sandbox)


def test_a_tap_on_pay_with_a_card_half_typed_leads_back_to_the_card(phone, store, sandbox):
    """Leaving the card's field shows its message; above Pay, that line pushed the button
    from under the finger, the tap missed, and focus stayed on Pay (user test)."""
    to_payment(phone, store)
    enter_card(phone, "4242424242424242")
    phone.fill("input[name=cvc]", "12")
    phone.locator("#pay-button").tap()
    expect(phone.locator("#card-errors")).to_contain_text("incomplete")
    assert phone.evaluate(
        "() => document.getElementById('card-element').contains(document.activeElement)")
    assert server_calls(sandbox) == [] and Order.objects.get().status == Order.Status.OPEN
