"""The failed payments dashboard in the admin: who may see it, its numbers and the lists
behind them, junk in the address, the CSP, and a query count independent of the data."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payments.admin.dashboard import period_days
from paymentsite.admin import PaymentsAdminSite
from tests.payments.monitoring.test_selectors import bulk_incidents, known_data

URL = "/admin/payments/dashboard/"
NBSP = "\u00a0"


def test_the_admin_site_is_ours():
    """The dashboard and the payments-first index come with the site class that
    ``paymentsite.apps.PaymentsAdminConfig`` installs, not with patches to Django's."""
    assert isinstance(admin.site, PaymentsAdminSite)
    assert reverse("admin:payments_dashboard") == URL


def staff_client(username: str, *, group: str | None = None, perms: tuple[str, ...] = ()
                 ) -> Client:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def merchant(db) -> Client:
    return staff_client("merchant", group="Merchants")


@pytest.fixture
def known(db):
    return known_data()


def page_html(client: Client, query: str = "") -> str:
    response = client.get(URL + query)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


class Links(HTMLParser):
    """Every link's address and text, and the attributes the CSP cares about."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.inline: list[str] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "style" in attrs or any(name.startswith("on") for name in attrs):
            self.inline.append(f"<{tag} {attrs}>")
        if tag == "style" or (tag == "script" and not attrs.get("src")):
            self.inline.append(f"<{tag}> block")
        if tag == "a" and attrs.get("href"):
            self._href, self._text = attrs["href"], []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def parsed(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


def link_to(html: str, text: str) -> dict[str, list[str]]:
    """The query of the incident-list link whose text is ``text`` (the first one)."""
    for href, label in parsed(html).links:
        if label == text and href.startswith("/admin/payments/incident/"):
            return parse_qs(urlsplit(href).query, keep_blank_values=True)
    raise AssertionError(f"no incident-list link reading {text!r}")


# --- who may see it ------------------------------------------------------------------------

def test_a_merchant_sees_the_dashboard_and_the_index_leads_to_it(merchant):
    assert "Failed payments dashboard" in page_html(merchant)
    index = merchant.get("/admin/").content.decode()
    assert f'href="{URL}"' in index
    # At the top: before the index's own title and the app list.
    assert index.index(f'href="{URL}"') < index.index("<h1>Site administration</h1>") \
        < index.index('id="content-main"')


def test_ops_see_it_too(db):
    assert staff_client("ops", group="Payments ops").get(URL).status_code == 200


def test_staff_without_the_permission_get_403_and_no_link(db):
    client = staff_client("clerk", perms=("view_order",))
    assert client.get(URL).status_code == 403
    assert URL not in client.get("/admin/").content.decode()


def test_anonymous_is_sent_to_the_login(db):
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/admin/payments/dashboard/")


# --- the numbers and the lists behind them ---------------------------------------------------

def test_numbers_read_as_money_and_per_currency(merchant, known):
    html = page_html(merchant)
    # Open: 3 payments, 16.00 EUR and 25.00 USD at risk, never "4100" or a mixed sum.
    assert "3 open payments" in html
    assert f"16.00{NBSP}EUR" in html.replace(" EUR", f"{NBSP}EUR") or "16.00 EUR" in html
    assert "25.00 USD" in html and "41.00" not in html
    # The failed-authentication rate: 5 of 11.
    assert "45.5 %" in html and "5 failed" in html and "of 11 payments" in html
    # Lost: pi_12 (8.00 EUR) and the canceled outside intent (7.00 GBP), side by side;
    # not pi_2, whose latest incident (expired) is still open.
    assert "2 payments" in html and "8.00 EUR" in html and "7.00 GBP" in html
    # Labels, not codes or "Object (6)".
    assert "Authentication failed" in html and "Left at the bank&#x27;s challenge" in html
    assert "object (" not in html.lower()
    # Expiring: the 10-minute one first.
    assert html.index("urgent@example.com") < html.index("later@example.com")
    assert "42.00 EUR" in html


def test_every_number_links_to_the_filtered_incident_list(merchant, known):
    html = page_html(merchant)
    open_kind = link_to(html, "1")  # the first row of "open by kind" has 1 or 2 incidents
    assert open_kind["status"] == ["open"]
    expired = [q for href, text in parsed(html).links if "kind=expired" in href
               and "status=open" in href for q in [parse_qs(urlsplit(href).query)]]
    assert expired and "first_seen_at__gte" not in expired[0]  # open now, any age
    lost = link_to(html, "2 payments")
    assert lost["status__in"] == ["lost,canceled"]
    # The period is when the payments were made; each payment once, as counted.
    assert "intent_created_at__gte" in lost and "intent_created_at__lt" in lost
    assert lost["payment"] == ["latest"]
    per_currency = link_to(html, "7.00 GBP")
    assert per_currency["currency"] == ["gbp"] and per_currency["status__in"] == ["lost,canceled"]
    hrefs = [href for href, _ in parsed(html).links]
    assert any("card_brand=mastercard" in h for h in hrefs)
    assert any("card_country=GB" in h for h in hrefs)
    assert any("decline_code=authentication_not_handled" in h for h in hrefs)
    assert any("decline_code__exact=&" in h or h.endswith("decline_code__exact=")
               for h in hrefs)


def test_the_links_show_the_incidents_counted(merchant, known):
    html = page_html(merchant)
    for text, expected in [("2 payments", {"pi_12", "pi_outside"}),
                           ("5 failed", {"pi_1", "pi_2", "pi_outside", "pi_7", "pi_12"})]:
        query = link_to(html, text)
        response = merchant.get("/admin/payments/incident/", query)
        assert response.status_code == 200
        shown = set(re.findall(r'title="(pi_[a-z0-9_]+)"', response.content.decode()))
        assert shown == expected, (text, shown)
    brand = [h for h, _ in parsed(html).links if "card_brand=mastercard" in h][0]
    shown = set(re.findall(r'title="(pi_[a-z0-9_]+)"',
                           merchant.get(brand).content.decode()))
    assert shown == {"pi_12", "pi_outside"}


def test_the_period_and_currency_switch(merchant, known):
    week = page_html(merchant, "?days=7")
    quarter = page_html(merchant, "?days=90")
    assert "7 days" in week and 'aria-current="page">90 days' in quarter
    # pi_4 (40 days ago, recovered) only in the quarter.
    assert "1 recovered" in week and "12.00 EUR" in week and "52.00 EUR" not in week
    assert "2 recovered" in quarter and "52.00 EUR" in quarter
    usd = page_html(merchant, "?currency=usd")
    assert "25.00 USD" in usd and "7.00 GBP" not in usd and "42.00 EUR" not in usd


@pytest.mark.parametrize("query", [
    "?days=abc", "?days=-1", "?days=0", "?days=99999999999999999999", "?days=7.5",
    "?days=30&days=x", "?currency=%00", "?currency=<script>", "?currency=euro",
    "?days=%00&currency=EUR", "?page=-1&o=zz", "?days=" + "9" * 5000,
])
def test_junk_in_the_address_never_500s(merchant, known, query):
    html = page_html(merchant, query)
    assert "<script>" not in html.split("</head>")[1]


def test_period_days_falls_back_to_a_week():
    assert [period_days(v) for v in ("7", "30", "90", "", None, "x", "8", " 30")] == \
        [7, 30, 90, 7, 7, 7, 7, 30]


# --- CSP and queries -----------------------------------------------------------------------

def test_csp_header_and_no_inline_script_or_style(merchant, known):
    response = merchant.get(URL)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    html = response.content.decode()
    assert parsed(html).inline == []
    assert 'src="/static/payments/admin/dashboard.js"' in html
    assert 'href="/static/payments/admin/dashboard.css"' in html
    assert "<svg" in html  # drawn here, no chart library from another host:
    assert not re.search(r'<(script|link)[^>]+(src|href)="(https?:)?//', html)
    index = merchant.get("/admin/").content.decode()
    assert parsed(index).inline == []


def test_query_count_does_not_grow_with_the_data(merchant, known):
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert merchant.get(URL + "?days=90").status_code == 200
        return len(captured)

    few = count()
    bulk_incidents(200)
    assert count() == few


def test_the_currency_switch_offers_a_currency_seen_only_in_card_declines(merchant):
    """Yen payments that were only declined show in the breakdowns ("4,500 JPY"): the
    switch offers JPY too, and the dashboard in JPY shows them."""
    from payments.models import Incident
    from tests.payments.factories import incident_of

    incident_of(Incident.Kind.ACTION_ABANDONED, amount=4200, currency="eur")
    incident_of(Incident.Kind.CARD_DECLINED, amount=4500, currency="jpy")
    page = page_html(merchant).replace("\u00a0", " ")
    assert "4,500 JPY" in page
    assert re.search(r'<a href="[^"]*currency=jpy[^"]*"[^>]*>JPY</a>', page)  # the switch
    assert "4,500 JPY" in page_html(merchant, "?currency=jpy").replace("\u00a0", " ")
