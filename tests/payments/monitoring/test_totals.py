"""The dashboard's daily totals (payments.monitoring.totals, payments.checkout.totals)
are kept by the writers: after every change made through them (the status record,
incidents opened, refreshed, lost, ended) the totals equal a recount from the rows, and
the dashboard read from them shows what the recount shows."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from payments.checkout.status import payment_status_record
from payments.models import DailyTotal, Incident, Order, PaymentAttempt
from payments.monitoring import incidents, selectors, totals
from payments.monitoring.totals import (
    FIELDS,
    dashboard_totals_rebuild,
    dashboard_totals_recount,
    dashboard_totals_stored,
    incident_totals_kept,
)
from tests.conftest import need
from tests.payments.checkout.test_status import INTENT

Kind, IncidentStatus = Incident.Kind, Incident.Status


def assert_totals_equal_a_recount() -> None:
    kept, recount = dashboard_totals_stored(), dashboard_totals_recount()
    assert kept.minus(recount).changed() == []


def assert_dashboard_equals_the_recount() -> None:
    now = timezone.now()
    for days in (7, 30, 90):
        since, until = selectors.period_bounds(days=days, now=now)
        for currency in (None, "eur", "usd"):
            kept = selectors.dashboard_summary(since=since, until=until, currency=currency,
                                               now=now)
            counted = selectors.dashboard_summary_recounted(since=since, until=until,
                                                            currency=currency, now=now)
            assert kept == counted, (days, currency)


def attempt_new(name: str, *, currency: str = "eur", amount: int = 5000) -> PaymentAttempt:
    order = Order.objects.create(email=f"{name}@example.com", amount=amount, currency=currency)
    return PaymentAttempt.objects.create(order=order, number=1, create_payment_method="pm_x",
                                         amount=amount, currency=currency,
                                         confirmation_method="manual")


def intent_of(name: str, *, days_ago: float = 0, currency: str = "eur", amount: int = 5000,
              **changes):
    created = int((timezone.now() - timedelta(days=days_ago)).timestamp())
    return dataclasses.replace(INTENT, id=f"pi_{name}", created=created, currency=currency,
                               amount=amount, **changes)


def record(attempt: PaymentAttempt, intent, **changes) -> PaymentAttempt:
    return payment_status_record(attempt=attempt, intent=dataclasses.replace(intent, **changes),
                                 source="webhook", actor="test")


def open_(intent, attempt: PaymentAttempt | None, kind: str) -> None:
    incidents.incident_open(intent=intent, attempt=attempt, kind=kind, source="scan",
                            card_from=attempt)


@pytest.mark.django_db
def test_every_write_keeps_the_totals_equal_to_a_recount(settings):
    settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS = 3600
    # Left at the bank's challenge two days ago, lost, then paid after all: recovered.
    a = attempt_new("a")
    intent_a = intent_of("a", days_ago=2)
    a = record(a, intent_a, status="requires_action")
    assert DailyTotal.objects.filter(measure="challenged").count() == 1
    assert_totals_equal_a_recount()
    open_(dataclasses.replace(intent_a, status="requires_action"), a, Kind.ACTION_ABANDONED)
    assert_totals_equal_a_recount()
    expired = dataclasses.replace(intent_a, status="requires_payment_method",
                                  last_error_code="payment_intent_authentication_failure")
    incidents.incidents_resolve(intent=expired, attempt=a, expired=True)
    assert Incident.objects.get(stripe_id="pi_a").status == IncidentStatus.LOST
    assert_totals_equal_a_recount()
    open_(expired, a, Kind.EXPIRED)  # a second incident: the payment's latest
    open_(expired, a, Kind.EXPIRED)  # the same fact again: a refresh, no change
    assert_totals_equal_a_recount()
    record(a, intent_a, status="succeeded", latest_charge="ch_1")
    assert set(Incident.objects.filter(stripe_id="pi_a").values_list("status", flat=True)) \
        == {IncidentStatus.RECOVERED}
    assert_totals_equal_a_recount()

    # A failed challenge in USD today, then challenged again (requires_action_at moves).
    b = attempt_new("b", currency="usd", amount=1200)
    intent_b = intent_of("b", currency="usd", amount=1200)
    b = record(b, intent_b, status="requires_action")
    failed = dataclasses.replace(intent_b, status="requires_payment_method",
                                 last_error_code="payment_intent_authentication_failure")
    b = record(b, failed)
    open_(failed, b, Kind.AUTHENTICATION_FAILED)
    assert_totals_equal_a_recount()
    # Challenged 40 days ago, as far as the totals know (a change made around the writers
    # is counted afresh), then asked again now: both totals move.
    PaymentAttempt.objects.filter(pk=b.pk).update(requires_action_at=timezone.now()
                                                  - timedelta(days=40))
    dashboard_totals_rebuild()
    b.refresh_from_db()
    record(b, intent_b, status="requires_action")  # asked again: now
    assert_totals_equal_a_recount()
    record(b, intent_b, status="canceled")
    assert_totals_equal_a_recount()

    # Outside this checkout (no attempt): a card decline and a 3-D Secure failure.
    open_(intent_of("c", days_ago=10, status="requires_payment_method",
                    last_error_code="card_declined", last_decline_code="insufficient_funds"),
          None, Kind.CARD_DECLINED)
    open_(intent_of("d", days_ago=80, status="requires_payment_method",
                    last_error_code="authentication_required",
                    last_decline_code="authentication_not_handled", card_country="FR"),
          None, Kind.REQUIRES_ACTION_NOT_HANDLED)
    assert_totals_equal_a_recount()
    assert_dashboard_equals_the_recount()


@pytest.mark.django_db
def test_a_payment_that_failed_the_bank_then_was_declined_counts_as_3ds_every_where():
    """One intent: the bank's check failed, the next card was declined, a third paid. The
    rate counted it failed, but by its latest incident (the decline) it left the
    outcomes, "Recovered" and the kind's row, and "At risk" while it stayed unpaid (a
    card tester: "18 failed" over a kind's row of 17). A 3-D Secure incident is the
    payment's before a card decline, on every page and in the kept totals."""
    e = attempt_new("e")
    intent_e = intent_of("e")
    e = record(e, intent_e, status="requires_action")
    failed = dataclasses.replace(intent_e, status="requires_payment_method",
                                 last_error_code="payment_intent_authentication_failure")
    e = record(e, failed)
    open_(failed, e, Kind.AUTHENTICATION_FAILED)
    declined = dataclasses.replace(intent_e, status="requires_payment_method",
                                   last_error_code="card_declined",
                                   last_decline_code="insufficient_funds")
    e = record(e, declined)
    open_(declined, e, Kind.CARD_DECLINED)
    assert_totals_equal_a_recount()

    now = timezone.now()
    since, until = selectors.period_bounds(days=7, now=now)

    def summary():
        assert_dashboard_equals_the_recount()
        return selectors.dashboard_summary(since=since, until=until, now=now)

    unpaid = summary()
    assert unpaid.authentication.failed == 1
    assert unpaid.open_total.count == 1  # at risk: the 3-D Secure failure, still open
    assert [(g.value, g.count) for g in unpaid.open_by_kind] == [(Kind.AUTHENTICATION_FAILED, 1)]
    kinds = {g.value: g.count for g in unpaid.breakdowns["kind"]}
    assert kinds == {Kind.AUTHENTICATION_FAILED: 1}  # each payment once: not also declined
    # The list behind "Each payment once" shows that incident, and the ops mail's counts.
    assert list(Incident.objects.filter(selectors.incident_latest_of_payment()).values_list(
        "kind", flat=True)) == [Kind.AUTHENTICATION_FAILED]
    assert selectors.incident_open_counts() == {Kind.AUTHENTICATION_FAILED: 1}

    record(e, intent_e, status="succeeded", latest_charge="ch_e")  # a third card paid
    assert_totals_equal_a_recount()
    paid = summary()
    assert paid.outcomes[IncidentStatus.RECOVERED].count == 1
    assert paid.open_total.count == 0
    assert sum(day.recovered for day in paid.daily) == 1

    # A card decline alone is still counted by its decline (no 3-D Secure incident).
    open_(intent_of("f", status="requires_payment_method", last_error_code="card_declined",
                    last_decline_code="generic_decline"), None, Kind.CARD_DECLINED)
    assert_totals_equal_a_recount()
    assert {g.value: g.count for g in summary().breakdowns["kind"]} == {
        Kind.AUTHENTICATION_FAILED: 1, Kind.CARD_DECLINED: 1}


