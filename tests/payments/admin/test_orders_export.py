"""The orders list for the books (payments.admin.orders, orders_csv, shop.selectors): the
"paid" date filter in the site's time zone, the per-currency totals of the filtered list,
and its CSV export for Merchants and Payments ops."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments.admin.common import money_unbroken
from payments.models import Order, PaymentAttempt
from payments.shop.selectors import order_totals_by_currency
from tests.payments.admin.test_dashboard import staff_client
from tests.payments.factories import attempt_of, order_of

LIST = "/admin/payments/order/"
EXPORT = f"{LIST}export/"


@pytest.fixture
def merchant(db) -> Client:
    return staff_client("mia", group="Merchants")


@pytest.fixture
def viewer(db) -> Client:
    """Staff who may read orders and nothing more: no export."""
    return staff_client("vic", perms=("view_order",))


@pytest.fixture
def karachi(settings):
    settings.TIME_ZONE = "Asia/Karachi"  # +05:00, no DST: a local midnight is 19:00 UTC


def local(*args: int) -> datetime:
    return timezone.make_aware(datetime(*args))


def paid_order(*lines: tuple[str, int, int], currency: str = "eur",
               created: datetime | None = None, paid: datetime | None = None,
               email: str = "shopper@example.com") -> Order:
    """An order paid by its second attempt (the first declined), its times as given."""
    order = order_of(*lines, currency=currency, email=email)
    attempt_of(order, status=PaymentAttempt.Status.REQUIRES_PAYMENT_METHOD)
    attempt = attempt_of(order, status=PaymentAttempt.Status.SUCCEEDED)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(latest_charge=f"ch_{attempt.stripe_id}")
    paid = paid or local(2026, 12, 1, 12, 0)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID, paid_at=paid,
                                             created_at=created or paid)
    return Order.objects.get(pk=order.pk)


def listed(client: Client, query: str = "") -> list[Order]:
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 200
    return list(response.context_data["cl"].result_list)


def exported(client: Client, query: str = "") -> list[dict[str, str]]:
    response = client.get(f"{EXPORT}?{query}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


# --- the paid filter -------------------------------------------------------------------

def test_an_order_belongs_to_the_day_it_was_paid_in_the_sites_zone(merchant, karachi):
    """Created 23:59 on 30 November, Karachi time, paid 20 s after midnight: December's,
    as Stripe's charge is, though in UTC both moments are on the 30th."""
    late = paid_order(("Mug", 2599, 1), created=local(2026, 11, 30, 23, 59),
                      paid=local(2026, 12, 1, 0, 0, 20))
    assert late.paid_at.astimezone(UTC).date() == date(2026, 11, 30)
    november = "paid_at__gte=2026-11-01&paid_at__lte=2026-11-30"
    december = "paid_at__gte=2026-12-01&paid_at__lte=2026-12-31"
    assert listed(merchant, december) == [late]
    assert listed(merchant, november) == []
    assert listed(merchant, "created_at__gte=2026-11-30&created_at__lte=2026-11-30") == [late]
    assert [row["Order"] for row in exported(merchant, december)] == [late.reference]
    assert exported(merchant, november) == []


def test_the_paid_filter_has_its_own_title_next_to_created(merchant):
    specs = merchant.get(LIST).context_data["cl"].filter_specs
    assert [spec.title for spec in specs][-2:] == ["created at", "paid"]


# --- the totals ------------------------------------------------------------------------

def test_the_totals_are_per_currency_and_only_of_the_filtered_rows(merchant):
    orders = [paid_order(("Mug", 2599, 2)), paid_order(("Lamp", 5000, 1)),
              paid_order(("Tea", 10599, 1), currency="jpy"),
              paid_order(("Oil", 5120, 1), currency="kwd"),
              paid_order(("Pen", 7996, 1), currency="usd")]
    order_of(("Mug", 2599, 9))  # open: not paid, left out by the status filter
    response = merchant.get(f"{LIST}?status__exact=paid")
    shown = response.context_data["cl"].result_list
    assert set(shown) == set(orders)
    by_currency: dict[str, int] = {}
    for order in shown:
        by_currency[order.currency] = by_currency.get(order.currency, 0) + order.amount
    totals = order_totals_by_currency(orders=Order.objects.filter(status="paid"))
    assert totals.count == 5 and dict(totals.amounts) == by_currency
    expected = (f"5 orders: {money_unbroken(10198, 'eur')} · {money_unbroken(10599, 'jpy')}"
                f" · {money_unbroken(5120, 'kwd')} · {money_unbroken(7996, 'usd')}")
    assert response.context_data["order_totals"] == expected
    assert "101.98\u00a0EUR" in expected and "10,599\u00a0JPY" in expected
    assert "5.120\u00a0KWD" in expected  # never one sum across currencies
    assert expected in response.content.decode()


