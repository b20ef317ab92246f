"""The admin's own pages with axe and the keyboard, in headless Chromium: the dashboard
(its daily chart a picture for the mouse and a table for everyone else, contrast, forced
colours, the countdown's words from the page), an ops action's progress page updating in
place with the focus kept, and the cancel confirmation's error. Screenshots land in
SHOTS_DIR when set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from payments.models import Incident
from tests.payments.admin.test_accessibility import left_at_the_bank
from tests.payments.factories import attempt_of, incident_of, order_of, totals_recounted

pytestmark = pytest.mark.browser


@pytest.fixture
def admin(live_server, transactional_db, staff_roles):
    """Olga (ops) signed in, a month with payments in trouble, one payment Stripe's hour
    will fail soon and one left at the bank's challenge."""
    now = timezone.now()
    for days_ago in (1, 3, 9):
        incident = incident_of(Incident.Kind.ACTION_ABANDONED, email=f"d{days_ago}@example.com",
                               first_seen_at=now - timedelta(days=days_ago),
                               status=Incident.Status.LOST)
        Incident.objects.filter(pk=incident.pk).update(
            intent_created_at=now - timedelta(days=days_ago))
    finalized = incident_of(Incident.Kind.CONFIRMATION_ABANDONED, email="f@example.com",
                            status=Incident.Status.AUTO_FINALIZED)
    Incident.objects.filter(pk=finalized.pk).update(intent_created_at=now, resolved_at=now)
    attempt_of(order_of(("Wanderschuhe", 12_990, 1), email="eva@example.com"),
               status="requires_confirmation",
               requires_confirmation_at=now - timedelta(minutes=5))
    challenged = left_at_the_bank()
    totals_recounted(None)
    olga = User.objects.create_user("olga", password="pw-olga", is_staff=True)
    olga.groups.add(Group.objects.get(name="Payments ops"))
    client = Client()
    client.force_login(olga)
    return live_server.url, client.cookies["sessionid"].value, challenged


def signed_in(browser, admin, *, width: int = 1280, locale: str = "en-US"):
    url, session, _ = admin
    context = browser.new_context(locale=locale, viewport={"width": width, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def test_the_dashboards_colours_and_links_in_text(browser, admin):
    url = admin[0]
    context, page = signed_in(browser, admin)
    page.goto(url + "/admin/payments/dashboard/")
    assert page.locator(".dash-switch a.selected").first.evaluate(
        "a => getComputedStyle(a).backgroundColor") == "rgb(65, 118, 144)"  # 5:1 with white
    assert page.locator(".dash-outcome-auto_finalized th").evaluate(
        "th => getComputedStyle(th).color") == "rgb(26, 127, 55)"  # 4.8:1 on #f8f8f8
    for link in (".dash-range > a", ".dash-kpi-money > a", ".breadcrumbs a", ".help > a"):
        assert page.locator(link).first.evaluate(
            "a => getComputedStyle(a).textDecorationLine") == "underline", link
    context.close()
