"""Incidents end when their payment settles (payments.monitoring.incidents, by the
checkout's payment_settled signal): recovered, auto-finalized by our own scan's confirm,
or canceled; a first payment paid at once costs no incident query."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.checkout.status import payment_status_record
from payments.models import Incident, Order, PaymentAttempt
from tests.payments.checkout.test_status import INTENT

Kind, IncidentStatus = Incident.Kind, Incident.Status


@pytest.fixture
def waiting(db) -> PaymentAttempt:
    """An attempt left at the bank's challenge, with its open incident."""
    order = Order.objects.create(email="a@example.com", amount=5000, currency="eur")
    attempt = PaymentAttempt.objects.create(order=order, number=1, create_payment_method="pm_x",
                                            amount=5000, currency="eur",
                                            confirmation_method="manual")
    attempt = record(attempt, status="requires_action")
    Incident.objects.create(kind=Kind.ACTION_ABANDONED, stripe_id=INTENT.id, attempt=attempt,
                            order=order, amount=5000, currency="eur",
                            intent_status="requires_action", source="scan")
    return attempt


def record(attempt: PaymentAttempt, *, source: str = "pay", confirmed: bool = False,
           **changes) -> PaymentAttempt:
    return payment_status_record(attempt=attempt, intent=dataclasses.replace(INTENT, **changes),
                                 source=source, actor="test", confirmed=confirmed)


def incident() -> Incident:
    return Incident.objects.get(stripe_id=INTENT.id)


@pytest.mark.parametrize(("source", "confirmed", "ended_as"), [
    ("pay", True, IncidentStatus.RECOVERED),  # the shopper came back
    ("admin", True, IncidentStatus.RECOVERED),  # ops confirmed it
    ("webhook", False, IncidentStatus.RECOVERED),  # someone paid; we read it
    ("scan", False, IncidentStatus.RECOVERED),  # a scan read it paid
    ("scan", True, IncidentStatus.AUTO_FINALIZED),  # our scan's own confirm paid it
])
def test_a_paid_payment_ends_its_incidents_as_who_paid_it_says(waiting, source, confirmed,
                                                                ended_as):
    record(waiting, status="succeeded", source=source, confirmed=confirmed)
    found = incident()
    assert (found.status, found.intent_status) == (ended_as, "succeeded")
    assert found.resolved_at is not None


def test_a_canceled_payment_ends_its_incidents_canceled(waiting):
    record(waiting, status="canceled", source="admin")
    assert incident().status == IncidentStatus.CANCELED


def test_a_repeated_report_of_the_payment_changes_nothing(waiting):
    record(waiting, status="succeeded", source="scan", confirmed=True)
    resolved_at = incident().resolved_at
    record(waiting, status="succeeded", source="webhook")  # the same fact, again
    assert (incident().status, incident().resolved_at) == \
        (IncidentStatus.AUTO_FINALIZED, resolved_at)


def test_a_payment_that_only_waits_ends_nothing(waiting):
    record(waiting, status="requires_confirmation", source="webhook")
    assert incident().status == IncidentStatus.OPEN


def test_a_first_payment_paid_at_once_asks_for_no_incident(db):
    order = Order.objects.create(email="a@example.com", amount=5000, currency="eur")
    attempt = PaymentAttempt.objects.create(order=order, number=1, create_payment_method="pm_x",
                                            amount=5000, currency="eur",
                                            confirmation_method="manual")
    with CaptureQueriesContext(connection) as queries:
        record(attempt, status="succeeded", source="pay", confirmed=False)
    assert not [q for q in queries if "payments_incident" in q["sql"]]
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def test_our_scans_confirm_keeps_its_label_when_a_webhook_recorded_the_payment_first(
        waiting):
    """The race the chaos run met: the scan's confirm paid the payment, but the webhook
    about it was recorded a moment before the confirm's answer. The incident ends
    auto-finalized all the same (the dashboard counts auto-finalized revenue by it)."""
    record(waiting, status="requires_confirmation", source="webhook")
    record(waiting, status="succeeded", source="webhook")  # the event, first
    assert incident().status == IncidentStatus.RECOVERED
    record(waiting, status="succeeded", source="scan", confirmed=True)  # our answer
    assert incident().status == IncidentStatus.AUTO_FINALIZED
    # A shopper's own confirm answered the same way changes nothing of it.
    record(waiting, status="succeeded", source="pay", confirmed=True)
    assert incident().status == IncidentStatus.AUTO_FINALIZED
