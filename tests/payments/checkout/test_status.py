"""payment_status_record: the one way a status changes, idempotent and order-proof."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from payments.checkout.status import payment_status_record
from payments.models import Order, PaymentAttempt, PaymentEvent
from payments.stripe.gateway import IntentData
from tests.conftest import need

INTENT = IntentData(
    id="pi_test1", status="requires_action", amount=5000, currency="eur", client_secret="s",
    confirmation_method="manual", next_action_type="use_stripe_sdk", last_error_code=None,
    last_decline_code=None, last_error_message=None, card_brand="visa", card_last4="3155",
    card_country="DE", latest_charge=None, created=0)


@pytest.fixture
def attempt(db) -> PaymentAttempt:
    order = Order.objects.create(email="a@example.com", amount=5000, currency="eur")
    return PaymentAttempt.objects.create(order=order, number=1, create_payment_method="pm_x",
                                         amount=5000, currency="eur",
                                         confirmation_method="manual")


def record(attempt, source="pay", **changes):
    return payment_status_record(attempt=attempt, intent=dataclasses.replace(INTENT, **changes),
                                 source=source, actor="test")


def test_a_repeated_fact_writes_one_ledger_row(attempt):
    for source in ("pay", "webhook", "scan"):
        record(attempt, source=source)
    assert [(e.from_status, e.to_status, e.source) for e in attempt.events.all()] == \
        [("creating", "requires_action", "pay")]
    attempt.refresh_from_db()
    assert attempt.requires_action_at is not None and attempt.card_last4 == "3155"


def test_success_marks_the_order_paid_and_is_final(attempt):
    record(attempt, status="succeeded", latest_charge="ch_1")
    record(attempt, status="requires_action", source="webhook")  # a late, stale report
    attempt.refresh_from_db()
    assert (attempt.status, attempt.latest_charge) == ("succeeded", "ch_1")
    assert attempt.final_at is not None
    assert attempt.order.status == Order.Status.PAID and attempt.order.paid_at is not None
    assert PaymentEvent.objects.count() == 1


def test_a_new_error_on_the_same_status_is_a_new_fact(attempt):
    record(attempt, status="requires_payment_method", last_error_code="card_declined",
           last_decline_code="insufficient_funds")
    record(attempt, status="requires_payment_method", last_error_code="card_declined",
           last_decline_code="generic_decline")
    assert [e.decline_code for e in attempt.events.all()] == \
        ["insufficient_funds", "generic_decline"]


def test_a_wrong_amount_is_never_called_paid(attempt):
    record(attempt, status="succeeded", amount=1)
    assert Order.objects.get().status == Order.Status.OPEN


def test_another_intent_is_refused(attempt):
    record(attempt)
    with pytest.raises(ValueError):
        record(attempt, id="pi_other")


def test_the_ledger_is_append_only(attempt):
    record(attempt)
    event = PaymentEvent.objects.get()
    event.to_status = "succeeded"
    with pytest.raises(Exception, match="append-only"):
        event.save()
    with pytest.raises(Exception, match="append-only"):
        event.delete()


def test_the_ledger_refuses_bulk_update_and_delete(attempt):
    record(attempt)
    with pytest.raises(ValidationError, match="append-only"):
        PaymentEvent.objects.filter(attempt=attempt).update(to_status="succeeded")
    with pytest.raises(ValidationError, match="append-only"):
        PaymentEvent.objects.filter(attempt=attempt).delete()
    with pytest.raises(ValidationError, match="append-only"):
        PaymentEvent.objects.all().delete()
    assert PaymentEvent.objects.get().to_status == "requires_action"


def test_the_database_refuses_to_rewrite_the_ledger_on_postgresql(attempt):
    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    record(attempt)
    for statement in ("UPDATE payments_paymentevent SET to_status = 'succeeded'",
                      "DELETE FROM payments_paymentevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
                connection.cursor() as cursor:
            cursor.execute(statement)
    assert PaymentEvent.objects.get().to_status == "requires_action"


def test_every_field_the_record_copies_is_written(attempt):
    """The record saves only the columns it changed: a field copied from the intent but
    missing from RECORDED_FIELDS would be lost without an error."""
    record(attempt, status="requires_payment_method", last_error_code="card_declined",
           last_decline_code="do_not_honor", last_error_message="Declined.",
           card_brand="mastercard", card_last4="4444", card_country="FR",
           latest_charge="ch_9", amount=5000, currency="eur", confirmation_method="manual")
    in_memory = payment_status_record(
        attempt=attempt, intent=dataclasses.replace(
            INTENT, status="succeeded", latest_charge="ch_10", card_brand=None,
            card_last4=None, card_country=None),  # card details stay once known
        source="pay", actor="test", confirmed=True)
    stored = PaymentAttempt.objects.get(pk=attempt.pk)
    columns = [field.attname for field in PaymentAttempt._meta.concrete_fields]
    assert {name: getattr(stored, name) for name in columns if name != "updated_at"} == \
        {name: getattr(in_memory, name) for name in columns if name != "updated_at"}
    assert (stored.status, stored.latest_charge, stored.card_last4, stored.confirmations) == \
        ("succeeded", "ch_10", "4444", 1)


def test_a_confirm_is_counted_even_when_its_answer_is_ignored(attempt):
    record(attempt, status="succeeded")
    recorded = payment_status_record(attempt=attempt, intent=INTENT, source="pay",
                                     actor="test", confirmed=True)  # stale: already final
    attempt.refresh_from_db()
    assert (recorded.confirmations, attempt.confirmations, attempt.status) == \
        (1, 1, "succeeded")
    assert PaymentEvent.objects.count() == 1


def test_an_answer_waiting_for_the_row_is_not_taken_for_older_than_what_was_written_meanwhile(
        transactional_db):
    """A scan records a stale read (same status, a newer observed time) while /pay's
    record of its confirm waits for the row: the confirm's success must still apply."""
    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    order = Order.objects.create(email="a@example.com", amount=5000, currency="eur")
    attempt = PaymentAttempt.objects.create(
        order=order, number=1, create_payment_method="pm_x", amount=5000, currency="eur",
        confirmation_method="manual", stripe_id="pi_test1", status="requires_confirmation")
    locked, release = threading.Event(), threading.Event()

    def scan_records_while_holding_the_row() -> None:
        with transaction.atomic():
            PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
            locked.set()
            release.wait(5)
            PaymentAttempt.objects.filter(pk=attempt.pk).update(
                status_observed_at=timezone.now())
        connection.close()

    scan = threading.Thread(target=scan_records_while_holding_the_row)
    scan.start()
    assert locked.wait(5)
    threading.Timer(0.3, release.set).start()  # the scan writes after /pay began to wait
    payment_status_record(attempt=attempt, intent=dataclasses.replace(
        INTENT, status="succeeded", latest_charge="ch_1"), source="pay", actor="test")
    scan.join()
    attempt.refresh_from_db()
    assert attempt.status == "succeeded"
    assert Order.objects.get().status == Order.Status.PAID
