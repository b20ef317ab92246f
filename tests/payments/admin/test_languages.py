"""The admin in the staff's language (issue 19): a merchant whose browser asks for German
reads our column titles, actions, incident kinds and Stripe's codes in German, next to
Django's own German admin; the CSV export stays English whatever the reader's language,
since scripts and spreadsheets read its words."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone, translation

from payments.admin.incidents import incidents_csv
from payments.models import Incident
from tests.payments.factories import incident_of, totals_recounted

GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de"}


@pytest.fixture
def declined(db) -> Incident:
    incident = incident_of(Incident.Kind.CARD_DECLINED, email="kunde@example.com")
    Incident.objects.filter(pk=incident.pk).update(decline_code="insufficient_funds",
                                                   error_code="card_declined",
                                                   intent_created_at=timezone.now())
    return totals_recounted(incident)


def english_rows(chunks) -> list[list[str]]:
    # Read while German is active, as a server that streams in the request's thread would.
    with translation.override("de"):
        body = "".join(chunk.decode() if isinstance(chunk, bytes) else chunk
                       for chunk in chunks)
    return list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))


def test_the_incident_list_speaks_german_to_a_german_browser(declined, admin_client):
    page = admin_client.get("/admin/payments/incident/", **GERMAN).content.decode()
    assert 'lang="de"' in page
    for german in ("Letzter Fehler", "Art / Status", "Bestellung / Intent",  # columns
                   "Jetzt bestätigen", "Authentifizierungslink senden",  # actions
                   "Nach Ablehnungscode",  # a filter's title, in Django's "By ..."
                   "Karte abgelehnt", "Unzureichende Deckung"):  # kind, decline code
        assert german in page, german
    for english in ("Last error", "Confirm now", "Insufficient funds"):
        assert english not in page, english
    assert "Last error" in admin_client.get("/admin/payments/incident/").content.decode()


def test_the_dashboard_speaks_german_to_a_german_browser(declined, admin_client):
    page = admin_client.get("/admin/payments/dashboard/", **GERMAN).content.decode()
    assert "Nach Ablehnungscode" in page and "Unzureichende Deckung" in page
    assert "Alle Währungen" in page


def test_the_csv_export_stays_english_for_a_german_browser(declined, admin_client):
    response = admin_client.get("/admin/payments/incident/export/", **GERMAN)
    assert response.status_code == 200
    header, row = english_rows(response.streaming_content)
    assert header[:7] == ["First seen", "Kind", "Status", "Customer email", "Amount",
                          "Currency", "Last error"]
    cells = dict(zip(header, row, strict=True))
    assert (cells["Kind"], cells["Status"], cells["Last error"]) == \
        ("Card declined", "Open", "Insufficient funds")


def test_the_row_by_row_csv_stays_english_too(declined):
    # The path other databases take (PostgreSQL's COPY is the one above).
    header, row = english_rows(incidents_csv(Incident.objects.all()))
    cells = dict(zip(header, row, strict=True))
    assert (cells["Kind"], cells["Last error"]) == ("Card declined", "Insufficient funds")