@pytest.mark.django_db
def test_the_rebuild_command_counts_rows_loaded_around_the_writers():
    a = attempt_new("a")
    Incident.objects.create(kind=Kind.AUTHENTICATION_FAILED, stripe_id="pi_bulk", attempt=a,
                            order=a.order, amount=5000, currency="eur",
                            intent_status="requires_payment_method", source="scan")
    with pytest.raises(CommandError, match="differ from a recount"):
        call_command("dashboard_totals_rebuild", "--check")
    call_command("dashboard_totals_rebuild")
    call_command("dashboard_totals_rebuild", "--check")
    assert_totals_equal_a_recount()
    assert_dashboard_equals_the_recount()


@pytest.mark.django_db
def test_a_payment_reached_through_its_order_counts_its_incidents_without_the_order():
    """Paid through another intent, an order ends its earlier intents' incidents; an
    earlier intent also holding an incident with no order (opened before it was bound)
    is counted whole before and after, once."""
    a = attempt_new("a")
    earlier = intent_of("old", days_ago=1, status="requires_payment_method",
                        last_error_code="payment_intent_authentication_failure")
    open_(earlier, a, Kind.AUTHENTICATION_FAILED)
    open_(dataclasses.replace(earlier, last_error_code="card_declined",
                              last_decline_code="insufficient_funds"), None, Kind.CARD_DECLINED)
    assert_totals_equal_a_recount()
    assert incidents.incidents_end(stripe_id="pi_new", order_id=a.order_id,
                                   intent_status="succeeded") == 1
    assert dict(Incident.objects.values_list("kind", "status")) == {
        Kind.AUTHENTICATION_FAILED: IncidentStatus.RECOVERED, Kind.CARD_DECLINED: "open"}
    assert_totals_equal_a_recount()