def test_the_totals_keep_the_search_and_say_nothing_matched(merchant):
    paid_order(("Mug", 2599, 1), email="anna@example.com")
    paid_order(("Mug", 2599, 3), email="ben@example.com")
    response = merchant.get(f"{LIST}?status__exact=paid&q=ben@example.com")
    assert response.context_data["order_totals"] == f"1 order: {money_unbroken(7797, 'eur')}"
    response = merchant.get(f"{LIST}?status__exact=canceled")
    assert response.context_data["order_totals"] == "0 orders"


def test_an_unnarrowed_list_sums_nothing_and_says_to_choose_a_period(merchant):
    paid_order(("Mug", 2599, 1))
    for query in ("", "q=shopper", "currency=eur", "paid_at__gte=not-a-date"):
        response = merchant.get(f"{LIST}?{query}")
        assert response.context_data["order_totals"] == "", query
        assert "Totals: choose a period (created or paid) or a status." in \
            response.content.decode()


# --- the export ------------------------------------------------------------------------

def test_the_export_writes_each_orders_cells_for_the_books(merchant, karachi):
    euro = paid_order(("Mug", 2599, 2), created=local(2026, 12, 1, 9, 0),
                      paid=local(2026, 12, 1, 9, 1, 5), email="=cmd@example.com")
    yen = paid_order(("Tea", 10599, 1), currency="jpy", paid=local(2026, 12, 2, 10, 0))
    dinar = paid_order(("Oil", 5120, 1), currency="kwd", paid=local(2026, 12, 3, 10, 0))
    erased = paid_order(("Pen", 7996, 1), currency="usd", paid=local(2026, 12, 4, 10, 0))
    Order.objects.filter(pk=erased.pk).update(erased_at=timezone.now())
    rows = exported(merchant, "paid_at__gte=2026-12-01&paid_at__lte=2026-12-31&o=5")
    assert list(rows[0]) == ["Order", "Status", "Created", "Paid", "Amount", "Currency",
                             "Email", "PaymentIntent", "Charge", "Card brand", "Card last4"]
    by_reference = {row["Order"]: row for row in rows}
    attempt = euro.attempts.get(status="succeeded")
    assert by_reference[euro.reference] == {
        "Order": euro.reference, "Status": "Paid", "Created": "2026-12-01T09:00:00+05:00",
        "Paid": "2026-12-01T09:01:05+05:00", "Amount": "51.98", "Currency": "EUR",
        "Email": "'=cmd@example.com", "PaymentIntent": attempt.stripe_id,
        "Charge": f"ch_{attempt.stripe_id}", "Card brand": "Visa", "Card last4": "3155"}
    assert by_reference[yen.reference]["Amount"] == "10599"  # yen have no minor unit
    assert by_reference[dinar.reference]["Amount"] == "5.120"  # dinars have three
    assert by_reference[erased.reference]["Email"] == ""  # erased on request
    assert by_reference[erased.reference]["Amount"] == "79.96"


def test_an_unpaid_order_exports_without_an_intent(merchant):
    order = order_of(("Mug", 2599, 1))
    attempt_of(order)  # at the bank's challenge: not the paid attempt
    [row] = exported(merchant)
    assert row["Status"] == "Awaiting payment" and row["Paid"] == ""
    assert row["PaymentIntent"] == row["Charge"] == row["Card brand"] == ""


