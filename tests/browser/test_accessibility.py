"""Every shopper can pay (WCAG 2.1 AA, as the European Accessibility Act asks through EN
301 549): axe-core finds no serious or critical violation on any shopper page or state,
a shopper pays with the keyboard alone through the card field and the bank's modal,
errors are announced, and the pages work at 320 px and at 200 % zoom."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from payments.models import Incident, Order, PaymentAttempt, RecoveryLink
from payments.monitoring import scans
from payments.recovery import links
from tests.browser.accessibility import axe_violations as violations_of
from tests.browser.accessibility import focused, tab_to
from tests.browser.test_checkout import enter_card
from tests.browser.test_languages import shot
from tests.browser.test_phone import too_wide

pytestmark = pytest.mark.browser


def recovery_link_url(order: Order) -> str:
    """A recovery link for ``order``, left at the bank's modal, as ops would send it."""
    PaymentAttempt.objects.update(requires_action_at=order.created_at.replace(year=2000))
    scans.scan_stale()
    incident = Incident.objects.get(order=order)
    user = User.objects.create_user("olga", password="a-long-enough-passphrase",
                                    is_staff=True)
    user.groups.add(Group.objects.get(name="Payments ops"))
    link = RecoveryLink.objects.create(order=order, incident=incident, email=order.email,
                                       created_by=user,
                                       expires_at=incident.first_seen_at.replace(year=2100))
    return links.recovery_url(token=links.recovery_link_token(link=link))


