"""Lists of millions of rows (payments.admin.pagination): an unfiltered list counts by
PostgreSQL's estimate and says "about", a filtered one stops counting at 1,000 pages and
says "more than", and a deep page (its ids first) shows the rows an OFFSET would."""

from __future__ import annotations

import re

import pytest
from django.core.paginator import Paginator
from django.db import connection

from payments.admin import pagination
from payments.admin.pagination import LargeTablePaginator
from payments.models import Order

LIST = "/admin/payments/order/"


@pytest.fixture
def orders(db) -> None:
    Order.objects.bulk_create([Order(reference=f"ord_page{n:04d}", email=f"s{n}@example.com",
                                     amount=100 + n, currency="eur") for n in range(250)])


def paginator_line(client, query: str = "") -> str:
    html = client.get(LIST + query).content.decode()
    return " ".join(re.search(r'<p class="paginator">(.*?)</p>', html, re.S)[1].split())


def test_a_small_list_is_counted_exactly(orders, admin_client):
    assert paginator_line(admin_client).endswith("250 orders")
    assert paginator_line(admin_client, "?q=ord_page01").endswith("100 orders")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's estimate")
def test_an_unfiltered_large_list_says_about_and_counts_nothing(orders, admin_client,
                                                               monkeypatch):
    monkeypatch.setattr(pagination, "ESTIMATE_FROM", 10)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE payments_order")
    line = paginator_line(admin_client)
    assert "about 250 orders" in line, line
    html = admin_client.get(LIST).content.decode()
    assert "250 results" not in html  # the search bar shows no estimate as a count
    assert paginator_line(admin_client, "?status__exact=open").endswith("250 orders")


def test_a_filtered_list_stops_counting_at_the_cap(orders, admin_client, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 200)
    line = paginator_line(admin_client, "?status__exact=open")
    assert "more than 200 orders" in line, line
    assert "more than 200 results" in admin_client.get(LIST + "?q=ord_").content.decode()
    page = admin_client.get(LIST + "?status__exact=open&p=2")  # the second page of 100
    assert page.status_code == 200


def test_a_deep_page_shows_the_rows_an_offset_would(orders, monkeypatch):
    monkeypatch.setattr(pagination, "DEEP_FROM", 0)
    rows = Order.objects.select_related(None).order_by("-amount", "-pk")
    for number in (1, 2, 3):
        deep = LargeTablePaginator(rows, 100).page(number)
        plain = Paginator(rows, 100).page(number)
        assert [o.pk for o in deep.object_list] == [o.pk for o in plain.object_list]


def test_a_deep_admin_page_lists_its_rows_in_order(orders, admin_client, monkeypatch):
    monkeypatch.setattr(pagination, "DEEP_FROM", 0)
    html = admin_client.get(LIST + "?o=2&p=2").content.decode()  # by total, second page
    shown = re.findall(r"ord_page(\d{4})", html)
    assert shown == [f"{n:04d}" for n in range(100, 200)]


@pytest.mark.parametrize("path", ["/admin/payments/order/", "/admin/payments/paymentattempt/",
                                  "/admin/payments/paymentattempt/?q=example",
                                  "/admin/payments/paymentattempt/?q=S7%40Example.com",
                                  "/admin/payments/order/?q=nobody%40example.com",
                                  "/admin/payments/order/?status__exact=open&p=2"])
def test_the_lists_make_as_many_queries_for_many_rows_as_for_few(db, admin_client, path):
    from django.core.cache import cache
    from django.test.utils import CaptureQueriesContext

    from tests.payments.factories import attempt_of, order_of

    def queries() -> int:
        cache.clear()  # cold: the filters' values are read too
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(path).status_code == 200
        return len(captured)

    for n in range(120):  # two pages of orders
        attempt_of(order_of(("Mug", 1000 + n, 1), email=f"s{n}@example.com"))
    few = queries()
    for n in range(120, 400):
        attempt_of(order_of(("Mug", 1000 + n, 1), email=f"s{n}@example.com"))
    assert queries() == few
