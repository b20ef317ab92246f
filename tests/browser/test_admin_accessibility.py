"""The admin's own pages with axe and the keyboard, in headless Chromium: the dashboard
(its daily chart a picture for the mouse and a table for everyone else, contrast, forced
colours, the countdown's words from the page), an ops action's progress page updating in
place with the focus kept, and the cancel confirmation's error. Screenshots land in
SHOTS_DIR when set."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from payments.models import Incident, OpsAction, OpsActionItem, PaymentEvent
from tests.browser.accessibility import axe_violations, focused
from tests.browser.test_admin_languages import shot
from tests.payments.admin.test_accessibility import action_at_work, left_at_the_bank
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


@pytest.mark.parametrize("width", [1280, 390])
def test_the_dashboard_passes_axe_and_its_chart_is_a_table_for_the_keyboard(browser, admin,
                                                                           width):
    url = admin[0]
    context, page = signed_in(browser, admin, width=width)
    page.goto(url + "/admin/payments/dashboard/?days=90")
    # nested-interactive, link-in-text-block, color-contrast among them.
    assert axe_violations(page, "dashboard") == []
    shot(page, f"dashboard-{width}")

    # The keyboard goes past the chart (it had 180 stops at 90 days) to its table.
    page.get_by_role("link", name="All payments awaiting confirmation").focus()
    page.keyboard.press("Tab")
    assert focused(page)["name"] == "Show as table" and focused(page)["visible"]
    page.keyboard.press("Enter")
    rows = page.locator(".dash-days tbody tr")
    expect(rows).to_have_count(90)
    assert page.locator(".dash-days caption").text_content().strip() == \
        "Payments in trouble made and recovered per day"
    made = rows.nth(88)  # yesterday
    expect(made.locator("td").first).to_have_text("1")
    assert made.locator("a").first.get_attribute("href") == \
        page.locator(".dash-daily a").nth(2 * 88).get_attribute("href")
    page.keyboard.press("Tab")
    assert focused(page)["visible"] and focused(page)["name"] == "0"  # the first day's made
    assert axe_violations(page, "dashboard, table open") == []
    shot(page, f"dashboard-table-{width}")
    # The mouse still opens a day's payments from its bar.
    page.locator(".dash-daily a rect.dash-bar-seen").nth(88).click(force=True)
    expect(page).to_have_url(re.compile(r"/admin/payments/incident/\?"))
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    context.close()


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


def test_the_legend_keeps_its_colours_in_forced_colours(browser, admin):
    url = admin[0]
    context, page = signed_in(browser, admin)
    page.emulate_media(forced_colors="active")
    page.goto(url + "/admin/payments/dashboard/")
    colours = page.eval_on_selector_all(
        ".dash-key", "keys => keys.map(k => getComputedStyle(k).backgroundColor)")
    assert colours == ["rgb(217, 130, 43)", "rgb(46, 133, 64)"]  # the bars' own
    bar = page.locator(".dash-daily rect.dash-bar-seen").first
    assert bar.evaluate("r => getComputedStyle(r).fill") == "rgb(217, 130, 43)"
    context.close()


def test_the_countdown_speaks_the_pages_words(browser, admin):
    url = admin[0]
    context, page = signed_in(browser, admin)

    def in_other_words(route):
        html = route.fetch().text().replace(
            'data-countdown-minutes="%(minutes)s min %(seconds)s s"',
            'data-countdown-minutes="noch %(minutes)s:%(seconds)s"')
        route.fulfill(body=html, headers={"content-type": "text/html; charset=utf-8"})

    page.route(re.compile(r".*/admin/payments/dashboard/$"), in_other_words)
    page.goto(url + "/admin/payments/dashboard/")
    expect(page.locator(".dash-countdown")).to_have_text(re.compile(r"^noch 5[45]:\d\d$"))
    context.close()


def test_the_countdown_in_german(browser, admin):
    """Needs the countdown's msgids in the German catalog."""
    url = admin[0]
    context, page = signed_in(browser, admin, locale="de-DE")
    page.goto(url + "/admin/payments/dashboard/")
    expect(page.locator(".dash-countdown")).to_have_text(re.compile(r"^5[45] Min\. \d\d Sek\.$"))
    context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_progress_page_updates_in_place_and_keeps_the_focus(browser, admin, width):
    url, _, challenged = admin
    olga = User.objects.get(username="olga")
    action = action_at_work(user=olga, incidents=[challenged, left_at_the_bank()])
    first, second = action.items.order_by("position")
    context, page = signed_in(browser, admin, width=width)
    fetches = []
    page.on("request", lambda request: fetches.append(request.url)
            if "/opsaction/" in request.url else None)
    page.goto(f"{url}/admin/payments/opsaction/{action.pk}/change/"
              "?next=/admin/payments/incident/")
    status = page.locator("#ops-progress")
    expect(status).to_have_attribute("role", "status")
    expect(status).to_contain_text("0 of 2 done")
    expect(page.locator(".ops-check-again")).to_be_hidden()  # the script does it
    expect(page.get_by_role("button", name="Stop this action")).to_be_visible()
    assert page.locator("meta[http-equiv=refresh]").count() == 0
    assert axe_violations(page, "progress page") == []
    shot(page, f"progress-at-work-{width}")
    back = page.get_by_role("link", name="Back to where the action came from")
    back.focus()
    page.evaluate("window.notReloaded = true")

    # What the worker writes as it goes (its own tests run it for real: test_ops.py).
    now = timezone.now()
    OpsActionItem.objects.filter(pk=first.pk).update(
        result=OpsActionItem.Result.DONE, detail="refreshed", finished_at=now)
    OpsAction.objects.filter(pk=action.pk).update(done=1)
    expect(status).to_contain_text("1 of 2 done")
    expect(page.locator("td.field-result_display").first).to_have_text("refreshed")
    assert page.evaluate("window.notReloaded") is True
    assert page.evaluate("document.activeElement.textContent") == \
        "Back to where the action came from"

    OpsActionItem.objects.filter(pk=second.pk).update(
        result=OpsActionItem.Result.SKIPPED, detail="already canceled", finished_at=now)
    OpsAction.objects.filter(pk=action.pk).update(
        done=1, skipped=1, status=OpsAction.Status.DONE, finished_at=now,
        summary="1 refreshed, 1 skipped: already canceled")
    expect(status).to_contain_text("Done — 1 refreshed, 1 skipped: already canceled")
    expect(page.locator(".field-progress .readonly")).to_have_text("Done")
    expect(page.locator(".ops-at-work")).to_be_hidden()
    expect(page.get_by_role("button", name="Stop this action")).to_be_hidden()  # finished
    assert page.evaluate("window.notReloaded") is True
    assert page.evaluate("document.activeElement.textContent") == \
        "Back to where the action came from"
    assert axe_violations(page, "progress page, done") == []
    shot(page, f"progress-done-{width}")
    asked = len(fetches)
    time.sleep(4)  # more than the script's 3 s
    assert len(fetches) == asked, "still asking after the action finished"
    context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_a_cancel_without_a_reason_is_announced_with_the_focus_on_the_field(browser, admin,
                                                                           width):
    url, _, challenged = admin
    context, page = signed_in(browser, admin, width=width)
    page.goto(f"{url}/admin/payments/incident/ops/cancel/?ids={challenged.pk}")
    assert axe_violations(page, "cancel confirmation") == []
    page.get_by_role("button", name="Yes, cancel").click()
    expect(page).to_have_title(re.compile(r"^Error: Cancel 1 payment\?"))
    expect(page.get_by_role("alert")).to_have_text("Please correct the error below.")
    expect(page.locator("#id_reason")).to_be_focused()
    reason = page.get_by_role("combobox", name="Reason")
    expect(reason).to_have_accessible_description(re.compile(
        r"Stripe records it with the cancellation\..*This field is required\."))
    assert axe_violations(page, "cancel confirmation, error") == []
    shot(page, f"cancel-error-{width}")
    context.close()


