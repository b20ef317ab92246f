"""The checkout in headless Chromium: the shopper's clicks, the real checkout.js and
Stripe.js shim, Django's live server, stripe-python over HTTP to the sandbox."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from payments.models import Order, Product
from tests.payments.conftest import server_calls

pytestmark = pytest.mark.browser

DECLINED = "Your card has insufficient funds."


@pytest.fixture
def store(site_on_sandbox, live_server, transactional_db):
    Product.objects.create(sku="wool-blanket", name="Wool blanket", price=8900, currency="eur")
    return live_server.url


@pytest.fixture
def csp_violations(page):
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text)
            if "Content Security Policy" in message.text else None)
    return seen


def to_payment(page, store: str) -> None:
    to_payment_page(page, store)
    page.wait_for_selector("input[name=cardnumber]")


def enter_card(page, number: str) -> None:
    page.fill("input[name=cardnumber]", number)
    page.fill("input[name=exp-date]", "12 / 34")
    page.fill("input[name=cvc]", "123")


def pay(page, number: str) -> None:
    enter_card(page, number)
    page.get_by_role("button", name="Pay 89.00 EUR").click()


# Locator assertions, not wait_for_function: the page's CSP forbids eval, as it should.
def expect_paid(page) -> None:
    expect(page.locator("#order-status")).to_have_text("Paid")
    assert Order.objects.get().status == Order.Status.PAID


def expect_error(page, text: str) -> str:
    expect(page.locator("#card-errors")).to_contain_text(text)
    expect(page.get_by_role("button", name="Pay 89.00 EUR")).to_be_enabled()
    return page.text_content("#card-errors")


def test_4242_pays(page, store, sandbox, csp_violations):
    refused = []  # anything the pages ask for and do not get (a style, a script, an icon)
    page.on("response", lambda response: refused.append(response.url)
            if response.status >= 400 else None)
    to_payment(page, store)
    pay(page, "4242424242424242")
    expect_paid(page)
    assert refused == []
    assert len(server_calls(sandbox)) == 1
    assert csp_violations == []


def test_9995_shows_insufficient_funds(page, store, sandbox):
    to_payment(page, store)
    pay(page, "4000000000009995")
    expect_error(page, DECLINED)
    assert Order.objects.get().status == Order.Status.OPEN


def test_3155_with_complete_authentication_pays(page, store, sandbox, csp_violations):
    to_payment(page, store)
    pay(page, "4000002500003155")
    page.get_by_role("dialog").wait_for()
    page.get_by_role("button", name="Complete authentication").click()
    expect_paid(page)
    assert len(server_calls(sandbox)) == 2
    assert csp_violations == []


def test_3155_failed_then_4242_pays_the_same_order(page, store, sandbox, stripe_client):
    to_payment(page, store)
    pay(page, "4000002500003155")
    page.get_by_role("button", name="Fail authentication").click()
    expect_error(page, "The check with your bank was cancelled or did not succeed.")
    assert Order.objects.get().status == Order.Status.OPEN
    pay(page, "4242424242424242")
    expect_paid(page)
    intents = stripe_client.v1.payment_intents.list().data
    assert len(intents) == 1 and intents[0].status == "succeeded"


def test_legacy_mode_fails_3155_with_the_authentication_message(page, store, sandbox,
                                                                 site_on_sandbox):
    site_on_sandbox.PAYMENTS_HANDLE_ACTIONS = False
    to_payment(page, store)
    pay(page, "4000002500003155")
    message = expect_error(page, "authentication")
    assert page.get_by_role("dialog").count() == 0
    assert "requires authentication by your bank" in message
    attempt = Order.objects.get().attempts.get()
    assert attempt.last_decline_code == "authentication_not_handled"


def test_a_double_click_on_pay_charges_once(page, store, sandbox, stripe_client):
    to_payment(page, store)
    enter_card(page, "4242424242424242")
    page.get_by_role("button", name="Pay 89.00 EUR").dblclick()
    expect_paid(page)
    assert len(server_calls(sandbox)) == 1
    assert len([c for c in sandbox.requests("/v1/payment_methods") if c["publishable"]]) == 1
    assert len(stripe_client.v1.payment_intents.list().data) == 1


def test_a_network_failure_leaves_the_form_usable_and_a_retry_pays(page, store, sandbox,
                                                                    stripe_client):
    to_payment(page, store)
    page.route("**/pay", lambda route: route.abort("connectionreset"))
    pay(page, "4242424242424242")
    expect_error(page, "We did not hear back from the store")
    page.unroute("**/pay")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect_paid(page)
    assert len(stripe_client.v1.payment_intents.list().data) == 1


def test_pays_answer_lost_on_the_way_back_says_it_may_have_gone_through(
        page, store, sandbox, stripe_client):
    """The store paid; its answer never reached the phone: the page said "We could not
    reach the store", and a charged shopper went away (user test on a phone). Now it
    says the payment may have gone through, and the next Pay says paid, charging nothing
    more."""
    to_payment(page, store)
    page.route("**/pay", answer_lost)
    pay(page, "4242424242424242")
    text = expect_error(page, "your payment may have gone through")
    assert "could not reach" not in text
    assert Order.objects.get().status == Order.Status.PAID  # it had
    page.unroute("**/pay")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect_paid(page)
    assert len(stripe_client.v1.charges.list().data) == 1


def answer_lost(route) -> None:
    """The request reaches the server and does its work; its answer never reaches the
    phone (a connection lost on the way back)."""
    route.fetch()
    route.abort("connectionreset")


def test_the_banks_answer_lost_on_the_way_back_is_asked_of_the_server_and_pays(
        page, store, sandbox, stripe_client):
    """The bank approved, its answer never arrived: not "Not paid" (a shopper told that
    orders again elsewhere, and the sweep charges the first order too)."""
    to_payment(page, store)
    page.route("**/_sandbox/payment_intents/*/authenticate", answer_lost)
    pay(page, "4000002500003155")
    page.get_by_role("dialog").get_by_role("button", name="Complete authentication").click()
    expect_paid(page)
    assert [i.status for i in stripe_client.v1.payment_intents.list().data] == ["succeeded"]


def bank_and_store_lost(page, store: str) -> None:
    """3155 through the bank's "Complete", whose answer, and the store, never reach the
    phone (offline right after the bank's button): the page says the bank may have
    approved."""
    to_payment(page, store)
    pay(page, "4000002500003155")
    page.get_by_role("dialog").wait_for()
    page.route("**/_sandbox/payment_intents/*/authenticate", answer_lost)
    page.route("**/pay", lambda route: route.abort("internetdisconnected"))
    page.get_by_role("dialog").get_by_role("button", name="Complete authentication").click()
    expect_error(page, "your bank may have approved the payment")


def test_the_store_unreachable_after_the_bank_says_so_and_pay_finishes_it(
        page, store, sandbox, stripe_client):
    """The bank's answer and the store lost (offline right after the bank's button): the
    page says the bank may have approved, not "Not paid"; Pay then confirms that same
    intent, with no second trip to the bank."""
    bank_and_store_lost(page, store)
    expect(page.locator("#order-status")).not_to_contain_text("Not paid")
    page.unroute("**/pay")
    # A 503 meanwhile says nothing about the payment: the next Pay asks about it again.
    page.route("**/pay", lambda route: route.fulfill(
        status=503, json={"error": "We could not reach our payment provider."}))
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect_error(page, "We could not reach our payment provider.")
    page.unroute("**/pay")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect_paid(page)
    assert page.get_by_role("dialog").count() == 0
    [intent] = stripe_client.v1.payment_intents.list().data
    assert intent.status == "succeeded"
    assert len([c for c in sandbox.requests("/v1/payment_methods") if c["publishable"]]) == 1


@pytest.mark.parametrize("bank_approved", [True, False])
def test_a_reload_after_the_bank_finishes_that_payment_not_a_new_one(
        page, store, sandbox, stripe_client, bank_approved):
    """The page's second /pay lost (or the shopper reloaded at the bank's modal): the
    reloaded page asked for a card as if nothing had happened, and its cart said "nothing
    was charged" (user test on a phone). Now Pay, with no card typed, finishes that
    payment: confirmed if the bank approved, the bank asked again if it did not."""
    from tests.browser.shoppers import shopper_leaves

    order_url = shopper_leaves(page.context, store, complete_the_modal=bank_approved)
    page.goto(order_url)
    expect(page.locator("#order-status")).to_contain_text("Press Pay to finish that payment")
    page.get_by_role("button", name="Pay 89.00 EUR").click()  # no card typed
    if not bank_approved:
        page.get_by_role("dialog").get_by_role("button", name="Complete authentication").click()
    expect_paid(page)
    [intent] = stripe_client.v1.payment_intents.list().data
    assert intent.status == "succeeded"
    assert len(stripe_client.v1.charges.list().data) == 1


def test_a_card_typed_after_the_bank_went_unanswered_is_the_card_charged(
        page, store, sandbox, stripe_client):
    """After "your bank may have approved", the shopper typed another card and pressed
    Pay: the page finished the first card's payment instead, and the charge was on a card
    the shopper no longer meant (support agent). Now the card typed pays, on the same
    intent: one charge, on that card."""
    bank_and_store_lost(page, store)
    page.unroute("**/pay")
    page.fill("input[name=cardnumber]", "4242424242424242")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect_paid(page)
    [intent] = stripe_client.v1.payment_intents.list().data
    [charge] = stripe_client.v1.charges.list().data
    assert intent.status == "succeeded" and charge.payment_method_details.card.last4 == "4242"


def test_a_half_typed_card_then_cleared_still_finishes_the_payment_left_at_the_bank(
        page, store, sandbox, stripe_client):
    """A card half typed (refused by its field's check) then cleared: Pay with no card
    had forgotten the payment left at the bank and asked for a card until a reload
    (review)."""
    from tests.browser.shoppers import shopper_leaves

    order_url = shopper_leaves(page.context, store, complete_the_modal=True)
    page.goto(order_url)
    expect(page.locator("#order-status")).to_contain_text("Press Pay to finish that payment")
    page.fill("input[name=cardnumber]", "4242")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect_error(page, "incomplete")
    page.fill("input[name=cardnumber]", "")
    page.get_by_role("button", name="Pay 89.00 EUR").click()  # no card typed now
    expect_paid(page)
    assert len(stripe_client.v1.charges.list().data) == 1


def test_an_intent_canceled_after_its_answer_was_lost_lets_the_next_card_pay(
        page, store, sandbox, stripe_client):
    """The page keeps a lost answer's intent for the next Pay, but a final 409 ("this
    payment was canceled") settles it: every click re-sent the canceled intent and never
    the card the shopper typed, until a reload."""
    to_payment(page, store)
    pay(page, "4000002500003155")
    page.get_by_role("dialog").wait_for()
    page.route("**/pay", lambda route: route.abort("internetdisconnected"))
    page.get_by_role("dialog").get_by_role("button", name="Complete authentication").click()
    expect_error(page, "your bank may have approved the payment")
    page.unroute("**/pay")
    [intent] = stripe_client.v1.payment_intents.list().data
    stripe_client.v1.payment_intents.cancel(intent.id)  # in Stripe's Dashboard, say
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect_error(page, "canceled")
    enter_card(page, "4242424242424242")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    expect_paid(page)
    assert sorted(i.status for i in stripe_client.v1.payment_intents.list().data) == \
        ["canceled", "succeeded"]


def test_the_banks_answer_lost_twice_in_one_click_is_still_not_called_not_paid(
        page, store, sandbox, stripe_client):
    """The bank's step never reached it (lost on the way out), the server asks for it
    again, and it is lost again: the page says the bank may have approved, and Pay then
    finishes it."""
    to_payment(page, store)
    page.route("**/_sandbox/payment_intents/*/authenticate",
               lambda route: route.abort("connectionreset"))
    pay(page, "4000002500003155")
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Complete authentication").click()
    dialog.get_by_role("button", name="Complete authentication").click()  # asked again
    expect_error(page, "your bank may have approved the payment")
    expect(page.locator("#order-status")).not_to_contain_text("Not paid")
    page.unroute("**/_sandbox/payment_intents/*/authenticate")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    dialog.get_by_role("button", name="Complete authentication").click()
    expect_paid(page)
    assert [i.status for i in stripe_client.v1.payment_intents.list().data] == ["succeeded"]


def test_without_stripe_js_the_page_says_so_and_pay_stays_disabled(page, store, sandbox):
    page.route("**/v3/", lambda route: route.abort("blockedbyclient"))  # the shim's address
    to_payment_page(page, store)
    expect(page.locator("#card-errors")).to_contain_text("The card form could not be loaded")
    expect(page.locator("#pay-button")).to_be_disabled()


def to_payment_page(page, store: str) -> None:
    """As ``to_payment``, without waiting for the card field (which may never come)."""
    page.goto(store + "/")
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_role("link", name="Checkout").click()
    page.fill("input[name=email]", "shopper@example.com")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url("**/orders/*/", wait_until="commit")


def test_offline_when_pay_is_pressed_is_said_as_such_not_as_an_unreadable_card(page, store,
                                                                             sandbox):
    to_payment(page, store)
    page.route("**/v1/payment_methods", lambda route: route.abort("internetdisconnected"))
    pay(page, "4242424242424242")
    expect_error(page, "We could not reach the store")


@pytest.mark.parametrize("status", [500, 429])
def test_stripe_down_or_busy_when_pay_is_pressed_is_not_an_unreadable_card(page, store,
                                                                           sandbox, status):
    """Stripe.js's api_error (5xx) and rate_limit_error (429) read "Your card could not be
    read": shoppers retyped a good card through Stripe's outage."""
    to_payment(page, store)
    sandbox.add_fault(method="POST", path="/v1/payment_methods", count=1, status=status)
    pay(page, "4242424242424242")
    expect_error(page, "Our payment provider is not answering right now. Nothing was "
                       "charged; please try again in a moment.")
    assert not server_calls(sandbox)  # nothing reached the store's /pay
    page.get_by_role("button", name="Pay 89.00 EUR").click()  # Stripe back: it pays
    expect_paid(page)


def test_pay_does_nothing_before_the_pages_script_runs(page, store, sandbox):
    """On a slow connection a tap before checkout.js sends nothing (a GET would put the
    CSRF token in the address)."""
    page.route("**/checkout.js", lambda route: None)  # never answered
    to_payment_page(page, store)
    expect(page.locator("#pay-button")).to_be_disabled()
    assert page.locator("#payment-form").get_attribute("method") == "post"


def test_the_page_loops_when_the_second_confirm_asks_for_action_again(page, store, sandbox):
    """The hour runs out between the modal and the second /pay: Stripe asks the bank
    again, and the page shows the modal again, as the guide's loop does."""
    expired: list[bool] = []

    def expire_first_confirmation(route) -> None:
        if "payment_intent_id" in (route.request.post_data or "") and not expired:
            sandbox.advance_clock(3601)
            expired.append(True)
        route.continue_()

    to_payment(page, store)
    page.route("**/pay", expire_first_confirmation)
    pay(page, "4000002500003155")
    page.get_by_role("button", name="Complete authentication").click()
    page.get_by_role("button", name="Complete authentication").click()
    expect_paid(page)
    assert expired == [True]
    assert len(server_calls(sandbox)) == 3


def test_a_tab_whose_bank_modal_outlived_the_payment_says_paid_not_failed(
        page, store, sandbox, stripe_client):
    """Tab 1 waits at the bank's modal while tab 2 pays the same order with another card;
    tab 1's modal, completed afterwards, finds the payment no longer waiting: the page asks
    the server, which says paid (nothing charged again), instead of "not paid"."""
    to_payment(page, store)
    order_url = page.url
    pay(page, "4000002500003155")
    page.get_by_role("dialog").wait_for()
    second = page.context.new_page()  # the same session: another tab
    second.goto(order_url)
    pay(second, "4242424242424242")
    expect_paid(second)
    page.get_by_role("button", name="Complete authentication").click()
    expect(page.locator("#order-status")).to_have_text("Paid")  # the paid order's page
    intents = stripe_client.v1.payment_intents.list().data
    assert len(intents) == 1 and intents[0].status == "succeeded"
    assert intents[0].amount_received == 8900



# Stripe.js's read of the intent (publishable key, client secret) when handleCardAction
# starts, before its modal: held, the payment moves on meanwhile.
INTENT_READ = re.compile(r"/v1/payment_intents/pi_[^/?]+\?client_secret=")


def hold_intent_read(page) -> list:
    held: list = []
    page.route(INTENT_READ, lambda route: held.append(route))
    return held


def wait_held(page, held: list, count: int = 1) -> None:
    for _ in range(100):  # Playwright takes the route only while we wait through it
        if len(held) >= count:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"Stripe.js read the intent {len(held)} times, not {count}")


