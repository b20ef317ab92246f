"""payment_status_record: the one way a status changes, idempotent and order-proof."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

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


# --- the record in one statement (PostgreSQL), and its fallback to the locking read -----

@pytest.fixture
def postgres(attempt):
    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    return attempt


def recorded_with_queries(attempt, **kwargs) -> tuple[PaymentAttempt, list[str]]:
    from django.test.utils import CaptureQueriesContext

    intent = dataclasses.replace(INTENT, **{k: v for k, v in kwargs.items()
                                            if k not in ("source", "confirmed", "observed_at")})
    with CaptureQueriesContext(connection) as queries:
        written = payment_status_record(
            attempt=attempt, intent=intent, source=kwargs.get("source", "pay"), actor="test",
            confirmed=kwargs.get("confirmed", False), observed_at=kwargs.get("observed_at"))
    return written, [query["sql"] for query in queries.captured_queries]


def locking_reads(statements: list[str]) -> int:
    return sum("FOR UPDATE" in statement for statement in statements)


def test_a_current_copy_is_recorded_in_one_statement_without_the_locking_read(postgres):
    written, statements = recorded_with_queries(postgres)
    assert locking_reads(statements) == 0
    # One statement writes it all; after it, only monitoring's receiver of
    # payment_challenged reads (whether the intent has incidents).
    assert statements[0].startswith("WITH")
    assert all(s.startswith("SELECT") and "payments_incident" in s for s in statements[1:])
    stored = PaymentAttempt.objects.get(pk=postgres.pk)
    columns = [field.attname for field in PaymentAttempt._meta.concrete_fields]
    assert {name: getattr(written, name) for name in columns} == \
        {name: getattr(stored, name) for name in columns}
    assert (stored.status, stored.stripe_id, stored.card_last4) == \
        ("requires_action", "pi_test1", "3155")
    assert stored.requires_action_at is not None and stored.status_observed_at is not None
    [event] = PaymentEvent.objects.all()
    assert (event.from_status, event.to_status, event.source, event.actor, event.applied) == \
        ("creating", "requires_action", "pay", "test", True)
    assert event.observed_at == stored.status_observed_at and event.created_at is not None


def test_a_stale_copy_writes_nothing_in_one_statement_and_takes_the_locking_read(postgres):
    stale = PaymentAttempt.objects.get(pk=postgres.pk)
    record(postgres)  # a webhook wrote meanwhile: `stale` no longer is what is stored
    written, statements = recorded_with_queries(stale, status="succeeded",
                                                latest_charge="ch_1")
    assert statements[0].startswith("WITH") and locking_reads(statements) == 1
    assert written.status == "succeeded" and written.card_last4 == "3155"
    assert [(e.from_status, e.to_status) for e in PaymentEvent.objects.order_by("id")] == \
        [("creating", "requires_action"), ("requires_action", "succeeded")]
    assert Order.objects.get().status == Order.Status.PAID


def test_a_repeated_fact_on_a_current_copy_writes_no_ledger_row(postgres):
    first, _ = recorded_with_queries(postgres)
    again, statements = recorded_with_queries(first, source="webhook")
    assert locking_reads(statements) == 0 and statements[0].startswith("WITH")
    assert again.status_observed_at >= first.status_observed_at  # the newer reading
    assert PaymentEvent.objects.count() == 1


def test_a_finished_attempt_never_moves_back_whichever_path(postgres):
    paid, _ = recorded_with_queries(postgres, status="succeeded", latest_charge="ch_1")
    late, statements = recorded_with_queries(paid, status="requires_action", source="webhook")
    assert locking_reads(statements) == 1  # an ignored fact is decided under the lock
    counted, statements = recorded_with_queries(late, status="requires_action",
                                                confirmed=True)
    stored = PaymentAttempt.objects.get(pk=postgres.pk)
    assert (stored.status, stored.latest_charge, stored.confirmations) == \
        ("succeeded", "ch_1", 1)
    assert counted.confirmations == 1 and PaymentEvent.objects.count() == 1


def test_the_statement_marks_the_order_paid_only_for_its_amount(postgres, caplog):
    written, statements = recorded_with_queries(postgres, status="succeeded",
                                                latest_charge="ch_1")
    assert locking_reads(statements) == 0
    order = Order.objects.get()
    assert order.status == Order.Status.PAID and order.paid_at is not None
    assert order.receipt_sent_at is None  # the receipt due: the outbox row
    other = Order.objects.create(email="b@example.com", amount=5000, currency="eur")
    wrong = PaymentAttempt.objects.create(order=other, number=1, create_payment_method="pm_x",
                                          amount=5000, currency="eur",
                                          confirmation_method="manual")
    recorded_with_queries(wrong, id="pi_wrong", status="succeeded", amount=1)
    other.refresh_from_db()
    assert other.status == Order.Status.OPEN and "not the amount of order" in caplog.text


def test_the_statement_keeps_the_challenged_totals_equal_to_a_recount(postgres):
    from payments.checkout.totals import challenged_recount
    from payments.models import DailyTotal
    from payments.monitoring.totals import dashboard_totals_rebuild

    def kept():
        return {(t.day, t.currency): (t.count, t.amount)
                for t in DailyTotal.objects.filter(measure="challenged") if t.count or t.amount}

    def recount():
        return {(key[1], key[2]): (count, amount)
                for key, count, amount in challenged_recount().changed()}

    today = timezone.localdate()
    asked, statements = recorded_with_queries(postgres)
    assert locking_reads(statements) == 0
    assert kept() == recount() == {(today, "eur"): (1, 5000)}
    recorded_with_queries(asked, status="requires_payment_method",
                          last_error_code="payment_intent_authentication_failure")
    # Challenged three days ago as far as the totals know, then asked again now through
    # the statement: the old day loses it, today gains it.
    PaymentAttempt.objects.filter(pk=postgres.pk).update(
        requires_action_at=timezone.now() - timedelta(days=3))
    dashboard_totals_rebuild()
    assert kept() == recount() == {(today - timedelta(days=3), "eur"): (1, 5000)}
    moved = PaymentAttempt.objects.get(pk=postgres.pk)
    again, statements = recorded_with_queries(moved)
    assert locking_reads(statements) == 0 and again.requires_action_at.date() >= today
    assert kept() == recount() == {(today, "eur"): (1, 5000)}


@pytest.mark.parametrize("path", ["statement", "locking read"])
def test_the_signals_fire_as_the_locking_path_sends_them(postgres, path, monkeypatch):
    from payments.checkout import status
    from payments.checkout.signals import payment_challenged, payment_settled

    if path == "locking read":
        monkeypatch.setattr(status, "_status_write_guarded", lambda **kwargs: None)
    heard: list[tuple] = []

    def settled(sender, attempt, previous, source, confirmed, **kwargs):
        assert connection.in_atomic_block  # inside the record's transaction
        heard.append(("settled", attempt.status, previous, source, confirmed))

    def challenged(sender, attempt, before, **kwargs):
        assert connection.in_atomic_block
        heard.append(("challenged", attempt.requires_action_at is not None, before))

    payment_settled.connect(settled, weak=False)
    payment_challenged.connect(challenged, weak=False)
    try:
        current, _ = recorded_with_queries(postgres)  # to the bank
        current, _ = recorded_with_queries(current, status="requires_confirmation")
        current, _ = recorded_with_queries(current, status="succeeded", confirmed=True)
        current, _ = recorded_with_queries(current, status="succeeded", confirmed=True)
    finally:
        payment_settled.disconnect(settled)
        payment_challenged.disconnect(challenged)
    assert heard == [("challenged", True, None),
                     ("settled", "succeeded", "requires_confirmation", "pay", True),
                     ("settled", "succeeded", "succeeded", "pay", True)]
    assert [(e.from_status, e.to_status) for e in PaymentEvent.objects.order_by("id")] == \
        [("creating", "requires_action"), ("requires_action", "requires_confirmation"),
         ("requires_confirmation", "succeeded")]
