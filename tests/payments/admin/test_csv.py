"""The CSV export written by PostgreSQL (payments.admin.incidents_csv, COPY) has the same
cells as the one written row by row in Python (payments.admin.incidents_csv.INCIDENT_CSV, the
other databases' path): labels, money, times in the site's zone with their offset, the
confirm deadline, escaped formulas, empty cells."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments.admin.incidents_csv import INCIDENT_CSV, incidents_csv, incidents_csv_copy
from payments.models import Incident, Order, PaymentAttempt
from payments.monitoring import observe
from tests.payments.factories import attempt_of, incident_of, order_of

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql",
                                reason="COPY is PostgreSQL's")
Kind, Status = Incident.Kind, Incident.Status


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kolkata"])
def test_postgres_writes_the_cells_python_writes(db, settings, zone):
    settings.TIME_ZONE = zone  # the site's zone: what the CSV's times are written in
    now = timezone.now()
    waiting = attempt_of(order_of(("Mug", 2599, 1), email="=HYPERLINK(1)@example.com"),
                         status=PaymentAttempt.Status.REQUIRES_CONFIRMATION,
                         requires_action_at=now, requires_confirmation_at=now)
    incident_of(Kind.CONFIRMATION_ABANDONED, attempt=waiting)
    declined = incident_of(Kind.CARD_DECLINED, amount=500, currency="jpy",
                           status=Status.RECOVERED)
    Incident.objects.filter(pk=declined.pk).update(
        decline_code="insufficient_funds", error_code="card_declined",
        error_message="-Your card has insufficient funds.", card_brand="cartes_bancaires",
        card_country="FR", resolved_at=now + timedelta(minutes=5), source="webhook")
    incident_of(Kind.CARD_DECLINED, amount=5120, currency="kwd")
    odd = incident_of(Kind.EXPIRED, amount=7, currency="usd", status=Status.LOST)
    Incident.objects.filter(pk=odd.pk).update(
        error_code="some_new_code", card_brand="", card_last4="", customer_email="",
        intent_status="", intent_created_at=now - timedelta(days=3), source="scan")
    incidents = Incident.objects.select_related("order", "attempt").order_by("-pk")

    python = rows_of("".join(incidents_csv(incidents)))
    header = "\ufeff" + ",".join(label for label, _ in INCIDENT_CSV) + "\n"
    postgres = rows_of(b"".join(incidents_csv_copy(incidents, header=header)).decode())
    assert len(postgres) == 5
    assert postgres == python
    assert postgres[4][3].startswith("'=")  # the formula escaped
    assert postgres[3][4] == "500"  # yen have no minor unit
    assert postgres[2][4] == "5.120"  # dinars have three
    assert postgres[1][4] == "0.07"


# --- the order's reference, kept on the incident (0075) ----------------------------------

EXPORT = "/admin/payments/incident/export/"
DECLINED = {"status": "requires_payment_method", "last_error_code": "card_declined",
            "last_decline_code": "insufficient_funds", "last_error_message": "No funds."}


def ours(reference_known: bool = True) -> PaymentAttempt:
    """An attempt at the bank's challenge; without its intent id when the create's answer
    was lost (the intent's metadata then names its order)."""
    attempt = attempt_of(order_of(("Mug", 5000, 1)))
    if not reference_known:
        PaymentAttempt.objects.filter(pk=attempt.pk).update(stripe_id=None)
    return attempt


def export_orders(client) -> dict[str, str]:
    """PaymentIntent -> the Order cell, as the admin's export writes them."""
    response = client.get(EXPORT)
    assert response.status_code == 200
    header, *rows = rows_of(b"".join(response.streaming_content).decode())
    return {row[header.index("PaymentIntent")]: row[header.index("Order")] for row in rows}


def test_every_writer_keeps_the_order_the_export_shows(db, admin_client):
    """Incidents opened from a webhook's event, a scan's fresh read, the stale sweep, a
    create whose answer was lost (bound by the intent's metadata) and a backfill's page of
    intents made outside the checkout: each keeps its order's reference (none outside),
    and the export shows it; a row from before the column shows it too (looked up)."""
    from tests.payments.checkout.test_status import INTENT

    webhook, scan, stale, lost = ours(), ours(), ours(), ours(reference_known=False)
    observe.intent_observe(intent=dataclasses.replace(INTENT, id=webhook.stripe_id, **DECLINED),
                           source="webhook", actor="event", current=False)
    observe.intent_observe(intent=dataclasses.replace(INTENT, id=scan.stripe_id, **DECLINED),
                           source="scan", actor="scan")
    observe.intent_observe(intent=dataclasses.replace(INTENT, id=stale.stripe_id),
                           source="scan", actor="scan", stale_kind=Kind.ACTION_ABANDONED)
    observe.intent_observe(intent=dataclasses.replace(
        INTENT, id="pi_lost_answer", metadata={"order": lost.order.reference, "attempt": "1"},
        **DECLINED), source="scan", actor="scan")
    observe.intents_outside_observe(intents=[(dataclasses.replace(
        INTENT, id="pi_outside", metadata={}, **DECLINED), None)], source="scan")
    before_column = incident_of(Kind.CARD_DECLINED, attempt=ours())
    Incident.objects.filter(pk=before_column.pk).update(order_reference=None)

    expected = {webhook.stripe_id: webhook.order.reference, scan.stripe_id: scan.order.reference,
                stale.stripe_id: stale.order.reference, "pi_lost_answer": lost.order.reference,
                "pi_outside": None}
    assert dict(Incident.objects.exclude(pk=before_column.pk).values_list(
        "stripe_id", "order_reference")) == expected
    expected |= {"pi_outside": "", before_column.stripe_id: before_column.order.reference}
    assert export_orders(admin_client) == expected


def order_reads() -> int:
    """Scans of the orders table in this transaction (PostgreSQL's own counters)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) "
                       "FROM pg_stat_xact_user_tables WHERE relname = 'payments_order'")
        return cursor.fetchone()[0]


def test_the_export_reads_no_order_for_an_incident_that_keeps_its_reference(db):
    """The look-up per row was most of the export's cost at a million rows
    (bench/admin.py --export-compare): only a row without its reference looks it up."""
    for _ in range(3):
        incident_of(Kind.CARD_DECLINED, attempt=ours())
    incident_of(Kind.EXPIRED)  # outside the checkout: no order
    header = "\ufeff" + ",".join(label for label, _ in INCIDENT_CSV) + "\n"

    def export() -> tuple[int, list[list[str]]]:
        reads = order_reads()
        rows = rows_of(b"".join(incidents_csv_copy(Incident.objects.order_by("pk"),
                                                   header=header)).decode())
        return order_reads() - reads, rows

    reads, rows = export()
    assert reads == 0
    assert [row[13] for row in rows[1:]] == [
        i.order.reference if i.order else "" for i in Incident.objects.order_by("pk")]
    Incident.objects.filter(order__isnull=False).update(order_reference=None)  # before 0076
    reads, unfilled_rows = export()
    assert reads == 3
    assert unfilled_rows == rows


def test_the_exports_queries_do_not_grow_with_its_rows(db, admin_client):
    incident_of(Kind.CARD_DECLINED, attempt=ours())
    export_orders(admin_client)  # the first of a minute also reads the filters' values
    with CaptureQueriesContext(connection) as one:
        assert len(export_orders(admin_client)) == 1
    for _ in range(5):
        incident_of(Kind.CARD_DECLINED, attempt=ours())
    incident_of(Kind.EXPIRED)
    with CaptureQueriesContext(connection) as seven:
        assert len(export_orders(admin_client)) == 7
    assert len(seven) == len(one)


def test_a_search_that_finds_nothing_exports_the_header_whole(db, admin_client):
    """Django knows such a filter matches nothing and builds no SQL: the stream broke off
    after the header, with a traceback in the log."""
    attempt = ours()
    # A random reference may hold "-1" (its alphabet has "-"): one that cannot.
    Order.objects.filter(pk=attempt.order_id).update(reference="ord_AAAAAAAAAAAAAAAA")
    incident_of(Kind.CARD_DECLINED, attempt=PaymentAttempt.objects.get(pk=attempt.pk))
    response = admin_client.get("/admin/payments/incident/export/", {"q": "-1"})
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert response.status_code == 200
    assert list(csv.reader(io.StringIO(body))) == [[label for label, _cell in INCIDENT_CSV]]