def test_the_export_follows_the_lists_filters_and_search(merchant):
    paid_order(("Mug", 2599, 1), email="anna@example.com")
    ben = paid_order(("Mug", 2599, 1), email="ben@example.com")
    order_of(("Mug", 2599, 1), email="ben@example.com")
    assert [row["Order"] for row in exported(merchant, "status__exact=paid&q=ben@example.com")
            ] == [ben.reference]
    assert exported(merchant, "q=nobody-at-all") == []  # the header alone


def test_the_export_filename_is_safe_for_a_spreadsheet(merchant):
    response = merchant.get(EXPORT)
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="orders-') and \
        disposition.endswith('.csv"')
    name = disposition.split('"')[1]
    assert all(char.isalnum() or char in "-." for char in name)


def test_only_a_holder_of_the_permission_exports(merchant, viewer):
    assert viewer.get(LIST).status_code == 200
    assert viewer.get(EXPORT).status_code == 403
    assert EXPORT not in viewer.get(LIST).content.decode()
    html = merchant.get(f"{LIST}?status__exact=paid").content.decode()
    assert f'href="{EXPORT}?status__exact=paid"' in html
    assert "Export CSV" in html


@pytest.mark.parametrize("query", ["paid_at__gte=2026-13-45", "paid_at__lte=yesterday",
                                   "paid_at__isnull=maybe", "status__exact=%00",
                                   "nonsense=1", "created_at__gte=9999-12-31T23:00-05:00",
                                   "paid_at__gte=2026-12-06T10:00:00-23:59", "p=x", "o=99"])
def test_bad_filter_input_never_breaks_the_list_or_the_export(merchant, query):
    paid_order(("Mug", 2599, 1))
    assert merchant.get(f"{LIST}?{query}").status_code in (200, 302)
    response = merchant.get(f"{EXPORT}?{query}")
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        b"".join(response.streaming_content)


# --- queries ---------------------------------------------------------------------------

def count_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        assert response.status_code == 200
        if response.streaming:
            b"".join(response.streaming_content)
        else:
            response.render()
    return len(captured)


@pytest.mark.parametrize("url", [f"{LIST}?status__exact=paid", f"{LIST}",
                                 f"{EXPORT}?status__exact=paid", EXPORT])
def test_the_queries_do_not_grow_with_the_orders(merchant, url):
    paid_order(("Mug", 2599, 1))
    count_queries(merchant, url)  # the first of a minute also reads the filters' values
    one = count_queries(merchant, url)
    for currency in ("eur", "jpy", "usd", "kwd", "eur"):
        paid_order(("Mug", 2599, 1), currency=currency)
    order_of(("Mug", 2599, 1))
    assert count_queries(merchant, url) == one


def test_the_totals_sum_a_bounded_number_of_orders(merchant, monkeypatch):
    """A year of a big merchant's orders would be summed on every page view."""
    import payments.admin.orders
    import payments.shop.selectors

    for module in (payments.shop.selectors, payments.admin.orders):
        monkeypatch.setattr(module, "TOTALS_ROWS_MAX", 2)
    for _ in range(3):
        paid_order(("Mug", 2599, 1))
    response = merchant.get(f"{LIST}?status__exact=paid")
    assert response.context_data["order_totals"] == (
        "Totals: more than 2 orders; choose a shorter period (the export has them all).")
    assert order_totals_by_currency(orders=Order.objects.all(), rows_max=3).count == 3


def test_the_totals_are_one_query(merchant):
    paid_order(("Mug", 2599, 1))
    narrowed, filtered = f"{LIST}?status__exact=paid", f"{LIST}?currency=eur"
    count_queries(merchant, narrowed)
    assert count_queries(merchant, narrowed) == count_queries(merchant, filtered) + 1


def test_sorting_by_total_groups_each_currency(merchant):
    """By the minor units alone, 4,500 JPY came before 77.97 EUR and 39.98 USD between
    two euro amounts (an accountant)."""
    for price, currency in ((7797, "eur"), (4500, "jpy"), (3998, "usd"), (3600, "eur")):
        paid_order(("Mug", price, 1), currency=currency)
    column = merchant.get(LIST).context_data["cl"].list_display.index("total")
    shown = merchant.get(f"{LIST}?o=-{column}").context_data["cl"].result_list
    assert [(o.currency, o.amount) for o in shown] == [
        ("usd", 3998), ("jpy", 4500), ("eur", 7797), ("eur", 3600)]