# English on a desktop, German on a phone: each page and state is checked (and, with
# SHOTS_DIR set, photographed) at both widths.
@pytest.mark.parametrize(("language", "width"), [("en", 1280), ("de", 390)])
def test_no_shopper_page_or_state_has_a_serious_axe_violation(browser, store, sandbox,
                                                             language, width):
    viewport = {"width": width, "height": 800}
    context = browser.new_context(locale=context_locale(language), viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(10_000)
    found: list[str] = []

    def axe_violations(page, where: str) -> list[str]:
        shot(page, f"{re.sub(r'[^a-z0-9]+', '-', where.lower())}-{language}-{width}")
        return violations_of(page, where)
    page.goto(store + "/")
    found += axe_violations(page, "store")
    page.goto(store + "/cart/")
    found += axe_violations(page, "empty cart")
    # A cart refusal (a quantity past 99, as a hand-made form would send it).
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    page.request.post(store + "/cart/", form={"action": "add", "sku": "wool-blanket",
                                              "quantity": "100", "csrfmiddlewaretoken": token},
                      max_redirects=0)  # the page's own visit shows the message
    page.goto(store + "/cart/")
    expect(page.locator(".messages .error")).to_be_visible()
    found += axe_violations(page, "cart with an error")
    page.goto(store + "/")
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(re.compile(r"/cart/$"))  # the cart's page, not the store's
    found += axe_violations(page, "cart")
    page.locator("main a.button").click()
    expect(page).to_have_url(re.compile(r"/checkout/$"))
    found += axe_violations(page, "checkout")
    page.fill("input[name=email]", "a@b")  # the browser accepts it, Django does not
    page.locator("main button[type=submit]").click()
    expect(page.locator(".errorlist")).to_be_visible()
    found += axe_violations(page, "checkout with an error")
    page.fill("input[name=email]", "shopper@example.com")
    page.locator("main button[type=submit]").click()
    page.wait_for_selector("input[name=cardnumber]")
    order_url = page.url
    found += axe_violations(page, "order page")
    page.goto(store + "/cart/")  # Back from the order: its way back is on the cart
    expect(page.locator(".awaiting a")).to_be_visible()
    found += axe_violations(page, "cart with an order awaiting payment")
    page.goto(order_url)
    page.fill("input[name=cardnumber]", "4242 4242")
    page.locator("#pay-button").click()
    expect(page.locator("#card-errors")).not_to_be_empty()
    found += axe_violations(page, "card field error")
    enter_card(page, "4000 0000 0000 9995")
    page.locator("#pay-button").click()
    expect(page.locator("#order-status")).to_have_class(re.compile("status-failed"))
    found += axe_violations(page, "declined")
    enter_card(page, "4000 0025 0000 3155")
    page.locator("#pay-button").click()
    page.get_by_role("dialog").wait_for()
    found += axe_violations(page, "bank's modal")
    page.keyboard.press("Escape")  # closing the modal fails the check
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.locator("#card-errors")).not_to_be_empty()
    found += axe_violations(page, "authentication failed")
    context.close()

    # A shopper who left at the bank's modal gets a recovery link.
    left = browser.new_context(locale=context_locale(language), viewport=viewport)
    page = left.new_page()
    page.set_default_timeout(10_000)
    page.goto(store + "/")
    page.locator("main form button[type=submit]").first.click()
    to_payment_in_any_language(page)
    enter_card(page, "4000 0025 0000 3155")
    page.locator("#pay-button").click()
    page.get_by_role("dialog").wait_for()
    order = Order.objects.get(reference=page.url.rstrip("/").rsplit("/", 1)[-1])
    url = recovery_link_url(order)
    page.goto(url)
    found += axe_violations(page, "recovery page")
    # While the link is used, its status line (a polite live region) says so.
    held = []
    page.route(url, lambda route: held.append(route) if route.request.method == "POST"
               else route.continue_())
    page.locator("#authenticate-button").click()
    requests_held(page, held)
    expect(page.locator("#recover-status[role=status]")).not_to_be_empty()
    assert page.evaluate("document.activeElement.id") == "authenticate-button"
    held[0].continue_()
    page.unroute(url)
    page.get_by_role("dialog").wait_for()
    page.locator(".sandbox-3ds .complete").click()  # in any language
    expect(page.locator("#order-status")).to_have_class(re.compile("status-paid"))
    found += axe_violations(page, "paid")
    page.goto(url)
    found += axe_violations(page, "recovery link of a paid order")
    page.goto(store + "/recover/not-a-token/")
    found += axe_violations(page, "recovery link not valid (404)")
    RecoveryLink.objects.update(expires_at=order.created_at.replace(year=2000))
    Order.objects.filter(pk=order.pk).update(status=Order.Status.OPEN)
    page.goto(url)
    found += axe_violations(page, "recovery link expired (410)")
    page.goto(store + "/no-such-page/")
    found += axe_violations(page, "404")
    page.goto(order_url)  # another session's order: 404 for this one
    found += axe_violations(page, "order of another session")
    left.close()
    assert found == []


def requests_held(page, held: list, count: int = 1) -> None:
    """Let Playwright deliver its events until the route handler holds ``count`` requests
    (the handler runs when the page's request reaches Playwright, not when the click ends)."""
    for _ in range(200):
        if len(held) >= count:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"{len(held)} requests held, not {count}")


def context_locale(language: str) -> str:
    return {"en": "en-US", "de": "de-DE", "fr": "fr-FR"}[language]


