"""Shoppers in German and French, in headless Chromium: the browser's language picks the
site's, the texts and money are theirs, Stripe.js (the sandbox's shim) speaks it too, the
switch keeps the cart; the receipt goes out in the order's language. Screenshots of the
pages land in SHOTS_DIR when it is set (tests/browser/README: looking at them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import expect

from payments.mail.receipts import order_receipt_send
from payments.models import Order, Product
from tests.browser.accessibility import axe_violations

pytestmark = pytest.mark.browser

NBSP = "\u00a0"
SHOTS = os.environ.get("SHOTS_DIR")


@pytest.fixture
def store(site_on_sandbox, live_server, transactional_db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    site_on_sandbox.SITE_URL = live_server.url
    Product.objects.create(sku="wool-blanket", name="Wool blanket", price=123450,
                           currency="eur", description="Merino, 130 × 180 cm.")
    mail.outbox.clear()
    return live_server.url


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize(("locale", "texts"), [
    ("de-DE", {"add": "In den Warenkorb", "checkout": "Zur Kasse", "email": "E-Mail",
               "continue": "Weiter zur Zahlung", "pay": f"1.234,50{NBSP}€ bezahlen",
               "number": "Kartennummer", "complete": "Bestätigung abschließen",
               "paid": "Bezahlt", "modal": f"1.234,50{NBSP}€",
               "incomplete": "Ihre Kartennummer ist unvollständig."}),
    ("fr-FR", {"add": "Ajouter au panier", "checkout": "Commander", "email": "E-mail",
               "continue": "Continuer vers le paiement",
               "pay": f"Payer 1\u202f234,50{NBSP}€", "number": "Numéro de carte",
               "complete": "Réussir l'authentification", "paid": "Payée",
               "modal": f"1\u202f234,50{NBSP}€",
               "incomplete": "Le numéro de votre carte est incomplet."}),
])
@pytest.mark.parametrize("width", [1280, 390])
def test_a_shopper_pays_in_their_language(browser, store, sandbox, locale, texts, width):
    language = locale[:2]
    context = browser.new_context(locale=locale, viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(store + "/")
    assert page.get_attribute("html", "lang") == language
    shot(page, f"store-{language}-{width}")
    page.get_by_role("button", name=texts["add"]).click()
    shot(page, f"cart-{language}-{width}")
    page.get_by_role("link", name=texts["checkout"]).click()
    page.get_by_label(texts["email"]).fill("shopper@example.com")
    shot(page, f"checkout-{language}-{width}")
    page.get_by_role("button", name=texts["continue"]).click()
    pay = page.get_by_role("button", name=texts["pay"])
    expect(pay).to_be_visible()
    page.get_by_label(texts["number"]).fill("4000 0025")
    pay.click()
    expect(page.locator("#card-errors")).to_have_text(texts["incomplete"])
    shot(page, f"order-{language}-{width}")
    page.get_by_label(texts["number"]).fill("4000 0025 0000 3155")
    page.locator("input[name=exp-date]").fill("12 / 34")
    page.locator("input[name=cvc]").fill("123")
    pay.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(texts["modal"])
    shot(page, f"bank-modal-{language}-{width}")
    assert axe_violations(page, "bank's modal") == []
    dialog.get_by_role("button", name=texts["complete"]).click()
    expect(page.locator("#order-status")).to_have_text(texts["paid"])
    shot(page, f"paid-{language}-{width}")
    order = Order.objects.get()
    assert order.status == Order.Status.PAID and order.language == language

    # The receipt, in the order's language, as the shopper's mail program shows it.
    order_receipt_send(order_id=order.pk)
    [message] = mail.outbox
    [(html, _)] = message.alternatives
    page.goto("about:blank")  # not the site's page: its CSP would drop the mail's styles
    page.set_content(html)
    assert page.get_attribute("html", "lang") == language
    expect(page.locator("body")).to_contain_text(texts["modal"])
    shot(page, f"receipt-{language}-{width}")
    context.close()


def test_the_switch_keeps_the_cart_and_the_page(page, store):
    page.goto(store + "/")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your cart")
    page.get_by_label("Language").select_option("de")
    page.get_by_role("button", name="Change").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Warenkorb")
    assert page.url.endswith("/cart/")
    expect(page.locator(".cart-lines")).to_contain_text("Wool blanket")
    expect(page.locator(".cart-lines")).to_contain_text(f"1.234,50{NBSP}€")
    page.get_by_role("link", name="Shop").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Shop")  # the cookie stays