@pytest.mark.django_db
def test_keeping_the_totals_locks_and_reads_the_payments_once(django_assert_num_queries):
    """Around a change: the payments' locks sent with one read that locks their incidents
    and counts them (one round trip), one read after (nothing changed: nothing to add)."""
    open_(intent_of("a", status="requires_payment_method", last_error_code="card_declined"),
          None, Kind.CARD_DECLINED)
    open_(intent_of("b", status="requires_action"), None, Kind.ACTION_ABANDONED)
    with django_assert_num_queries(2) as queries:
        with incident_totals_kept(stripe_ids=["pi_a", "pi_b", "pi_none"]) as before:
            pass
    if connection.vendor == "postgresql":
        assert queries.captured_queries[0]["sql"].startswith("SELECT pg_advisory_xact_lock")
    # The rows as the ORM reads them, every field converted.
    assert before == list(Incident.objects.order_by("pk").values(*FIELDS))
    assert [(row["stripe_id"], row["kind"]) for row in before] == [
        ("pi_a", Kind.CARD_DECLINED), ("pi_b", Kind.ACTION_ABANDONED)]


def test_two_writers_of_a_payments_first_incidents_take_turns(transactional_db):
    """A scan opens one kind of a payment no incident names yet while a webhook opens
    another: the second waits for the first's commit (the payment's lock, sent with the
    read), then counts the payment with both rows, once."""
    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    declined = intent_of("x", status="requires_payment_method", last_error_code="card_declined",
                         last_decline_code="insufficient_funds")
    holding, release, opened = threading.Event(), threading.Event(), threading.Event()

    def first_writer_holds_the_payment() -> None:
        with incident_totals_kept(stripe_ids=["pi_x"]):
            Incident.objects.create(stripe_id="pi_x", kind=Kind.CARD_DECLINED, amount=5000,
                                    currency="eur", intent_status="requires_payment_method",
                                    source="scan", intent_created_at=timezone.now())
            holding.set()
            release.wait(5)
        connection.close()

    def second_writer() -> None:
        open_(dataclasses.replace(declined, last_error_code="authentication_required",
                                  last_decline_code="authentication_not_handled"),
              None, Kind.REQUIRES_ACTION_NOT_HANDLED)
        opened.set()
        connection.close()

    first = threading.Thread(target=first_writer_holds_the_payment)
    first.start()
    assert holding.wait(5)
    second = threading.Thread(target=second_writer)
    second.start()
    assert not opened.wait(0.5)  # waiting for the payment's lock
    release.set()
    first.join(), second.join()
    assert opened.is_set() and Incident.objects.filter(stripe_id="pi_x").count() == 2
    assert_totals_equal_a_recount()


@pytest.mark.django_db
def test_a_writer_committing_during_a_rebuild_is_not_lost_and_does_not_wait(
        transactional_db, monkeypatch):
    """The rebuild counts, then corrects the kept totals: a shopper reaching the bank's
    challenge between the two was in neither (the recount had not seen it, a replace of
    the totals deleted its delta) until the next rebuild. Read in one snapshot and added
    as a difference, the writer's delta stays; and the writer does not wait for the
    rebuild (a lock over the recount held /pay's status write for as long as it counts)."""
    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    attempt = attempt_new("rb")
    done = threading.Event()

    def shopper_reaches_the_bank() -> None:
        record(attempt, intent_of("rb"), status="requires_action")
        done.set()
        connection.close()

    recount = totals.dashboard_totals_recount
    writer = threading.Thread(target=shopper_reaches_the_bank)

    def recount_while_a_writer_commits():
        counted = recount()
        writer.start()
        assert done.wait(5)  # committed while the rebuild is under way: nothing held it
        return counted

    monkeypatch.setattr(totals, "dashboard_totals_recount", recount_while_a_writer_commits)
    dashboard_totals_rebuild()
    writer.join(5)
    monkeypatch.setattr(totals, "dashboard_totals_recount", recount)
    assert_totals_equal_a_recount()
    assert DailyTotal.objects.filter(measure="challenged", count=1).exists()
