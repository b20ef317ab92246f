"""Numbers merchants trust (issue 15): the same number, with the same meaning, on every page
and mail that shows it (dashboard, incident list and page, CSV, digest, alert); payments
counted once; dated by when they were made; times named with their zone; one label per
code; engine internals hidden from merchants; date filters any offset can be typed into."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from payments.models import Incident, PaymentAttempt, ScanRun
from payments.monitoring import ops_mail
from payments.monitoring.totals import dashboard_totals_rebuild
from tests.payments.factories import (
    asked_for_authentication,
    attempt_of,
    html_of,
    incident_of,
    order_of,
)

Kind, Status = Incident.Kind, Incident.Status
DASHBOARD = "/admin/payments/dashboard/"
LIST = "/admin/payments/incident/"
EXPORT = "/admin/payments/incident/export/"
NBSP = "\u00a0"


def staff(name: str, group: str) -> Client:
    user = User.objects.create_user(name, password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def merchant(db) -> Client:
    return staff("mia", "Merchants")


@pytest.fixture
def ops(db) -> Client:
    return staff("olga", "Payments ops")


def text_of(page) -> str:
    assert page.status_code == 200, page.status_code
    return html.unescape(page.content.decode()).replace(NBSP, " ")


def euros(text: str) -> list[str]:
    return re.findall(r"([\d,]+\.\d\d) EUR", text)


def total(amounts: list[str]) -> str:
    cents = sum(int(a.replace(",", "").replace(".", "")) for a in amounts)
    return f"{cents // 100:,}.{cents % 100:02d}"


def link_reading(page_html: str, text: str) -> str:
    """The address of the first incident-list link whose text is ``text``."""
    for href, label in re.findall(r'<a[^>]+href="([^"]+)"[^>]*>(.*?)</a>', page_html, re.S):
        if re.sub(r"<[^>]+>", "", label).strip() == text and href.startswith(LIST):
            return html.unescape(href)
    raise AssertionError(f"no incident-list link reading {text!r}")


def csv_of(client: Client, query: str) -> list[dict[str, str]]:
    body = b"".join(client.get(EXPORT + query).streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))


# --- 15: money counted per payment ---------------------------------------------------------

@pytest.fixture
def two_payments(db):
    """Two open payments: one left at the bank's challenge and then expired (two open
    incidents, 234.00 EUR), one whose authentication failed (145.00 EUR)."""
    now = timezone.now()
    twice = attempt_of(order_of(("Armchair", 23400, 1), email="twice@example.com"),
                       status="requires_payment_method", requires_action_at=now - timedelta(
                           hours=3))
    incident_of(Kind.ACTION_ABANDONED, attempt=twice, first_seen_at=now - timedelta(hours=2))
    incident_of(Kind.EXPIRED, attempt=twice, first_seen_at=now - timedelta(hours=1))
    once = attempt_of(order_of(("Lamp", 14500, 1), email="once@example.com"),
                      status="requires_payment_method",
                      requires_action_at=now - timedelta(hours=1))
    incident_of(Kind.AUTHENTICATION_FAILED, attempt=once,
                first_seen_at=now - timedelta(minutes=30))
    return now


def test_money_at_risk_is_counted_per_payment_on_every_page(two_payments, merchant, mailbox):
    page = merchant.get(DASHBOARD)
    dashboard = text_of(page)
    by_kind = dashboard.split("by kind</h2>")[1].split("</table>")[0]
    rows, foot = by_kind.split("<tfoot>")
    assert euros(foot) == ["379.00"]  # all open, each payment once
    assert total(euros(rows)) == "379.00"  # the kinds add up to it (not 613.00)
    # The list behind "All open" shows the two payments, and its CSV the same money.
    all_open = link_reading(page.content.decode(), "2")
    listed = text_of(merchant.get(all_open))
    assert "twice@example.com" in listed and "once@example.com" in listed
    assert total(euros(listed.split('id="result_list"')[1])) == "379.00"
    rows = csv_of(merchant, "?" + urlsplit(all_open).query)
    assert sorted(row["Amount"] for row in rows) == ["145.00", "234.00"]
    # The digest: two payments, each once, the same money.
    assert ops_mail.ops_digest_send(now=two_payments + timedelta(seconds=1)) > 0
    digest = mailbox[0].body
    assert "2 new payments in trouble" in mailbox[0].subject
    assert digest.count("twice@example.com") <= 1
    kinds = digest.split("\n\n")[1]
    assert total(euros(kinds)) == "379.00"
    assert total(euros(html_of(mailbox[0]).split("</table>")[0].replace(NBSP, " "))) == \
        "379.00"


# --- 14: one rate, one expiry, each said where it is shown -----------------------------------

def test_the_dashboard_and_the_alert_write_the_same_rate_and_say_what_it_counts(
        mailbox, merchant):
    asking = [asked_for_authentication(order_of(("Lamp", 4500, 1))) for _ in range(9)]
    for attempt, kind in zip(asking, [Kind.AUTHENTICATION_FAILED] * 4 +
                             [Kind.ACTION_ABANDONED] * 3, strict=False):
        incident_of(kind, attempt=attempt)
    assert ops_mail.ops_alert_check(now=timezone.now() + timedelta(seconds=1)) is True
    alert, alert_html = mailbox[0].body, html.unescape(html_of(mailbox[0]))
    dashboard = text_of(merchant.get(DASHBOARD))
    assert re.search(r">77\.8 %</a>", dashboard)
    for text in (mailbox[0].subject, alert, alert_html):
        assert "77.8 %" in text  # not "78%"
    meaning = "out of the payments the bank asked to authenticate"
    assert meaning in dashboard and meaning in alert and meaning in alert_html
    assert "a card decline is none either" in alert


def test_a_german_reader_reads_the_same_rate_as_german_writes_it(mailbox, merchant, settings):
    """In German the rate is "100,0 %", on the dashboard and in the alert (written in the
    site's language, here German): never "100.0 %", and the same on both."""
    settings.LANGUAGE_CODE = "de"
    for attempt in [asked_for_authentication(order_of(("Lamp", 4500, 1))) for _ in range(4)]:
        incident_of(Kind.AUTHENTICATION_FAILED, attempt=attempt)
    assert ops_mail.ops_alert_check(now=timezone.now() + timedelta(seconds=1)) is True
    alert_html = html.unescape(html_of(mailbox[0]))
    dashboard = text_of(merchant.get(DASHBOARD, HTTP_ACCEPT_LANGUAGE="de"))
    assert re.search(r">100,0 %</a>", dashboard)
    assert "100,0 %" in mailbox[0].subject
    for text in (mailbox[0].body, alert_html):
        assert "100,0 %" in text and "25,0 %" in text  # the rate and the threshold
    for text in (mailbox[0].subject, mailbox[0].body, alert_html, dashboard):
        assert "100.0 %" not in text
    english = text_of(merchant.get(DASHBOARD, HTTP_ACCEPT_LANGUAGE="en"))
    assert re.search(r">100\.0 %</a>", english)


def test_one_expiry_everywhere_and_each_page_says_what_it_means(mailbox, merchant):
    now = timezone.now()
    waiting = {"status": PaymentAttempt.Status.REQUIRES_CONFIRMATION}
    late = attempt_of(order_of(("Desk", 19900, 1), email="late@example.com"), **waiting,
                      requires_confirmation_at=now - timedelta(minutes=50))
    incident = incident_of(Kind.CONFIRMATION_ABANDONED, attempt=late,
                           first_seen_at=now - timedelta(minutes=30))
    # Passed the challenge a minute ago: no incident yet, but its hour runs all the same.
    attempt_of(order_of(("Lamp", 4500, 1), email="fresh@example.com"), **waiting,
               requires_confirmation_at=now - timedelta(minutes=1))
    deadline = timezone.localtime(late.requires_confirmation_at + timedelta(hours=1))
    meaning = "one hour after it passed the bank's challenge"

    dashboard = text_of(merchant.get(DASHBOARD))
    expiring = dashboard.split("Expiring within the hour")[1].split("</table>")[0]
    assert expiring.index("late@example.com") < expiring.index("fresh@example.com")
    assert f'data-expires-at="{int(deadline.timestamp())}"' in expiring
    assert meaning in dashboard

    ops_mail.ops_digest_send(now=now)
    digest = mailbox[0].body.split("Most urgent")[1]
    assert "late@example.com" in digest and "fresh@example.com" in digest  # the same list
    assert f"expires {deadline:%H:%M}" in digest and meaning in digest

    page = text_of(merchant.get(f"{LIST}{incident.pk}/change/"))
    assert f"{deadline:%H:%M:%S}" in page.split("Expires:")[1][:300] and meaning in page
    listing = text_of(merchant.get(LIST))
    assert "in 10 min" in listing and meaning in listing
    [row] = csv_of(merchant, f"?q={incident.stripe_id}")
    assert row["Expires"].startswith(deadline.strftime("%Y-%m-%dT%H:%M:%S"))


# --- 16: dated by the payment ---------------------------------------------------------------

def test_a_backfilled_old_payment_is_dated_when_it_was_made(db, merchant):
    now = timezone.now()
    made = now - timedelta(days=6)
    old = incident_of(Kind.AUTHENTICATION_FAILED, email="old@example.com", first_seen_at=now)
    Incident.objects.filter(pk=old.pk).update(intent_created_at=made)
    too_old = incident_of(Kind.AUTHENTICATION_FAILED, email="older@example.com",
                          first_seen_at=now)
    Incident.objects.filter(pk=too_old.pk).update(intent_created_at=now - timedelta(days=9))
    dashboard_totals_rebuild()  # rows changed around the writers

    page = merchant.get(DASHBOARD + "?days=7")
    chart = {day["day"]: day["incidents"] for day in page.context["chart"].days}
    assert chart[timezone.localtime(made).date()] == 1  # on its own day
    assert chart[timezone.localdate(now)] == 0  # not on the day the backfill found it
    assert sum(chart.values()) == 1  # the nine-day-old one is not in the week
    listing = text_of(merchant.get(LIST, {"q": "old@example.com"}))
    row = listing.split('id="result_list"')[1]
    assert "6 days" in row and "seen 0 minutes ago" in row
    detail = text_of(merchant.get(f"{LIST}{old.pk}/change/"))
    assert "Payment made:" in detail and "(6 days ago)" in detail
    assert "First seen:" in detail and "(0 minutes ago)" in detail


# --- 18: card declines complete the failure mix ---------------------------------------------

def test_card_declines_show_as_their_own_kind_and_are_not_for_ops(db, merchant, ops):
    attempt = attempt_of(order_of(("Lamp", 4500, 1), email="broke@example.com"),
                         status="requires_payment_method")
    declined = incident_of("card_declined", attempt=attempt)
    Incident.objects.filter(pk=declined.pk).update(error_code="card_declined",
                                                   decline_code="insufficient_funds")
    dashboard = text_of(merchant.get(DASHBOARD))
    by_kind = dashboard.split("By kind</h2>")[1].split("</table>")[0]
    assert "Card declined" in by_kind and "45.00 EUR" in by_kind  # the whole mix
    assert "0 open payments" in dashboard  # the money at risk is 3-D Secure's
    assert "no 3-D Secure requests" in dashboard  # and the rate is not about declines
    listing = text_of(merchant.get(LIST, {"kind": "card_declined"}))
    assert "broke@example.com" in listing and "Insufficient funds" in listing
    for action in ("confirm", "send_link", "cancel", "refresh"):
        page = text_of(ops.get(f"{LIST}ops/{action}/", {"ids": declined.pk}))
        assert "1 will be skipped: card decline (nothing for ops to do)" in page, action


# --- 19: times with their zone, ISO 8601 in the CSV, one "7 days" ----------------------------

@pytest.fixture
def in_berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


def test_admin_times_name_their_zone_and_the_csv_is_iso_8601(in_berlin, db, merchant, ops):
    incident = incident_of(Kind.AUTHENTICATION_FAILED, email="berlin@example.com")
    ScanRun.objects.create(kind="stale", finished_at=timezone.now())
    LogEntry.objects.log_actions(user_id=User.objects.get(username="olga").pk,
                                 queryset=[incident], action_flag=CHANGE,
                                 change_message="Refresh from Stripe: refreshed")
    zone = timezone.localtime().strftime("%Z")  # CET or CEST
    moment = r"\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d(?::\d\d)?"
    for url in (f"{LIST}{incident.pk}/change/", "/admin/payments/scanrun/",
                f"/admin/payments/scanrun/{ScanRun.objects.get().pk}/change/",
                f"{LIST}{incident.pk}/history/"):  # Django's own page too
        page = text_of(merchant.get(url))
        times = re.findall(rf"({moment})( {zone})?", page.split('id="content-main"')[1])
        assert times, url
        assert all(named for _, named in times), (url, times)
    [row] = csv_of(merchant, "")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", row["First seen"])
    assert row["First seen"].endswith(timezone.localtime().strftime("%z")[:3] + ":00")


def test_past_7_days_in_the_list_is_the_dashboards_week(db, merchant):
    now = timezone.now()
    today = timezone.localdate(now)
    eighth_day = timezone.make_aware(datetime.combine(today - timedelta(days=7), time(12)))
    incident_of(Kind.AUTHENTICATION_FAILED, email="eighth@example.com", first_seen_at=eighth_day)
    incident_of(Kind.AUTHENTICATION_FAILED, email="today@example.com", first_seen_at=now)
    dashboard = merchant.get(DASHBOARD + "?days=7")
    since = dashboard.context["since"]
    listing = merchant.get(LIST).content.decode()
    week = [html.unescape(href) for href, label in
            re.findall(r'<a href="([^"]+)">([^<]+)</a>', listing) if label == "Past 7 days"]
    assert week
    for href in week:
        query = parse_qs(urlsplit(href).query)
        [gte] = [value for key, value in query.items() if key.endswith("__gte")]
        assert gte == [str(since)], (href, since)
    shown = text_of(merchant.get(LIST + week[-1]))
    assert "today@example.com" in shown and "eighth@example.com" not in shown


def test_a_chosen_quick_range_is_marked_as_chosen(db, merchant):
    """The links carry moments in the site's zone; the list reads them in UTC: the chosen
    one is still marked (it never was: "This month" looked like a typed From date)."""
    def chosen(page) -> list[str]:  # in the first date filter (the list has two)
        [first_dates, *_] = (block for block in page.content.decode().split("<details ")
                             if "Any date" in block)
        return re.findall(r'<li class="selected">\s*<a href="[^"]*">([^<]+)</a>', first_dates)

    listing = merchant.get(LIST)
    assert "Any date" in chosen(listing)
    links = dict((label, html.unescape(href)) for href, label in
                 reversed(re.findall(r'<a href="([^"]+)">([^<]+)</a>', listing.content.decode())))
    for label in ("Today", "Past 7 days", "This month", "This year"):
        page = merchant.get(LIST + links[label])
        assert label in chosen(page) and "Any date" not in chosen(page), label
    typed = merchant.get(LIST + "?intent_created_at__gte=" + timezone.localdate().isoformat())
    assert not {"Any date", "Today"} & set(chosen(typed))


def test_the_time_zone_comes_from_the_environment():
    from tests.paymentsite.test_settings import refused, values

    assert values({"DJANGO_TIME_ZONE": "Europe/Berlin"}, "TIME_ZONE", "CELERY_TIMEZONE") == \
        {"TIME_ZONE": "Europe/Berlin", "CELERY_TIMEZONE": "Europe/Berlin"}
    assert values({}, "TIME_ZONE") == {"TIME_ZONE": "UTC"}
    assert "DJANGO_TIME_ZONE='Mars/Olympus'" in refused({"DJANGO_TIME_ZONE": "Mars/Olympus"})


# --- 20: one label per code; titles; internals hidden ----------------------------------------

def test_a_code_reads_the_same_on_every_page(db, merchant):
    incident = incident_of(Kind.REQUIRES_ACTION_NOT_HANDLED, email="legacy@example.com")
    Incident.objects.filter(pk=incident.pk).update(
        error_code="authentication_required", decline_code="authentication_not_handled",
        card_brand="visa")
    dashboard_totals_rebuild()  # rows changed around the writers
    words = "Bank asked for 3-D Secure; checkout could not ask"
    dashboard = text_of(merchant.get(DASHBOARD))
    by_decline = dashboard.split("By decline code")[1].split("</table>")[0]
    assert words in by_decline and "Authentication not handled" not in by_decline
    listing = text_of(merchant.get(LIST))
    assert words in listing.split('id="changelist-filter"')[1]  # the filter
    assert words in listing.split('id="result_list"')[1]  # the row
    by_brand = dashboard.split("By card brand")[1].split("</table>")[0]
    assert "Visa" in by_brand
    assert re.search(r'<a href="\?card_brand=visa">Visa</a>', listing)
    assert "Visa •••• 3155" in listing
    order_of(("Lamp", 4500, 1))
    orders = merchant.get("/admin/payments/order/").content.decode()
    assert re.search(r'<a href="\?currency=eur">EUR</a>', orders)


def test_an_incident_is_titled_by_customer_amount_and_kind(db, merchant):
    incident = incident_of(Kind.AUTHENTICATION_FAILED, email="anna@example.com", amount=5198)
    page = text_of(merchant.get(f"{LIST}{incident.pk}/change/"))
    title = "anna@example.com, 51.98 EUR: Authentication failed"
    assert f"<h2>{title}</h2>" in page
    assert f"<title>{title} | Change incident" in page or \
        f"<title>{title} | View incident" in page
    assert incident.stripe_id not in page.split("<title>")[1].split("</title>")[0]


def test_engine_internals_are_for_ops_not_merchants(db, merchant, ops):
    order = order_of(("Lamp", 4500, 1))
    order.session_hash = "0123456789abcdef0123456789abcdef"
    order.save()
    for url in ("/admin/payments/scancursor/", "/admin/payments/scanlock/"):
        assert merchant.get(url).status_code == 403
        assert ops.get(url).status_code == 200
    index = merchant.get("/admin/").content.decode()
    assert "/admin/payments/scancursor/" not in index and "/admin/payments/scanlock/" not in index
    assert "/admin/payments/scanrun/" in index  # what the engine did stays in view
    page = f"/admin/payments/order/{order.pk}/change/"
    assert order.session_hash not in merchant.get(page).content.decode()
    assert order.session_hash in ops.get(page).content.decode()


# --- 23: a date filter with any offset -------------------------------------------------------

@pytest.mark.parametrize(("url", "field"), [
    (LIST, "first_seen_at"), (EXPORT, "first_seen_at"), ("/admin/payments/scanrun/", "started_at"),
    ("/admin/payments/opsaction/", "created_at"), ("/admin/payments/recoverylink/", "created_at"),
    (LIST, "resolved_at"),
])
@pytest.mark.parametrize("offset", ["-23:59", "+23:30", "+16:00"])
def test_a_date_filter_offset_postgresql_refuses_is_no_500(db, merchant, url, field, offset):
    """Python reads any offset under a day; PostgreSQL refuses those beyond ±15:59."""
    incident_of(Kind.AUTHENTICATION_FAILED, first_seen_at=datetime(2026, 12, 7, 12, tzinfo=UTC))
    response = merchant.get(url, {f"{field}__gte": f"2026-12-06T10:00:00{offset}"})
    assert response.status_code in (200, 302)
    if url == EXPORT:
        assert b"".join(response.streaming_content).startswith("\ufeff".encode())


def test_a_moment_with_a_large_offset_is_that_moment(db, merchant):
    before = incident_of(Kind.AUTHENTICATION_FAILED, email="before@example.com",
                         first_seen_at=datetime(2026, 12, 7, 9, 58, tzinfo=UTC))
    after = incident_of(Kind.AUTHENTICATION_FAILED, email="after@example.com",
                        first_seen_at=datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
    # 10:00 at -23:59 is 09:59 UTC the next day.
    listing = text_of(merchant.get(LIST, {"first_seen_at__gte": "2026-12-06T10:00:00-23:59"}))
    assert after.customer_email in listing and before.customer_email not in listing


def test_a_payment_that_failed_both_ways_is_one_failure_on_the_dashboard_list_and_alert(
        mailbox, merchant):
    """Left at the bank's challenge, then failed it: two failure incidents, one failed
    payment. The rate counts it once; so do the lists its number and the alert open."""
    now = timezone.now()
    asking = [asked_for_authentication(order_of(("Lamp", 4500, 1), email=f"s{i}@example.com"))
              for i in range(9)]
    incident_of(Kind.ACTION_ABANDONED, attempt=asking[0], first_seen_at=now - timedelta(hours=2))
    incident_of(Kind.AUTHENTICATION_FAILED, attempt=asking[0],
                first_seen_at=now - timedelta(hours=1))
    for attempt, kind in zip(asking[1:], [Kind.AUTHENTICATION_FAILED] * 3 +
                             [Kind.ACTION_ABANDONED] * 2, strict=False):
        incident_of(kind, attempt=attempt)
    page = merchant.get(DASHBOARD)
    assert re.search(r">66\.7 %</a>", text_of(page))  # 6 payments failed of 9
    listed = text_of(merchant.get(link_reading(page.content.decode(), "66.7 %")))
    assert sorted(re.findall(r"s(\d)@example\.com", listed)) == list("012345")  # each once
    # Whole seconds in the alert's window: a moment after the last payment was made.
    assert ops_mail.ops_alert_check(now=timezone.now() + timedelta(seconds=2)) is True
    url = re.search(r"https?://\S+/admin/payments/incident/\?\S+", mailbox[0].body).group(0)
    alerted = text_of(merchant.get(LIST + "?" + urlsplit(url).query))
    assert sorted(re.findall(r"s(\d)@example\.com", alerted)) == list("012345")
