"""The admin in German, in headless Chromium at desktop and phone width: a German
browser gets the incident list, the dashboard and an incident's page with our titles,
actions, incident kinds, statuses, field names and Stripe's codes in German, and nothing
on them wider than the screen or overlapping. Screenshots land in SHOTS_DIR when set."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from payments.models import Incident, OpsAction, OpsActionItem, Order
from payments.recovery.actions import incident_version
from tests.payments.factories import attempt_of, incident_of, order_of, totals_recounted

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("SHOTS_DIR")
# A rate as German writes it: "33,3 %", never "33.3 %".
RATE_IN_GERMAN = re.compile(r"^\d{1,3},\d %$")


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
            intent_created_at=now - timedelta(minutes=minutes),
            # The sweep sent its confirm of the authenticated one (its page says when).
            finalize_sent_at=now if kind == Incident.Kind.CONFIRMATION_ABANDONED else None)
    # Some days of the month with payments in trouble, for the chart's bars and labels.
    for days_ago in (3, 9, 16, 24):
        incident = incident_of(Incident.Kind.ACTION_ABANDONED, email=f"d{days_ago}@example.com",
                               first_seen_at=now - timedelta(days=days_ago),
                               status=Incident.Status.LOST)
        Incident.objects.filter(pk=incident.pk).update(
            intent_created_at=now - timedelta(days=days_ago))
    # A payment of the shop, left at the bank's challenge, that ops sent a link for.
    order = order_of(("Wanderschuhe", 12_990, 1), email="anna@example.com")
    attempt = attempt_of(order, requires_action_at=now - timedelta(hours=3))
    challenged = incident_of(Incident.Kind.ACTION_ABANDONED, attempt=attempt)
    totals_recounted(None)
    olga = User.objects.create_user("olga", password="pw-olga", is_staff=True)
    olga.groups.add(Group.objects.get(name="Payments ops"))
    action = OpsAction.objects.create(kind=OpsAction.Kind.SEND_LINK, user=olga, requested=1,
                                      done=0, skipped=1, status=OpsAction.Status.DONE,
                                      submitted_at=now, finished_at=now,
                                      summary="0 links sent, 1 skipped: no email address")
    OpsActionItem.objects.create(ops_action=action, incident=challenged,
                                 version=incident_version(challenged), finished_at=now,
                                 result=OpsActionItem.Result.SKIPPED, detail="no email address")
    client = Client()
    client.force_login(olga)
    return live_server.url, client.cookies["sessionid"].value, challenged.pk


@pytest.mark.parametrize("width", [1280, 390])
def test_the_incident_list_and_dashboard_in_german(browser, admin_in_german, width):
    url, session, challenged = admin_in_german
    context = browser.new_context(locale="de-DE", viewport={"width": width, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
    page = context.new_page()
    page.set_default_timeout(10_000)

    page.goto(url + "/admin/payments/incident/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("#result_list thead")).to_contain_text("Letzter Fehler")
    expect(page.locator("#result_list tbody")).to_contain_text("Unzureichende Deckung")
    expect(page.locator("select[name=action]")).to_contain_text("Jetzt bestätigen")
    expect(page.locator("#result_list tbody")).to_contain_text("Offen")  # a status
    expect(page.locator("#result_list tbody")).to_contain_text("Verloren")
    shot(page, f"incidents-de-{width}")
    nothing_wider_than_the_screen(page, width)

    page.goto(url + "/admin/payments/dashboard/?days=30")
    expect(page.locator("main, #content").first).to_contain_text("Nach Ablehnungscode")
    expect(page.locator(".dash-kpi-auth .dash-kpi-value")).to_have_text(RATE_IN_GERMAN)
    page.locator(".dash-help summary").click()  # the help, open for the screenshot
    help_text = page.locator(".dash-help ul")
    expect(help_text).to_contain_text("Jede Zahlung einmal")
    expect(help_text).not_to_contain_text("Each payment once")
    shot(page, f"dashboard-de-{width}")
    nothing_wider_than_the_screen(page, width)
    labels_apart(page)

    page.goto(url + f"/admin/payments/incident/{challenged}/change/")
    content = page.locator("#content")
    shot(page, f"incident-de-{width}")
    expect(content).to_contain_text("Offen")  # the incident's status
    expect(content).to_contain_text("Erfordert Aktion")  # the payment's, at Stripe
    expect(content).to_contain_text("keine E-Mail-Adresse")  # the ops action's stored detail
    nothing_wider_than_the_screen(page, width)

    finalized = Incident.objects.get(kind=Incident.Kind.CONFIRMATION_ABANDONED).pk
    page.goto(url + f"/admin/payments/incident/{finalized}/change/")
    expect(page.locator("#content")).to_contain_text("Automatischer Abschluss gesendet")
    shot(page, f"incident-finalize-sent-de-{width}")
    nothing_wider_than_the_screen(page, width)

    page.goto(url + "/admin/payments/opsaction/")
    expect(page.locator("#result_list tbody")).to_contain_text(
        "0 Links gesendet, 1 übersprungen: keine E-Mail-Adresse")  # stored in English
    context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_sign_in_and_its_second_factor_in_german(browser, live_server, transactional_db,
                                                     staff_roles, settings, width):
    settings.ADMIN_SECOND_FACTOR_REQUIRED = True
    olga = User.objects.create_user("olga", password="pw-olga-long-enough", is_staff=True)
    olga.groups.add(Group.objects.get(name="Payments ops"))
    context = browser.new_context(locale="de-DE", viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)

    page.goto(live_server.url + "/admin/login/?next=/admin/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("#site-name")).to_contain_text("Verwaltung")
    shot(page, f"sign-in-de-{width}")
    nothing_wider_than_the_screen(page, width)
    page.fill("#id_username", "olga")
    page.fill("#id_password", "pw-olga-long-enough")
    page.locator("input[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/admin/second-factor/"))
    step = page.locator("#content-main")
    expect(step).to_contain_text("Zweiten Faktor einrichten")
    expect(step).to_contain_text("Telefon verloren?")
    expect(page.locator("#second-factor-form input[type=submit]")).to_have_value("Bestätigen")
    shot(page, f"second-factor-de-{width}")
    nothing_wider_than_the_screen(page, width)
    page.fill("#id_token", "000000")
    page.locator("#second-factor-form input[type=submit]").click()
    expect(page.locator(".errornote")).to_have_text(
        "Dieser Code stimmt nicht. Geben Sie die 6 Ziffern ein, die Ihre App jetzt anzeigt.")
    shot(page, f"second-factor-wrong-de-{width}")
    nothing_wider_than_the_screen(page, width)
    context.close()


def nothing_wider_than_the_screen(page, width: int) -> None:
    page.wait_for_load_state("load")  # measured once styled, not while still loading
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def labels_apart(page) -> None:
    """The daily chart's day labels and its y axis' numbers do not overlap one another."""
    boxes = page.eval_on_selector_all(
        ".dash-daily text", "els => els.map(e => { const r = e.getBoundingClientRect(); "
        "return [r.left, r.right, r.top, r.bottom, e.textContent]; })")
    for i, (left, right, top, bottom, text) in enumerate(boxes):
        for left2, right2, top2, bottom2, text2 in boxes[i + 1:]:
            apart = right <= left2 or right2 <= left or bottom <= top2 or bottom2 <= top
            assert apart, f"{text!r} overlaps {text2!r}"


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_the_lockout_page_in_german_on_a_phone(browser, live_server, transactional_db,
                                               staff_roles, settings):
    User.objects.create_user("mia", password="pw-mia-long-enough", is_staff=True)
    context = browser.new_context(locale="de-DE", viewport={"width": 390, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.goto(live_server.url + "/admin/login/")
        page.fill("#id_username", "mia")
        page.fill("#id_password", "wrong")
        page.locator("input[type=submit]").click()
    expect(page.locator(".errornote")).to_contain_text("Anmeldung gesperrt")
    expect(page.locator("#content-main")).to_contain_text("Zurück zur Anmeldeseite")
    shot(page, "locked-out-de-390")
    nothing_wider_than_the_screen(page, 390)
    context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_an_order_whose_receipt_was_refused_in_german(browser, admin_in_german, width):
    url, session, _ = admin_in_german
    order = Order.objects.get(email="anna@example.com")
    Order.objects.filter(pk=order.pk).update(
        status=Order.Status.PAID, paid_at=timezone.now(), receipt_refusals=2,
        receipt_retry_at=timezone.now() + timedelta(minutes=10))
    context = browser.new_context(locale="de-DE", viewport={"width": width, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(url + f"/admin/payments/order/{order.pk}/change/")
    expect(page.locator("#content")).to_contain_text(
        "Vom Mailserver 2-mal abgelehnt; nächster Versuch")
    expect(page.locator("#content")).to_contain_text("Positionen")  # the lines, plural
    shot(page, f"order-refused-receipt-de-{width}")
    nothing_wider_than_the_screen(page, width)
    context.close()