def test_a_shopper_pays_with_the_keyboard_alone(page, store, sandbox):
    """Tab, Shift+Tab, Enter, Space and Escape only: no click, no fill; the focus is
    visible at every stop; errors are announced; the bank's modal keeps the focus."""
    page.goto(store + "/")
    keyboard = page.keyboard
    tab_to(page, "Skip to content")
    tab_to(page, "Add to cart")
    keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Added to your cart")
    tab_to(page, "Checkout")
    keyboard.press("Enter")
    page.wait_for_url("**/checkout/")
    tab_to(page, "Email")
    keyboard.type("shopper@example.com")
    tab_to(page, "Continue to payment")
    keyboard.press("Space")
    page.wait_for_selector("input[name=cardnumber]")

    # A card number cut short: the field's message is announced and the focus goes back to
    # the field it is about.
    assert page.locator("#card-errors").get_attribute("role") == "alert"
    tab_to(page, "Card number")
    keyboard.type("4242 4242")
    tab_to(page, "Pay")
    keyboard.press("Enter")
    expect(page.locator("#card-errors")).to_have_text("Your card number is incomplete.")
    assert focused(page)["name"] == "Card number"

    # A declined card. While /pay is under way the status line (a polite live region) says
    # so and the focus stays on Pay, where a second Enter pays nothing more; then the
    # error is announced (role=alert) and the form works again.
    type_card(page, "4000 0000 0000 9995")
    tab_to(page, "Pay")
    held = []
    page.route("**/pay", lambda route: held.append(route))
    keyboard.press("Enter")
    requests_held(page, held)
    expect(page.locator("#order-status")).to_have_text("Processing your payment…")
    assert page.locator("#order-status").get_attribute("role") == "status"
    assert focused(page)["name"].startswith("Pay")
    keyboard.press("Enter")
    page.wait_for_timeout(500)  # time for a second /pay to be sent, were one sent
    assert len(held) == 1
    held[0].continue_()
    page.unroute("**/pay")
    expect(page.locator("#card-errors")).to_have_text("Your card has insufficient funds.")
    expect(page.locator("#order-status")).to_contain_text("Not paid")
    assert focused(page)["name"].startswith("Pay")

    # The bank's modal: the focus moves into it and stays there; Escape fails it.
    tab_to(page, "Card number", backwards=True)
    type_card(page, "4000 0025 0000 3155")
    tab_to(page, "Pay")
    keyboard.press("Enter")
    page.get_by_role("dialog").wait_for()
    assert focused(page)["name"] == "Complete authentication"
    for _ in range(5):
        keyboard.press("Tab")
        assert focused(page)["inDialog"] and focused(page)["visible"]
    keyboard.press("Shift+Tab")
    assert focused(page)["inDialog"]
    keyboard.press("Escape")
    expect(page.locator("#card-errors")).to_contain_text("The check with your bank was cancelled")
    assert focused(page)["name"].startswith("Pay")  # back where it was

    # Again, and this time the bank says yes, with Space on its button.
    keyboard.press("Enter")
    page.get_by_role("dialog").wait_for()
    assert focused(page)["name"] == "Complete authentication"
    keyboard.press("Space")
    expect(page.locator("#order-status")).to_have_text("Paid")
    assert Order.objects.get().status == Order.Status.PAID


def type_card(page, number: str) -> None:
    """The card field by keyboard: select what is there, type over it, Tab to the next."""
    for value in (number, "12 / 34", "123"):
        page.keyboard.press("Control+A")
        page.keyboard.type(value)
        if value != "123":
            page.keyboard.press("Tab")


@pytest.mark.parametrize("viewport", [
    {"width": 320, "height": 640},  # WCAG 1.4.10 reflow: 320 CSS px wide
    {"width": 640, "height": 400},  # a 1280 × 800 screen at 200 % zoom
])
def test_a_shopper_pays_at_320_px_and_at_200_percent_zoom(browser, store, sandbox, viewport):
    context = browser.new_context(viewport=viewport, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(store + "/")
    assert too_wide(page) == []
    page.locator("main form button[type=submit]").first.click()
    assert too_wide(page) == []
    to_payment_in_any_language(page)
    assert too_wide(page) == []
    enter_card(page, "4000 0025 0000 3155")
    page.locator("#pay-button").click()
    page.get_by_role("dialog").wait_for()
    assert too_wide(page) == []
    page.locator(".sandbox-3ds .complete").click()  # in any language
    expect(page.locator("#order-status")).to_have_text("Payée")
    assert too_wide(page) == []
    context.close()


def to_payment_in_any_language(page) -> None:
    page.locator("main a.button").click()
    page.fill("input[name=email]", "shopper@example.com")
    page.locator("main button[type=submit]").click()
    page.wait_for_selector("input[name=cardnumber]")
