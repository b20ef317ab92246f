"""Erasing a shopper's data: the address gone from every table, the accounting record,
the ledger and the dashboard's totals kept, the shopper's pages still answering; refused
(nothing changed) while a payment is in flight; a repeated request recognised."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.urls import reverse
from django.utils import timezone

from payments.checkout.models import DailyTotal, PaymentEvent
from payments.mail.receipts import receipts_due_send
from payments.models import ErasureRecord, Incident, Order, RecoveryLink
from payments.privacy.erasure import ErasureRefused, shopper_data_erase
from payments.privacy.selectors import EmailInvalid, shopper_data_find
from payments.shop.orders import order_status_token
from tests.conftest import need
from tests.payments.conftest import shopper_with_order
from tests.payments.privacy.conftest import CAROL, OTHER, abandoned, at_the_bank, execute


def tables_holding(text: str) -> list[tuple[str, str]]:
    """Every (table, column) of the database whose value, read as text, holds ``text`` in
    any case (Django's introspection, so on PostgreSQL and SQLite alike)."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                quoted = connection.ops.quote_name(column.name)
                cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} "
                               f"WHERE LOWER(CAST({quoted} AS TEXT)) LIKE %s LIMIT 1",
                               [f"%{text.lower()}%"])
                if cursor.fetchone():
                    found.append((table, column.name))
    return found


def ledger_and_totals() -> tuple[list, list]:
    return (list(PaymentEvent.objects.order_by("pk").values_list()),
            list(DailyTotal.objects.order_by("pk").values_list()))


def test_erasure_leaves_the_address_nowhere_and_the_accounts_whole(history, client):
    assert tables_holding(CAROL), "the history holds the address before"
    before = ledger_and_totals()
    paid = history.paid.order_now()
    attempt = paid.attempts.get()
    now = timezone.now()

    erasure = shopper_data_erase(email="CAROL@example.com", actor="user:olga", now=now)

    assert tables_holding(CAROL) == []
    assert ledger_and_totals() == before  # not one ledger row or daily total changed
    assert erasure.counts == {"orders": 2, "orders_canceled": 0, "incidents_ended": 0,
                              "receipts_stopped": 1, "incidents": 2, "recovery_links": 1,
                              "admin_log": 1}  # the old entry
    record = ErasureRecord.objects.get()
    assert (record.actor, record.erased_at, record.counts) == ("user:olga", now,
                                                               erasure.counts)
    assert CAROL not in record.email_hmac and len(record.email_hmac) == 64
    # The accounting record of the paid order stays.
    paid.refresh_from_db()
    assert (paid.email, paid.session_hash, paid.erased_at) == ("", "", now)
    assert (paid.status, paid.amount, paid.currency) == ("paid", 5198, "eur")
    assert paid.paid_at and list(paid.lines.values_list("name", "quantity")) == \
        [("Espresso cups", 2)]
    attempt.refresh_from_db()
    assert attempt.stripe_id.startswith("pi_") and attempt.latest_charge.startswith("ch_")
    # The admin history names the incident by its order and kind now.
    incident = Incident.objects.get(pk=history.incident.pk)
    reprs = set(LogEntry.objects.filter(object_id=str(incident.pk),
                                        content_type__model="incident")
                .values_list("object_repr", flat=True))
    assert reprs == {f"{history.canceled.order.reference}, 51.98 EUR: Left at the bank's "
                     "challenge"}
    # The link no longer works; its history (sent, opened) stays.
    link = RecoveryLink.objects.get(pk=history.link.pk)
    assert link.expires_at <= now and link.opened_at and link.email == ""
    # The shopper's pages still answer: her session's order page, the receipt's link.
    page = history.paid.client.get(f"/orders/{paid.reference}/")
    assert page.status_code == 200
    assert "Your payment was received on" in page.content.decode()
    assert "A receipt goes to" not in page.content.decode()  # no address to send it to
    status_link = reverse("order_status", args=[order_status_token(order=paid)])
    assert client.get(status_link).status_code == 200
    # The receipt still due is stopped: nothing goes out, to anyone.
    mail.outbox.clear()
    assert receipts_due_send() == 0 and mail.outbox == []
    # The other shopper is untouched.
    assert shopper_data_find(email=OTHER).held
    assert Incident.objects.get(pk=history.other_incident.pk).customer_email == OTHER
    assert not shopper_data_find(email=CAROL).held


def test_refused_while_a_payment_is_in_flight_changing_nothing(history, product, ops):
    _, waiting = at_the_bank(product, CAROL)
    held = shopper_data_find(email=CAROL).as_json()
    history_before = list(LogEntry.objects.order_by("pk").values_list())
    with pytest.raises(ErasureRefused) as refused:
        shopper_data_erase(email=CAROL, actor="user:olga", now=timezone.now())
    assert waiting.stripe_id in refused.value.message and "Cancel" in refused.value.message
    assert shopper_data_find(email=CAROL).as_json() == held
    assert list(LogEntry.objects.order_by("pk").values_list()) == history_before
    assert not ErasureRecord.objects.exists()
    assert Order.objects.filter(erased_at__isnull=False).count() == 0