def test_the_incident_pages_wide_tables_scroll_on_a_phone(browser, admin):
    """The ledger (1012 px) and the Stripe events (838 px) were cut off at 390 px with
    no way to reach their last columns."""
    url, _, challenged = admin
    PaymentEvent.objects.create(attempt=challenged.attempt, from_status="creating",
                                to_status="requires_action", source="pay",
                                actor="shopper", note="the bank's challenge")
    context, page = signed_in(browser, admin, width=390)
    page.goto(f"{url}/admin/payments/incident/{challenged.pk}/change/")
    ledger = page.locator("#ledger-group table")
    expect(ledger).to_be_visible()
    box = ledger.evaluate("el => ({scroll: el.scrollWidth, client: el.clientWidth, "
                          "overflow: getComputedStyle(el).overflowX})")
    assert box["overflow"] == "auto" and box["scroll"] > box["client"], box
    last = ledger.locator("th").last
    last.scroll_into_view_if_needed()
    expect(last).to_be_in_viewport()
    expect(page.locator("#ledger-heading")).to_be_in_viewport()  # the heading stays
    shot(page, "incident-390")
    context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_orders_totals_and_export_on_a_screen_and_a_phone(browser, live_server,
                                                             transactional_db, staff_roles,
                                                             width):
    """A merchant's month of paid orders: the totals line over the list (each currency on
    its own) and the Export CSV button, nothing wider than the screen, axe clean."""
    from tests.browser.test_admin_languages import nothing_wider_than_the_screen
    from tests.payments.admin.test_orders_export import paid_order

    for price, currency in [(2599, "eur"), (5000, "eur"), (10599, "jpy"), (5120, "kwd"),
                            (7996, "usd"), (129_990, "eur")]:
        paid_order(("Wanderschuhe", price, 1), currency=currency, paid=timezone.now())
    mia = User.objects.create_user("mia", password="pw-mia", is_staff=True)
    mia.groups.add(Group.objects.get(name="Merchants"))
    client = Client()
    client.force_login(mia)
    admin = (live_server.url, client.cookies["sessionid"].value, None)
    context, page = signed_in(browser, admin, width=width)
    page.goto(f"{live_server.url}/admin/payments/order/?status__exact=paid")
    totals = page.locator(".payments-totals")
    expect(totals).to_contain_text("6 orders: 1,375.89\u00a0EUR · 10,599\u00a0JPY")
    expect(page.get_by_role("link", name=re.compile(r"Export CSV"))).to_be_visible()
    nothing_wider_than_the_screen(page, width)
    assert axe_violations(page, "orders with totals") == []
    shot(page, f"orders-totals-{width}")
    page.goto(f"{live_server.url}/admin/payments/order/")
    expect(totals).to_contain_text("Totals: choose a period")
    shot(page, f"orders-no-totals-{width}")
    context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_an_orders_open_mismatch_is_said_before_its_fields(browser, admin, width):
    from payments.models import ReconciliationMismatch, ReconciliationRun

    url, _, challenged = admin
    now = timezone.now()
    run = ReconciliationRun.objects.create(trigger="command", days=2, status="done",
                                           window_start=now - timedelta(days=2),
                                           window_end=now)
    ReconciliationMismatch.objects.create(
        kind=ReconciliationMismatch.Kind.CHARGED_TWICE, subject=challenged.order.reference,
        order=challenged.order, stripe_id=challenged.stripe_id, charge_ids=["ch_1", "ch_2"],
        amount_here=8900, amount_at_stripe=17800, currency="eur", occurred_at=now,
        first_run=run, last_run=run)
    context, page = signed_in(browser, admin, width=width)
    page.goto(f"{url}/admin/payments/order/{challenged.order.pk}/change/")
    note = page.get_by_role("note")
    expect(note).to_contain_text("The reconciliation with Stripe found, still open:")
    expect(note.get_by_role("link", name="Charged twice")).to_be_visible()
    expect(note).to_contain_text("(2 charges)")
    assert axe_violations(page, "order with a mismatch") == []
    # The payments' table scrolls to its last column on a phone (it was cut off).
    last = page.locator("#attempts-group th, .inline-group table th").last
    last.scroll_into_view_if_needed()
    expect(last).to_be_in_viewport()
    shot(page, f"order-mismatch-{width}")
    context.close()


@pytest.mark.parametrize("listing", ["incident", "paymentattempt", "order"])
def test_the_searchable_lists_pass_axe_with_their_search_help(browser, admin, listing):
    """A list's search help (what the box finds: an address, an order, the card's last 4)
    was the search box's only description, which axe refuses (label-title-only): the
    orders' and attempts' help, added for the last 4, failed it; the incidents' always
    had."""
    url = admin[0]
    context, page = signed_in(browser, admin, width=390)
    page.goto(f"{url}/admin/payments/{listing}/?q=3155")
    assert "last 4 digits" in page.locator("#searchbar_helptext").inner_text()
    assert axe_violations(page, f"{listing} list") == []
    context.close()
