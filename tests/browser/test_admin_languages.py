"""The admin in German, in headless Chromium at desktop and phone width: a German
browser gets the incident list and the dashboard with our titles, actions, incident
kinds and Stripe's codes in German. Screenshots land in SHOTS_DIR when it is set."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from payments.models import Incident
from tests.payments.factories import incident_of, totals_recounted

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("SHOTS_DIR")


@pytest.fixture
def admin_in_german(live_server, transactional_db, staff_roles):
    now = timezone.now()
    for kind, decline, brand, minutes in (
            (Incident.Kind.CARD_DECLINED, "insufficient_funds", "visa", 90),
            (Incident.Kind.AUTHENTICATION_FAILED, "", "mastercard", 30),
            (Incident.Kind.CONFIRMATION_ABANDONED, "", "visa", 10),
            (Incident.Kind.CARD_DECLINED, "expired_card", "amex", 300)):
        incident = incident_of(kind, email=f"{kind}@example.com")
        Incident.objects.filter(pk=incident.pk).update(
            decline_code=decline, error_code="card_declined" if decline else
            "payment_intent_authentication_failure", card_brand=brand, card_country="DE",
            intent_created_at=now - timedelta(minutes=minutes))
    totals_recounted(None)
    olga = User.objects.create_user("olga", password="pw-olga", is_staff=True)
    olga.groups.add(Group.objects.get(name="Payments ops"))
    client = Client()
    client.force_login(olga)
    return live_server.url, client.cookies["sessionid"].value


@pytest.mark.parametrize("width", [1280, 390])
def test_the_incident_list_and_dashboard_in_german(browser, admin_in_german, width):
    url, session = admin_in_german
    context = browser.new_context(locale="de-DE", viewport={"width": width, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
    page = context.new_page()
    page.set_default_timeout(10_000)

    page.goto(url + "/admin/payments/incident/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("#result_list thead")).to_contain_text("Letzter Fehler")
    expect(page.locator("#result_list tbody")).to_contain_text("Unzureichende Deckung")
    expect(page.locator("select[name=action]")).to_contain_text("Jetzt bestätigen")
    shot(page, f"incidents-de-{width}")

    page.goto(url + "/admin/payments/dashboard/")
    expect(page.locator("main, #content").first).to_contain_text("Nach Ablehnungscode")
    shot(page, f"dashboard-de-{width}")
    context.close()


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)
