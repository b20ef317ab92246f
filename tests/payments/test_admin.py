"""The merchant's read-only view: a legacy-mode 3-D Secure failure is findable, amounts
read as money, our section leads the admin, and the monitoring engine's incidents and
scan runs can be seen (never edited), with any filter value."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments import scans
from payments.leases import lease_hold
from payments.models import Incident, Order, ScanCursor, ScanLock, ScanRun
from tests.payments.conftest import shopper_with_order

NBSP = "\u00a0"  # the admin keeps "51.98 EUR" and a card on one line
LATE = NBSP.join(["late", "(history", "only)"])  # a ledger row kept as history only


@pytest.fixture
def merchant(admin_client):
    return admin_client


def test_a_legacy_authentication_failure_shows_in_the_admin(site_on_sandbox, product,
                                                            merchant):
    site_on_sandbox.PAYMENTS_HANDLE_ACTIONS = False
    failed = shopper_with_order(product)
    failed.pay(payment_method_id="pm_card_authenticationRequired")
    site_on_sandbox.PAYMENTS_HANDLE_ACTIONS = True
    paid = shopper_with_order(product)
    paid.pay(payment_method_id="pm_card_visa")
    page = merchant.get("/admin/payments/paymentattempt/",
                        {"last_decline_code": "authentication_not_handled"})
    assert page.status_code == 200
    html = page.content.decode()
    assert failed.order.reference in html and paid.order.reference not in html
    attempt = failed.order.attempts.get()
    detail = merchant.get(f"/admin/payments/paymentattempt/{attempt.pk}/change/")
    assert detail.status_code == 200 and "authentication_not_handled" in detail.content.decode()
    order_page = merchant.get(f"/admin/payments/order/{paid.order.pk}/change/").content.decode()
    assert f"51.98{NBSP}EUR" in order_page and "Succeeded" in order_page


def test_payments_cannot_be_edited_or_deleted_in_the_admin(site_on_sandbox, product,
                                                           merchant):
    shopper = shopper_with_order(product)
    shopper.pay(payment_method_id="pm_card_visa")
    attempt = shopper.order.attempts.get()
    response = merchant.post(f"/admin/payments/paymentattempt/{attempt.pk}/delete/",
                             {"post": "yes"})
    assert response.status_code == 403
    assert merchant.get("/admin/payments/order/add/").status_code == 403
    attempt.refresh_from_db()
    assert attempt.status == "succeeded"


def cells(html: str) -> list[str]:
    """The text of every table cell, tags stripped."""
    found = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html, flags=re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in found]


@pytest.fixture
def paid_order(site_on_sandbox, product) -> Order:
    shopper = shopper_with_order(product, quantity=3)  # 3 × 25.99 EUR
    shopper.pay(payment_method_id="pm_card_visa")
    return shopper.order_now()


def test_amounts_read_as_money_in_lists_details_and_inlines(paid_order, merchant):
    attempt = paid_order.attempts.get()
    pages = {
        "orders": merchant.get("/admin/payments/order/"),
        "order": merchant.get(f"/admin/payments/order/{paid_order.pk}/change/"),
        "attempts": merchant.get("/admin/payments/paymentattempt/"),
        "attempt": merchant.get(f"/admin/payments/paymentattempt/{attempt.pk}/change/"),
    }
    for name, page in pages.items():
        html = page.content.decode()
        assert page.status_code == 200, name
        assert f"77.97{NBSP}EUR" in html, name
        # Never the stored minor units or a bare currency code.
        assert not {"7797", "2599", "eur"} & set(cells(html)), name
        assert not re.search(r'<div class="readonly">\s*(7797|eur)\s*</div>', html), name
    order_html = pages["order"].content.decode()
    assert f"25.99{NBSP}EUR" in order_html  # the line's unit price


def test_order_lines_say_what_was_bought(paid_order, merchant):
    html = merchant.get(f"/admin/payments/order/{paid_order.pk}/change/").content.decode()
    assert "3 × Espresso cups" in html
    assert "OrderLine object" not in html and "PaymentAttempt object" not in html


def test_the_attempts_list_has_few_compact_columns(paid_order, merchant):
    attempt = paid_order.attempts.get()
    html = merchant.get("/admin/payments/paymentattempt/").content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-([\w]+)', html)
    assert headers == ["intent", "order_link", "status", "amount_display", "card", "failure",
                       "updated"]
    row = cells(html)[len(headers):]
    assert row[0] == f"{attempt.stripe_id[:9]}\u2060…\u2060{attempt.stripe_id[-4:]}"
    assert row[1] == paid_order.reference and row[2] == "Succeeded"
    assert row[4] == NBSP.join(["visa", "••••", "4242", "(US)"])
    assert f'href="/admin/payments/order/{paid_order.pk}/change/"' in html
    assert f'title="{attempt.stripe_id}"' in html  # the full id, on hover


def test_a_decline_shows_its_code_in_the_list(site_on_sandbox, product, merchant):
    shopper_with_order(product).pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds")
    html = merchant.get("/admin/payments/paymentattempt/").content.decode()
    assert "insufficient_funds" in cells(html)


def test_the_order_page_shows_the_session_hash_never_the_key(paid_order, merchant):
    html = merchant.get(f"/admin/payments/order/{paid_order.pk}/change/").content.decode()
    assert "session_key" not in html.lower() and "Session key" not in html
    assert paid_order.session_hash and paid_order.session_hash in html


def test_payments_come_first_in_the_admin_index(merchant):
    html = merchant.get("/admin/").content.decode()
    apps = re.findall(r'class="app-(\w+) module', html)
    assert apps[0] == "payments" and {"auth", "djstripe"} <= set(apps)


def test_only_the_stripe_models_ops_needs_stay_in_the_admin(merchant):
    from djstripe import models as djstripe_models

    for kept in ("paymentintent", "charge", "event", "webhookendpoint",
                 "webhookeventtrigger", "customer", "paymentmethod"):
        assert merchant.get(f"/admin/djstripe/{kept}/").status_code == 200, kept
    for dropped in (djstripe_models.Subscription, djstripe_models.Invoice,
                    djstripe_models.Coupon, djstripe_models.TaxRate,
                    djstripe_models.IdempotencyKey):
        assert not admin.site.is_registered(dropped)
    assert merchant.get("/admin/djstripe/subscription/").status_code == 404


# --- monitoring: incidents, scan runs, cursors, leases -----------------------------------

def intent_of(response) -> str:
    return response.json()["clientSecret"].split("_secret_")[0]


@pytest.fixture
def monitored(site_on_sandbox, settings, product, sandbox):
    """Made through the services, as in production: two failed bank challenges found by
    the events scan, one order then paid with another card (its failure arrives late, as
    history), a stale sweep; and an incident from outside the checkout."""
    settings.PAYMENTS_SCAN_READS_PER_SECOND = 0
    scans.scan_events()  # anchors the cursor
    recovered, still_open = shopper_with_order(product), shopper_with_order(product)
    recovered_intent = intent_of(recovered.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(recovered_intent, "fail")
    open_intent = intent_of(still_open.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(open_intent, "fail")
    assert recovered.pay(payment_method_id="pm_card_visa").json()["success"] is True
    scans.scan_events()
    scans.scan_stale()
    outside = Incident.objects.create(
        kind=Incident.Kind.REQUIRES_ACTION_NOT_HANDLED, stripe_id="pi_outsideCheckout0000001",
        amount=1250, currency="usd", customer_email="legacy@example.com",
        error_code="authentication_required", decline_code="authentication_not_handled",
        intent_status="requires_payment_method", source="scan")
    return {"recovered": Incident.objects.get(stripe_id=recovered_intent),
            "open": Incident.objects.get(stripe_id=open_intent), "outside": outside}


def test_the_incident_list_reads_at_a_glance(monitored, merchant):
    page = merchant.get("/admin/payments/incident/")
    assert page.status_code == 200
    html = page.content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-([\w]+)', html)
    assert headers == ["customer", "amount_display", "kind_display", "status", "card_wrapped",
                       "failure", "first_seen", "where"]  # the intent under its order
    row_cells = cells(html)
    assert f"51.98{NBSP}EUR" in row_cells and f"12.50{NBSP}USD" in row_cells
    assert not {"5198", "1250", "eur", "usd"} & set(row_cells)
    assert "Authentication failed" in row_cells and "3-D Secure not handled" in row_cells
    assert {"Open", "Recovered (paid later)"} <= set(row_cells)
    assert NBSP.join(["visa", "••••", "3184"]) + " (DE)" in row_cells  # may wrap once
    assert "payment_intent_authentication_failure" in row_cells
    assert "authentication_not_handled" in row_cells  # the decline code, the error on hover
    assert "outside checkout" in html
    order = monitored["open"].order
    short = f"{order.reference[:9]}\u2060…\u2060{order.reference[-4:]}"
    assert f'<a href="/admin/payments/order/{order.pk}/change/" title="{order.reference}">' \
        f'{short}</a>' in html
    intent = monitored["open"].stripe_id
    assert f'title="{intent}">{intent[:9]}\u2060…\u2060{intent[-4:]}<' in html
    assert re.search(r"ago</span>", html) and "shopper@example.com" in row_cells
    assert "Incident object" not in html


def test_the_incident_page_shows_everything_with_the_ledger_and_late_facts(monitored,
                                                                          merchant):
    incident = monitored["recovered"]
    page = merchant.get(f"/admin/payments/incident/{incident.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert incident.error_message and incident.error_message in html
    assert incident.stripe_id in html and f"51.98{NBSP}EUR" in html
    assert f'href="/admin/payments/order/{incident.order_id}/change/"' in html
    assert f'href="/admin/payments/paymentattempt/{incident.attempt_id}/change/"' in html
    assert "Ledger of the payment attempt" in html
    # The failed challenge reached the scan after the payment succeeded: history only.
    assert incident.attempt.events.filter(applied=False).exists()
    assert LATE in html and "Stated by Stripe" in html
    assert "Save" not in html and 'name="_save"' not in html
    outside = merchant.get(f"/admin/payments/incident/{monitored['outside'].pk}/change/")
    assert outside.status_code == 200
    assert "made outside this checkout" in outside.content.decode()


def test_the_attempt_page_marks_late_ledger_rows(monitored, merchant):
    attempt = monitored["recovered"].attempt
    html = merchant.get(f"/admin/payments/paymentattempt/{attempt.pk}/change/").content.decode()
    assert LATE in html and "Stated by Stripe" in html


def test_incident_filters_and_search_find_what_they_say(monitored, merchant):
    def listed(**query) -> set[str]:
        page = merchant.get("/admin/payments/incident/", query)
        assert page.status_code == 200, query
        return {incident.stripe_id for incident in page.context["cl"].result_list}

    open_, recovered, outside = (monitored[name].stripe_id
                                 for name in ("open", "recovered", "outside"))
    assert listed(kind="authentication_failed") == {open_, recovered}
    assert listed(status="open") == {open_, outside}
    assert listed(currency="usd") == {outside}
    assert listed(source="scan") == {open_, recovered, outside}
    assert listed(q="legacy@") == {outside}
    assert listed(q=monitored["open"].order.reference) == {open_}
    assert listed(q=open_) == {open_}
    # (The recovered incident shows the card that paid later: reported to monitoring.)
    assert open_ in listed(q="3184") and outside not in listed(q="3184")
    # As the filter's "Today" link puts it: local midnight with its offset.
    today = timezone.localtime(monitored["open"].first_seen_at).replace(
        hour=0, minute=0, second=0, microsecond=0)
    assert listed(first_seen_at__gte=str(today)) == {open_, recovered, outside}
    assert listed(first_seen_at__lt=str(today)) == set()


JUNK_QUERIES = [
    {"kind": "junk"}, {"status": "'; DROP TABLE x;--"}, {"currency": "€€€"},
    {"first_seen_at__gte": "notadate"}, {"first_seen_at__lt": "2026-13-45"},
    {"q": "%_\\'\"<script>\u202e"}, {"q": '"unbalanced'}, {"q": "x" * 5000},
    {"q": "a\x00b"}, {"kind": "\x00"}, {"o": "99.-x"}, {"p": "junk"}, {"p": "999"},
    {"started_at__gte": "notadate"}, {"nosuchfield": "1"},
]


@pytest.mark.parametrize("path", ["/admin/payments/incident/", "/admin/payments/scanrun/",
                                  "/admin/payments/scancursor/", "/admin/payments/scanlock/"])
@pytest.mark.parametrize("query", JUNK_QUERIES, ids=range(len(JUNK_QUERIES)))
def test_junk_filter_values_never_fail(monitored, merchant, path, query):
    page = merchant.get(path, query, follow=True)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Database error" not in html
    if page.redirect_chain:
        assert page.redirect_chain == [(path, 302)]
        assert "was not valid" in html


def test_a_date_that_is_not_a_date_shows_everything_with_a_message(monitored, merchant):
    page = merchant.get("/admin/payments/incident/", {"first_seen_at__gte": "notadate"},
                        follow=True)
    assert page.status_code == 200 and len(page.context["cl"].result_list) == 3
    assert "was not valid" in page.content.decode()


def test_scan_runs_cursors_and_leases_are_visible(monitored, merchant):
    runs = merchant.get("/admin/payments/scanrun/")
    assert runs.status_code == 200
    html = runs.content.decode()
    assert {"Incremental (events)", "Stale sweep", "Done"} <= set(cells(html))
    assert "ScanRun object" not in html
    assert merchant.get("/admin/payments/scanrun/", {"kind": "stale"}
                        ).context["cl"].result_count == 1
    run = ScanRun.objects.filter(kind="events").first()
    assert merchant.get(f"/admin/payments/scanrun/{run.pk}/change/").status_code == 200
    ScanRun.objects.create(kind="stale", status="failed", errors="Stripe kept failing: " +
                           "HTTP 503 " * 40)
    html = merchant.get("/admin/payments/scanrun/", {"status": "failed"}).content.decode()
    assert "Stripe kept failing" in html and "…" in html  # truncated, the whole on hover
    cursor = ScanCursor.objects.get(name="events")
    html = merchant.get("/admin/payments/scancursor/").content.decode()
    assert cursor.value in cells(html)
    with lease_hold(name="scan:stale", ttl=scans.LEASE_TTL):
        html = merchant.get("/admin/payments/scanlock/").content.decode()
    assert "scan:stale" in cells(html) and "held, expires in" in html


@pytest.mark.parametrize("model", ["incident", "scanrun", "scancursor", "scanlock"])
def test_monitoring_rows_cannot_be_added_changed_or_deleted(monitored, merchant, model):
    if model == "scanlock":
        ScanLock.objects.create(name="scan:events", holder="worker-1",
                                expires_at=monitored["open"].first_seen_at)
    row = {"incident": Incident, "scanrun": ScanRun, "scancursor": ScanCursor,
           "scanlock": ScanLock}[model].objects.first()
    base = f"/admin/payments/{model}/"
    pk = row.pk
    assert merchant.post(f"{base}{pk}/change/", {"status": "lost"}).status_code == 403
    assert merchant.post(f"{base}{pk}/delete/", {"post": "yes"}).status_code == 403
    assert merchant.get(f"{base}add/").status_code == 403
    listing = merchant.post(base, {"action": "delete_selected", "_selected_action": [pk],
                                   "post": "yes"}, follow=True)
    assert listing.status_code == 200
    assert type(row).objects.filter(pk=pk).exists()
    assert merchant.get(f"{base}{pk}/change/").status_code == 200  # view only


def incidents_make(count: int, order: Order | None) -> None:
    for n in range(count):
        Incident.objects.create(
            kind=Incident.Kind.AUTHENTICATION_FAILED, stripe_id=f"pi_count{count}_{n:04d}",
            order=order if n % 2 else None, amount=1000 + n, currency="eur",
            customer_email=f"c{n}@example.com", card_brand="visa", card_last4="3184",
            card_country="DE", error_code="payment_intent_authentication_failure",
            intent_status="requires_payment_method", source="webhook")


def queries_for_incident_list(merchant) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert merchant.get("/admin/payments/incident/").status_code == 200
    return len(queries)


def test_the_incident_list_makes_as_many_queries_for_50_rows_as_for_5(paid_order, merchant):
    incidents_make(5, paid_order)
    few = queries_for_incident_list(merchant)
    Incident.objects.all().delete()
    incidents_make(50, paid_order)
    assert queries_for_incident_list(merchant) == few


def test_incidents_lead_the_payments_section_of_the_index(merchant):
    html = merchant.get("/admin/").content.decode()
    apps = re.findall(r'class="app-(\w+) module', html)
    assert apps[0] == "payments"
    section = html.split('class="app-payments module')[1].split("</table>")[0]
    models = re.findall(r'class="model-(\w+)', section)
    assert models == ["incident", "order", "paymentattempt", "scanrun", "scancursor",
                      "scanlock", "product"]
    app_page = merchant.get("/admin/payments/").content.decode()
    assert re.findall(r'class="model-(\w+)', app_page)[0] == "incident"