def test_once_ops_cancel_the_payment_in_flight_the_erasure_goes_through(quick_scans, product,
                                                                         ops):
    _, incident = abandoned(product, CAROL)
    with pytest.raises(ErasureRefused):
        shopper_data_erase(email=CAROL, actor="user:olga", now=timezone.now())
    assert execute("cancel", [incident], ops, reason="requested_by_customer").done == 1
    erasure = shopper_data_erase(email=CAROL, actor="user:olga", now=timezone.now())
    assert erasure.counts["orders"] == 1 and erasure.counts["incidents"] == 1
    assert tables_holding(CAROL) == []


def test_a_repeated_request_is_recognised_by_the_record(history, settings):
    first = shopper_data_erase(email=CAROL, actor="user:olga", now=timezone.now())
    again = shopper_data_erase(email=" Carol@Example.com", actor="user:mia",
                               now=timezone.now())
    assert again.record is None and again.counts == {}
    assert again.previous == [first.record]
    assert ErasureRecord.objects.count() == 1
    found = shopper_data_find(email=CAROL)
    assert not found.held and found.erasures == [first.record]
    # Still recognised after the site's secret is rotated (the old one a fallback).
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-" + "x" * 50
    assert shopper_data_find(email=CAROL).erasures == [first.record]
    # Another address is not taken for it.
    assert shopper_data_find(email=OTHER).erasures == []


def test_nothing_held_erases_nothing_and_records_nothing(db):
    erasure = shopper_data_erase(email="nobody@example.com", actor="user:olga",
                                 now=timezone.now())
    assert (erasure.record, erasure.previous) == (None, [])
    assert not ErasureRecord.objects.exists()


@pytest.mark.parametrize(("email", "actor", "error"), [
    ("", "user:olga", EmailInvalid), ("carol@", "user:olga", EmailInvalid),
    (CAROL, " ", ValueError)])
def test_bad_input_is_refused_and_changes_nothing(history, email, actor, error):
    before = shopper_data_find(email=CAROL).as_json()
    with pytest.raises(error):
        shopper_data_erase(email=email, actor=actor, now=timezone.now())
    assert shopper_data_find(email=CAROL).as_json() == before
    assert not ErasureRecord.objects.exists()


def test_erasure_records_are_append_only(db):
    record = ErasureRecord.objects.create(email_hmac="0" * 64, actor="user:olga",
                                          erased_at=timezone.now(), counts={"orders": 1})
    for attempt in (record.save, record.delete, ErasureRecord.objects.all().delete,
                    lambda: ErasureRecord.objects.update(actor="x")):
        with pytest.raises(ValidationError):
            attempt()
    assert ErasureRecord.objects.get().actor == "user:olga"


def test_the_database_refuses_to_rewrite_erasure_records_on_postgresql(db):
    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    ErasureRecord.objects.create(email_hmac="0" * 64, actor="user:olga",
                                 erased_at=timezone.now(), counts={"orders": 1})
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM payments_erasurerecord")
    assert ErasureRecord.objects.get().actor == "user:olga"


def test_an_order_still_awaiting_payment_is_canceled_so_it_cannot_be_paid_unsaid(
        history, product):
    """An erased order left open took a card payment afterwards, with no address left to
    send its receipt to."""
    shopper = shopper_with_order(product)
    Order.objects.filter(pk=shopper.order.pk).update(email=CAROL)
    erasure = shopper_data_erase(email=CAROL, actor="user:olga", now=timezone.now())
    assert erasure.counts["orders_canceled"] == 1
    assert shopper.order_now().status == Order.Status.CANCELED
    refused = shopper.pay(payment_method_id="pm_card_visa")
    assert refused.status_code == 409
    assert not shopper.order.attempts.exists()



def test_an_erased_orders_open_incident_ends_canceled_and_leaves_the_money_at_risk(
        history, product):
    """The order was canceled by the erasure; its incident stayed Open, and the dashboard
    went on counting its amount as at risk beside an order nobody could pay (support
    agent)."""
    from payments.monitoring.selectors import incident_open_counts
    from tests.payments.factories import attempt_of, incident_of

    order = shopper_with_order(product).order
    Order.objects.filter(pk=order.pk).update(email=CAROL)
    failed = incident_of(Incident.Kind.AUTHENTICATION_FAILED, email=CAROL,
                         attempt=attempt_of(order, status="requires_payment_method"))
    # An order canceled before (by ops) whose incident is left as it was: not this
    # erasure's to end (review).
    earlier = shopper_with_order(product).order
    Order.objects.filter(pk=earlier.pk).update(email=CAROL, status=Order.Status.CANCELED)
    kept = incident_of(Incident.Kind.AUTHENTICATION_FAILED, email=CAROL,
                       attempt=attempt_of(earlier, status="requires_payment_method"))
    open_before = sum(incident_open_counts().values())
    now = timezone.now()
    erasure = shopper_data_erase(email=CAROL, actor="user:olga", now=now)
    assert (erasure.counts["orders_canceled"], erasure.counts["incidents_ended"]) == (1, 1)
    failed.refresh_from_db()
    assert (failed.status, failed.resolved_at) == (Incident.Status.CANCELED, now)
    assert Incident.objects.get(pk=kept.pk).status == Incident.Status.OPEN
    assert sum(incident_open_counts().values()) == open_before - 1
