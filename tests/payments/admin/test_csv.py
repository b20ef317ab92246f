"""The CSV export written by PostgreSQL (payments.admin.incidents_csv, COPY) has the same
cells as the one written row by row in Python (payments.admin.incidents.INCIDENT_CSV, the
other databases' path): labels, money, times in the site's zone with their offset, the
confirm deadline, escaped formulas, empty cells."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from payments.admin.incidents import INCIDENT_CSV, incidents_csv
from payments.admin.incidents_csv import incidents_csv_copy
from payments.models import Incident, PaymentAttempt
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
    odd = incident_of(Kind.EXPIRED, amount=7, currency="usd", status=Status.LOST)
    Incident.objects.filter(pk=odd.pk).update(
        error_code="some_new_code", card_brand="", card_last4="", customer_email="",
        intent_status="", intent_created_at=now - timedelta(days=3), source="scan")
    incidents = Incident.objects.select_related("order", "attempt").order_by("-pk")

    python = rows_of("".join(incidents_csv(incidents)))
    header = "\ufeff" + ",".join(label for label, _ in INCIDENT_CSV) + "\n"
    postgres = rows_of(b"".join(incidents_csv_copy(incidents, header=header)).decode())
    assert len(postgres) == 4
    assert postgres == python
    assert postgres[3][3].startswith("'=")  # the formula escaped
    assert postgres[2][4] == "500"  # yen have no minor unit
