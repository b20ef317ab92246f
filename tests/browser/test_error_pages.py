"""A shopper whose cookies were cleared clicks "Add to cart": the page that says so is the
site's own, styled under its CSP, fits a phone, and its link back leads to a cart that
works. Screenshots land in SHOTS_DIR when set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.accessibility import axe_violations

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("SHOTS_DIR")
TEXTS = {"en-US": ("Add to cart", "Your session has expired", "Back to the store"),
         "de-DE": ("In den Warenkorb", "Ihre Sitzung ist abgelaufen", "Zurück zum Shop")}


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("locale", TEXTS)
def test_cookies_cleared_before_add_to_cart_shows_our_page(browser, store, locale, width):
    add, heading, back = TEXTS[locale]
    context = browser.new_context(locale=locale, viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(store + "/")
    context.clear_cookies()  # the session and the CSRF cookie, as a browser's "clear data"
    with page.expect_response(lambda r: r.url.endswith("/cart/")) as answer:
        page.get_by_role("button", name=add).click()
    assert answer.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    assert page.evaluate("getComputedStyle(document.body).fontFamily") != "", "unstyled"
    assert page.evaluate("getComputedStyle(document.querySelector('a.button')).color") \
        == "rgb(255, 255, 255)", "site.css did not apply"
    assert "DEBUG" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert axe_violations(page, "CSRF failure page") == []
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"csrf-{locale[:2]}-{width}.png"),
                        full_page=True)
    page.get_by_role("link", name=back).click()  # what the page says to do works
    with page.expect_response(lambda r: r.url.endswith("/cart/")) as answer:
        page.get_by_role("button", name=add).click()
    assert answer.value.status == 302
    page.goto(store + "/cart/")
    expect(page.locator("main")).to_contain_text("Wool blanket")
    assert [text for text in console if "Content Security Policy" in text] == []
    context.close()
