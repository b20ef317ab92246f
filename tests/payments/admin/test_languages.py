"""The admin in the staff's language (issue 19): a merchant whose browser asks for German
reads our column titles, actions, incident kinds, statuses, field names and Stripe's
codes in German, next to Django's own German admin; the CSV export and what an ops action
stores stay English whatever the reader's language, since scripts, spreadsheets and the
next reader read those words."""

from __future__ import annotations

import csv
import html
import io

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone, translation

from payments.admin.incidents_csv import incidents_csv
from payments.models import Incident, OpsAction
from tests.payments.admin.test_ops import abandoned, form_of, ops_url, staff_client
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
                   "Karte abgelehnt", "Unzureichende Deckung",  # kind, decline code
                   "Gerettet (später bezahlt)", "Verloren",  # the status filter's choices
                   "Vorfälle", "Zahlungen"):  # the model's and the app's names
        assert german in page, german
    assert '<span class="quiet">Offen</span>' in page  # the row's status
    for english in ("Last error", "Confirm now", "Insufficient funds", "Recovered (paid",
                    ">Open<", ">Incidents<"):
        assert english not in page, english
    assert "Last error" in admin_client.get("/admin/payments/incident/").content.decode()


def test_an_incident_page_names_its_fields_in_german(declined, admin_client):
    page = admin_client.get(f"/admin/payments/incident/{declined.pk}/change/",
                            **GERMAN).content.decode()
    for german in ("Kunden-E-Mail", "Fehlercode", "Ablehnungscode", "Offen"):
        assert german in page, german
    assert "Customer email" not in page and "Error code" not in page


def test_a_german_ops_persons_action_stores_english_and_reads_german(
        product, sandbox, site_on_sandbox):
    """The one-payment action runs in the German request: what it stores (the admin's
    history, the item's detail, the summary) is the English an English colleague's would
    be; the pages show it in German."""
    site_on_sandbox.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    site_on_sandbox.PAYMENTS_AUTO_FINALIZE = False
    ops = staff_client("olga", "Payments ops")
    _, incident = abandoned(product, sandbox, authenticated=False)
    page = ops.get(ops_url("cancel"), {"ids": incident.pk}, **GERMAN)
    confirmation = page.content.decode()
    assert "Wird storniert (1)" in confirmation and "Nein, zurück" in confirmation
    assert "Betrügerisch" in confirmation  # the reasons, in German
    response = ops.post(ops_url("cancel"), {**form_of(page), "reason": "fraudulent"},
                        follow=True, **GERMAN)
    assert response.status_code == 200
    said = html.unescape(response.content.decode())
    assert '<li class="success">1 storniert.</li>' in said and "1 canceled" not in said
    record = OpsAction.objects.get()
    assert (record.summary, record.items.get().detail) == ("1 canceled", "canceled")
    listed = html.unescape(ops.get("/admin/payments/opsaction/", **GERMAN).content.decode())
    assert "1 storniert" in listed and "1 canceled" not in listed  # the summary column
    assert "1 storniert" in html.unescape(ops.get(
        f"/admin/payments/opsaction/{record.pk}/change/", **GERMAN).content.decode())
    assert "1 canceled" in ops.get("/admin/payments/opsaction/").content.decode()
    entry = LogEntry.objects.get(object_id=str(incident.pk), content_type__model="incident")
    assert entry.get_change_message().startswith("Cancel (Fraudulent): canceled")
    shown = html.unescape(ops.get(f"/admin/payments/incident/{incident.pk}/change/",
                                  **GERMAN).content.decode())
    assert "Stornieren (Betrügerisch)" in shown and "Storniert von olga" in shown
    again = ops.get(ops_url("confirm"), {"ids": incident.pk}, **GERMAN).content.decode()
    assert "Wird übersprungen (1)" in again and "Bereits storniert" in again  # capfirst


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


def test_durations_and_webhook_lags_in_the_readers_number_format():
    from datetime import timedelta

    from payments.admin.common import duration_short
    from payments.admin.webhooks import WebhookEventAdmin
    from payments.stripe.models import WebhookEvent

    now = timezone.now()
    event = WebhookEvent(received_at=now, processed_at=now + timedelta(seconds=0.86))
    state = WebhookEventAdmin.state
    with translation.override("en"):
        assert duration_short(timedelta(seconds=0.86)) == "0.9\u00a0s"
        assert state(None, event) == "processed after 0.9 s"
    with translation.override("de"):
        assert duration_short(timedelta(seconds=0.86)) == "0,9\u00a0s"
        assert duration_short(timedelta(seconds=0.01)) == "<\u00a00,1\u00a0s"
        assert state(None, event) == "verarbeitet nach 0,9 s"
        assert state(None, WebhookEvent(received_at=now)) == "wartet"