def test_an_intent_paid_in_another_tab_before_the_banks_modal_says_paid_not_unreachable(
        page, store, sandbox, stripe_client):
    """The server answered "requires action"; before Stripe.js reads the intent, another
    tab pays the order with 4242. Stripe.js's handleCardAction then rejects (the intent is
    not in requires_action): the page asks the server, which says paid, instead of "We
    could not reach the store" (the rejection is not our network failing)."""
    to_payment(page, store)
    order_url = page.url
    held = hold_intent_read(page)
    pay(page, "4000002500003155")
    wait_held(page, held)
    second = page.context.new_page()  # the same session: another tab
    second.goto(order_url)
    pay(second, "4242424242424242")
    expect_paid(second)
    held[0].continue_()
    expect(page.locator("#order-status")).to_have_text("Paid")  # the paid order's page
    assert page.get_by_role("dialog").count() == 0
    [intent] = stripe_client.v1.payment_intents.list().data
    assert (intent.status, intent.amount_received) == ("succeeded", 8900)


def test_an_intent_authenticated_elsewhere_before_the_banks_modal_is_confirmed_and_pays(
        page, store, sandbox, stripe_client):
    """The bank approved this intent elsewhere (requires_confirmation) between the
    server's answer and Stripe.js's read: handleCardAction rejects, the page asks the
    server once, and the server's confirm charges it. No second trip to the bank."""
    to_payment(page, store)
    held = hold_intent_read(page)
    pay(page, "4000002500003155")
    wait_held(page, held)
    [intent] = stripe_client.v1.payment_intents.list().data
    sandbox.authenticate(intent.id, "complete")
    held[0].continue_()
    expect_paid(page)
    assert page.get_by_role("dialog").count() == 0
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    confirms = [c for c in server_calls(sandbox) if c["path"].endswith("/confirm")]
    assert len(confirms) == 1


def test_a_second_refusal_in_one_click_is_not_asked_again(page, store, sandbox,
                                                          stripe_client):
    """Stripe.js refuses (the bank failed the intent elsewhere), the page asks the server
    once, whose confirm sends the card to the bank again; that fails elsewhere too before
    Stripe.js reads it, and Stripe.js refuses again: the page stops there (no loop), says
    the bank's check did not go through and frees Pay."""
    to_payment(page, store)
    held = hold_intent_read(page)
    pay(page, "4000002500003155")
    wait_held(page, held)
    [intent] = stripe_client.v1.payment_intents.list().data
    sandbox.authenticate(intent.id, "fail")
    held[0].continue_()
    wait_held(page, held, count=2)  # the server confirmed again: the bank asks again
    sandbox.authenticate(intent.id, "fail")
    held[1].continue_()
    expect(page.locator("#order-status")).to_have_text(
        "Not paid: the check with your bank did not go through.")
    expect_error(page, "The check with your bank could not be completed.")
    page.wait_for_timeout(500)
    assert len(held) == 2 and page.get_by_role("dialog").count() == 0
    assert len([c for c in server_calls(sandbox) if c["path"].endswith("/confirm")]) == 1
    assert Order.objects.get().status == Order.Status.OPEN
