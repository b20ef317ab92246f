"""Playwright driving Debian's Chromium (Playwright cannot download its own browser here)."""

from __future__ import annotations

import os

import pytest

# Playwright's sync API runs an event loop in the test thread, which Django's
# async-safety check mistakes for async code; the ORM calls here are synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def store(site_on_sandbox, live_server, transactional_db, staff_roles):
    """The shop on a live server with one product, scans and auto-finalizing off (the
    phone and accessibility tests; other modules keep a store of their own)."""
    from payments.models import Product

    site_on_sandbox.PAYMENTS_SCAN_READS_PER_SECOND = 0
    site_on_sandbox.PAYMENTS_AUTO_FINALIZE = False
    site_on_sandbox.SITE_URL = live_server.url
    Product.objects.create(sku="wool-blanket", name="Wool blanket", price=8900,
                           currency="eur", description="Merino, 130 × 180 cm, woven in "
                           "Portugal.")
    return live_server.url
