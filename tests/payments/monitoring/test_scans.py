"""The monitoring scans against the sandbox over HTTP: incremental events, the stale
sweep with auto-finalize, lost creates, intents from outside the checkout, backfill, and
Stripe failing half way. The sandbox clock makes Stripe's hour pass."""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import (
    Incident,
    Order,
    PaymentAttempt,
    PaymentEvent,
    ScanCursor,
    ScanRun,
    WebhookEvent,
)
from payments.monitoring import incidents as incidents_module
from payments.monitoring import observe, scans
from payments.monitoring.leases import lease_hold
from payments.monitoring.totals import dashboard_totals_rebuild
from payments.stripe import gateway
from payments.stripe.facts import AUTHENTICATION_FAILURES
from tests.payments.conftest import server_calls
from tests.payments.monitoring.test_totals import assert_totals_equal_a_recount

Kind, IncidentStatus = Incident.Kind, Incident.Status


@pytest.fixture(autouse=True)
def fast_scans(site_on_sandbox, settings, monkeypatch):
    settings.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    settings.PAYMENTS_AUTO_FINALIZE = True
    monkeypatch.setattr(scans, "RETRY_DELAYS", (0.0, 0.0))


def intent_of(response) -> str:
    return response.json()["clientSecret"].split("_secret_")[0]


def backdate(attempt: PaymentAttempt, **fields_seconds: int) -> None:
    """Make our own clock's thresholds pass (Stripe's side moves with the sandbox clock).
    A change around the writers: the daily totals are counted afresh, as after a bulk
    load (an hour back from 00:30 is yesterday: the totals disagreed after midnight)."""
    PaymentAttempt.objects.filter(pk=attempt.pk).update(**{
        field: timezone.now() - timedelta(seconds=seconds)
        for field, seconds in fields_seconds.items()})
    dashboard_totals_rebuild()


def authenticated_and_left(shopper, sandbox) -> str:
    """A shopper who passed the bank's challenge an hour ago and closed the tab before the
    second confirm: the intent waits in requires_confirmation. Its id."""
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "complete")
    backdate(shopper.order.attempts.get(), requires_action_at=3600)
    return intent_id


def sweeps_confirm_fails(sandbox, intent_id: str, **fault) -> None:
    """The next confirm of ``intent_id`` meets ``fault`` (a sandbox fault's fields)."""
    sandbox.add_fault(method="POST", path=f"/v1/payment_intents/{intent_id}/confirm",
                      count=1, **fault)


def stripe_calls_during(sandbox, work) -> list[dict]:
    before = len(server_calls(sandbox, "/v1/"))
    work()
    return server_calls(sandbox, "/v1/")[before:]


# --- incremental -------------------------------------------------------------------------

def test_an_events_scan_with_nothing_new_makes_one_call(shopper, sandbox):
    shopper.pay(payment_method_id="pm_card_visa")
    first = scans.scan_events()
    assert (first.status, first.stripe_calls) == ("done", 1)  # anchors at the newest event
    calls = stripe_calls_during(sandbox, scans.scan_events)
    assert [c["path"] for c in calls] == ["/v1/events"]
    assert ScanRun.objects.filter(kind="events", status="done").count() == 2


def test_an_events_scan_whose_last_event_stripe_no_longer_keeps_reads_them_all(
        shopper, sandbox, caplog):
    """No scan for 30 days (or keys changed): the last event seen is gone at Stripe. The
    scan reads every event Stripe keeps rather than failing every minute for good."""
    ScanCursor.objects.update_or_create(name="events", defaults={"value": "evt_prunedLongAgo"})
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "fail")
    # The logger's level set here: a test's in-process Celery worker leaves the root at ERROR.
    with caplog.at_level(logging.WARNING, logger="payments.monitoring.scans"):
        run = scans.scan_events()
    assert run.status == "done", run.errors
    assert Incident.objects.filter(stripe_id=intent_id,
                                   kind="authentication_failed").exists()
    assert ScanCursor.objects.get(name="events").value.startswith("evt_")
    assert ScanCursor.objects.get(name="events").value != "evt_prunedLongAgo"
    assert any("no longer at Stripe" in r.getMessage() for r in caplog.records)
    assert scans.scan_events().status == "done"


def test_an_events_scan_cut_short_after_its_cursor_went_missing_goes_on_from_the_newest(
        shopper, sandbox, monkeypatch):
    """The 30 days of events are read once: a run cut short (its time limit) leaves the
    cursor on the newest event, so the next minute does not start them over for ever."""
    ScanCursor.objects.update_or_create(name="events", defaults={"value": "evt_prunedLongAgo"})
    shopper.pay(payment_method_id="pm_card_visa")
    newest = gateway.event_newest(types=scans.INTENT_EVENTS)

    def cut_short(*args, **kwargs):
        raise scans.ScanAborted("the task's time limit")

    monkeypatch.setattr(scans, "_events_all", cut_short)
    assert scans.scan_events().status == "failed"
    assert ScanCursor.objects.get(name="events").value == newest.id
    monkeypatch.undo()
    assert scans.scan_events().status == "done"


def test_a_failed_scan_is_said_in_the_log(sandbox, db, caplog, monkeypatch):
    monkeypatch.setattr(scans, "RETRY_DELAYS", ())
    ScanCursor.objects.update_or_create(name="events", defaults={"value": "evt_x"})
    sandbox.add_fault(path="/v1/events", status=500, count=5)
    with caplog.at_level(logging.WARNING, logger="payments.monitoring.scans"):
        assert scans.scan_events().status == "failed"
    assert any(r.levelname == "WARNING" and r.getMessage().startswith("The events scan failed")
               for r in caplog.records)


def test_an_events_scan_skips_what_webhooks_brought_and_records_what_they_missed(
        product, sandbox):
    """While webhooks work, the scan finds every event already processed (one query a
    page) and leaves it; an event no webhook brought is recorded."""
    from payments.models import WebhookEvent
    from tests.payments.conftest import shopper_with_order

    scans.scan_events()  # anchor
    delivered, missed = shopper_with_order(product), shopper_with_order(product)
    ids = [intent_of(s.pay(payment_method_id="pm_card_authenticationRequired"))
           for s in (delivered, missed)]
    sandbox.advance_clock(5)  # both shoppers fail the bank's check a few seconds later
    for intent_id in ids:
        sandbox.authenticate(intent_id, "fail")
    failed = {e.intent.id: e for e in gateway.event_page_newest_first(
        types=["payment_intent.payment_failed"]).items}
    # A webhook brought the first failure (and the worker processed it... as if: only the
    # row says so, so the attempt still shows what the scan would change).
    WebhookEvent.objects.create(id=failed[ids[0]].id, type="payment_intent.payment_failed",
                                object_id=ids[0], created=timezone.now(), livemode=False,
                                body="{}", processed_at=timezone.now())
    run = scans.scan_events()
    assert run.status == "done"
    statuses = dict(PaymentAttempt.objects.filter(stripe_id__in=ids)
                    .values_list("stripe_id", "status"))
    assert statuses == {ids[0]: "requires_action", ids[1]: "requires_payment_method"}


def test_a_failed_challenge_then_another_card_shows_in_the_ledger_and_recovers(
        shopper, sandbox):
    """The browser reports a failed challenge to nobody (as in Stripe's guide); the
    events scan puts it in the ledger, and the incident ends recovered."""
    scans.scan_events()  # anchor
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "fail")  # the bank modal's Fail button
    run = scans.scan_events()
    attempt = shopper.order.attempts.get()
    incident = Incident.objects.get(stripe_id=intent_id)
    assert (incident.kind, incident.status) == (Kind.AUTHENTICATION_FAILED, "open")
    assert (incident.order, incident.customer_email, incident.amount) == \
        (shopper.order, "shopper@example.com", 5198)
    assert attempt.events.filter(error_code="payment_intent_authentication_failure").exists()
    assert run.incidents_opened == 1
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"] is True
    scans.scan_events()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RECOVERED and incident.resolved_at
    statuses = [(e.to_status, e.error_code, e.applied) for e in attempt.events.all()]
    assert ("requires_payment_method", "payment_intent_authentication_failure", False) in \
        statuses or ("requires_payment_method", "payment_intent_authentication_failure",
                     True) in statuses
    assert statuses[-1][0] == "succeeded"


def test_legacy_mode_failures_are_requires_action_not_handled_incidents(
        shopper, sandbox, settings):
    scans.scan_events()
    settings.PAYMENTS_HANDLE_ACTIONS = False
    assert shopper.pay(payment_method_id="pm_card_authenticationRequired").status_code == 402
    scans.scan_events()
    incident = Incident.objects.get()
    assert (incident.kind, incident.decline_code, incident.status) == \
        (Kind.REQUIRES_ACTION_NOT_HANDLED, "authentication_not_handled", "open")
    scans.scan_events()
    assert Incident.objects.count() == 1  # the same events again open nothing


def test_events_in_any_order_and_twice_give_the_same_incidents(shopper, sandbox,
                                                                stripe_client):
    scans.scan_events()
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "fail")
    shopper.pay(payment_method_id="pm_card_visa")
    events = [gateway.event_data_from_payload(e.to_dict()) for e in
              stripe_client.v1.events.list(params={"type": "payment_intent.*"}).data]
    from payments.monitoring import observe

    for batch in (events, list(reversed(events)), events):
        for event in batch:
            observe.intent_event_record(event=event, source="webhook")
    attempt = shopper.order.attempts.get()
    assert attempt.status == "succeeded"
    assert list(Incident.objects.values_list("kind", "status")) == \
        [(Kind.AUTHENTICATION_FAILED, IncidentStatus.RECOVERED)]
    failures = attempt.events.filter(error_code="payment_intent_authentication_failure")
    assert failures.count() == 1


# --- stale sweep -------------------------------------------------------------------------

def test_an_authenticated_intent_never_confirmed_is_auto_finalized(shopper, sandbox):
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "complete")  # then the tab closes: no second /pay
    attempt = shopper.order.attempts.get()
    backdate(attempt, requires_action_at=3600)
    run = scans.scan_stale()
    assert (run.status, run.finalized) == ("done", 1)
    assert shopper.order_now().status == Order.Status.PAID
    incident = Incident.objects.get()
    assert (incident.kind, incident.status) == (Kind.CONFIRMATION_ABANDONED,
                                                IncidentStatus.AUTO_FINALIZED)
    assert attempt.events.filter(to_status="succeeded", source="scan").count() == 1
    page = shopper.client.get(f"/orders/{shopper.order.reference}/").content.decode()
    assert "Paid" in page


@pytest.mark.parametrize("heard_from", ["the next sweep", "a webhook"])
def test_an_auto_finalize_whose_answer_was_lost_is_labelled_auto_finalized(
        shopper, sandbox, heard_from):
    """Stripe carries out the sweep's confirm and its answer is lost: the sweep gives up,
    and the payment is heard of later (a webhook, or the next sweep's read). Ours all the
    same: it ends auto-finalized, not recovered (the chaos run found it labelled so)."""
    intent_id = authenticated_and_left(shopper, sandbox)
    attempt = shopper.order.attempts.get()
    sweeps_confirm_fails(sandbox, intent_id, action="drop", when="after")
    run = scans.scan_stale()
    assert (run.status, run.finalized) == ("done", 0)
    assert shopper.order_now().status == Order.Status.OPEN  # paid at Stripe, unheard of
    assert Incident.objects.get().finalize_sent_at is not None
    if heard_from == "a webhook":
        observe.intent_observe(intent=gateway.payment_intent_retrieve(intent_id=intent_id),
                               source=PaymentEvent.Source.WEBHOOK, actor="webhook:evt_1")
    else:
        backdate(PaymentAttempt.objects.get(pk=attempt.pk), requires_confirmation_at=3600)
        scans.scan_stale()
    assert shopper.order_now().status == Order.Status.PAID
    incident = Incident.objects.get()
    assert (incident.kind, incident.status) == (Kind.CONFIRMATION_ABANDONED,
                                                IncidentStatus.AUTO_FINALIZED)
    assert len([c for c in server_calls(sandbox, f"/v1/payment_intents/{intent_id}/confirm")
                if c["method"] == "POST"]) == 1  # Stripe's one confirm was the sweep's


def test_a_failed_auto_finalize_is_logged_in_ops_words(shopper, sandbox, caplog):
    """It logged the shopper's "We could not reach our payment provider. Nothing was
    charged twice; please try again in a moment." (user test)."""
    intent_id = authenticated_and_left(shopper, sandbox)
    sweeps_confirm_fails(sandbox, intent_id, action="drop", when="before")
    with caplog.at_level("INFO", logger="payments.monitoring.scans"):
        scans.scan_stale()
    assert f"auto-finalize of {intent_id}: no answer from Stripe, or a server error" \
        in caplog.text
    assert "Nothing was charged twice" not in caplog.text


@pytest.mark.parametrize(("dropped", "ends_as"), [
    ("after", IncidentStatus.AUTO_FINALIZED),  # Stripe paid at the sweep's confirm
    ("before", IncidentStatus.RECOVERED)])  # Stripe never saw it: the shopper's paid
def test_a_shoppers_confirm_after_a_sweeps_lost_one_is_labelled_by_who_paid(
        shopper, sandbox, dropped, ends_as):
    """Both send the same idempotency key: after a sweep's confirm that Stripe carried out,
    the shopper's is answered as its replay (Idempotent-Replayed), the sweep's doing; after
    one Stripe never received, the shopper's own confirm pays."""
    intent_id = authenticated_and_left(shopper, sandbox)
    sweeps_confirm_fails(sandbox, intent_id, action="drop", when=dropped)
    assert scans.scan_stale().finalized == 0
    assert Incident.objects.get().finalize_sent_at is not None  # outcome unknown
    assert shopper.pay(payment_intent_id=intent_id).json()["success"] is True
    assert (Incident.objects.get().status, shopper.order_now().status) == (ends_as,
                                                                          Order.Status.PAID)


def test_a_shopper_who_confirms_while_the_sweep_waits_for_the_lock_is_recovered(
        shopper, sandbox, monkeypatch):
    """The sweep read the payment waiting; the shopper's confirm takes the order's lock
    first and pays. The sweep then finds it paid, sends nothing and notes nothing."""
    intent_id = authenticated_and_left(shopper, sandbox)
    finalize = scans.checkout_finalize

    def shopper_first(**kwargs):
        assert shopper.pay(payment_intent_id=intent_id).json()["success"] is True
        return finalize(**kwargs)

    monkeypatch.setattr(scans, "checkout_finalize", shopper_first)
    assert scans.scan_stale().finalized == 0
    incident = Incident.objects.get()
    assert (incident.status, incident.finalize_sent_at) == (IncidentStatus.RECOVERED, None)


def test_an_auto_finalize_stripe_refused_leaves_the_payment_to_the_shopper(shopper, sandbox):
    """Refused outright (429: Stripe did nothing), the sweep's confirm did not pay it: the
    shopper's own confirm afterwards ends the incident recovered."""
    intent_id = authenticated_and_left(shopper, sandbox)
    sweeps_confirm_fails(sandbox, intent_id, action="rate_limit")
    assert scans.scan_stale().finalized == 0
    assert Incident.objects.get().finalize_sent_at is None
    assert shopper.pay(payment_intent_id=intent_id).json()["success"] is True
    incident = Incident.objects.get()
    assert (incident.kind, incident.status) == (Kind.CONFIRMATION_ABANDONED,
                                                IncidentStatus.RECOVERED)


def test_without_auto_finalize_the_hour_runs_out_and_the_sale_is_lost(
        shopper, sandbox, settings):
    settings.PAYMENTS_AUTO_FINALIZE = False
    authenticated_and_left(shopper, sandbox)
    attempt = shopper.order.attempts.get()
    scans.scan_stale()
    assert Incident.objects.get().kind == Kind.CONFIRMATION_ABANDONED
    backdate(PaymentAttempt.objects.get(pk=attempt.pk), requires_confirmation_at=3600)
    sandbox.advance_clock(3700)  # Stripe's hour
    scans.scan_stale()
    kinds = dict(Incident.objects.values_list("kind", "status"))
    assert kinds == {Kind.CONFIRMATION_ABANDONED: IncidentStatus.LOST,
                     Kind.EXPIRED: IncidentStatus.OPEN}
    assert PaymentAttempt.objects.get(pk=attempt.pk).last_error_code == \
        "payment_intent_payment_attempt_expired"
    assert shopper.order_now().status == Order.Status.OPEN


def test_an_intent_left_at_the_bank_opens_action_abandoned_once(shopper, sandbox):
    intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    attempt = shopper.order.attempts.get()
    backdate(attempt, requires_action_at=10)
    scans.scan_stale()
    assert not Incident.objects.exists()  # not past the threshold yet
    backdate(attempt, requires_action_at=3600)
    scans.scan_stale()
    scans.scan_stale()
    incident = Incident.objects.get()
    assert (incident.kind, incident.status, incident.card_last4) == \
        (Kind.ACTION_ABANDONED, "open", "3184")


def test_a_payment_left_at_the_bank_is_read_once_and_found_by_search_when_passed_later(
        shopper, sandbox):
    """No event says when a shopper passes the challenge later. The sweep read each such
    payment again and again, for as long as it stayed there (at first each minute, then
    on a widening schedule, for ever): now it reads it once, and one search a sweep of the
    intents waiting for their confirm finds it once passed."""
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    attempt = shopper.order.attempts.get()
    backdate(attempt, requires_action_at=8 * 86400)

    def reads() -> int:
        calls = stripe_calls_during(sandbox, scans.scan_stale)
        return sum(call["path"] == f"/v1/payment_intents/{intent_id}" for call in calls)

    assert reads() == 1  # found left there: read, whatever its age
    assert Incident.objects.get().kind == Kind.ACTION_ABANDONED
    for _ in range(3):  # never again while it waits, however long since the last read
        backdate(attempt, status_observed_at=7 * 3600)
        assert reads() == 0
    # Passed the challenge a week later and closed the tab: the search finds it, one read
    # records it, and the sweep confirms it (auto-finalize) once past the threshold.
    sandbox.authenticate(intent_id, "complete")
    assert reads() == 1
    attempt.refresh_from_db()
    assert attempt.status == "requires_confirmation"
    backdate(attempt, requires_confirmation_at=3600)
    scans.scan_stale()
    assert shopper.order_now().status == "paid"


def test_the_sweeps_calls_do_not_grow_with_the_payments_left_at_the_bank(product, sandbox):
    from tests.payments.conftest import shopper_with_order

    shoppers = [shopper_with_order(product) for _ in range(4)]
    for shopper in shoppers:
        shopper.pay(payment_method_id="pm_card_authenticationRequired")
        backdate(shopper.order.attempts.get(), requires_action_at=3 * 3600)
    assert len(stripe_calls_during(sandbox, scans.scan_stale)) == 4 + 2  # each read once
    assert Incident.objects.count() == 4
    quiet = [len(stripe_calls_during(sandbox, scans.scan_stale)) for _ in range(3)]
    assert quiet == [2, 2, 2]  # the two searches, whatever is left waiting


def test_an_intent_stripe_no_longer_knows_is_closed_and_the_sweep_goes_on(product, sandbox):
    from tests.payments.conftest import shopper_with_order

    gone, waiting = shopper_with_order(product), shopper_with_order(product)
    for shopper in (gone, waiting):
        shopper.pay(payment_method_id="pm_card_authenticationRequired")
        backdate(shopper.order.attempts.get(), requires_action_at=3600)
    PaymentAttempt.objects.filter(order=gone.order).update(stripe_id="pi_forgottenByStripe")
    run = scans.scan_stale()
    assert run.status == "done", run.errors
    assert gone.order.attempts.get().status == PaymentAttempt.Status.MISSING
    assert Incident.objects.get().order_id == waiting.order.pk  # the other still seen


def test_a_lost_create_is_found_by_its_metadata_and_the_order_paid(shopper, sandbox):
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="drop",
                      when="after")
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 503
    attempt = shopper.order.attempts.get()
    backdate(attempt, create_requested_at=600)
    scans.scan_stale()
    attempt.refresh_from_db()
    assert attempt.status == "succeeded" and attempt.stripe_id.startswith("pi_")
    assert shopper.order_now().status == Order.Status.PAID


def test_a_lost_create_is_searched_for_two_hours_not_for_ever(shopper, sandbox):
    """Stripe never got the create (the connection failed first) and the shopper left:
    nothing will ever be found. Each sweep searched it again, for ever."""
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="drop")
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 503
    attempt = shopper.order.attempts.get()
    backdate(attempt, create_requested_at=600)
    searches = [c for c in stripe_calls_during(sandbox, scans.scan_stale)
                if c["path"] == "/v1/payment_intents/search"
                and "attempt" in c["params"].get("query", "")]
    assert len(searches) == 1
    backdate(attempt, create_requested_at=3 * 3600)
    assert not [c for c in stripe_calls_during(sandbox, scans.scan_stale)
                if "attempt" in c["params"].get("query", "")]
    attempt.refresh_from_db()
    assert attempt.status == "creating"  # its key still replays if the shopper comes back


def test_a_lost_create_is_searched_at_growing_ages_not_every_sweep(shopper, sandbox):
    """Each sweep searched each lost create: 115 searches an order over its two hours, and
    after an outage thousands a minute against Stripe's search limit. Now at 5, 10, 20, 40
    and 80 minutes old, each once."""
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="drop")
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 503
    attempt = shopper.order.attempts.get()

    def searched_by_a_sweep(age_minutes: float, last_sweep_minutes_ago: float) -> int:
        backdate(attempt, create_requested_at=age_minutes * 60)
        ScanRun.objects.filter(kind="stale").update(
            started_at=timezone.now() - timedelta(minutes=last_sweep_minutes_ago))
        return len([c for c in stripe_calls_during(sandbox, scans.scan_stale)
                    if "attempt" in c["params"].get("query", "")])

    assert searched_by_a_sweep(6, 0) == 1  # the first sweep ever: everything in its window
    assert searched_by_a_sweep(6.5, 1) == 0  # the 5-minute search was the last one's
    assert searched_by_a_sweep(10.5, 1) == 1  # 10 minutes passed since the last sweep
    assert searched_by_a_sweep(11, 1) == 0
    assert searched_by_a_sweep(45, 10) == 1  # the 40th minute passed in a 10-minute gap
    assert searched_by_a_sweep(45, 60) == 1  # one search for several ages passed (beat off)
    assert searched_by_a_sweep(100, 1) == 0


def spent_create(shopper, sandbox, when: str, monkeypatch) -> PaymentAttempt:
    """A create Stripe answered with a 500 it keeps under the key (``when``: made the
    intent first, ``stored_after``, or not, ``stored``)."""
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, status=500,
                      when=when)
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 503
    attempt = shopper.order.attempts.get()
    assert attempt.create_key_spent_at is not None
    scans.scan_stale()  # too soon to close: a 500's outcome is indeterminate for a moment
    attempt.refresh_from_db()
    assert attempt.status in ("creating", "succeeded")  # bound by its events, or not yet
    # Five minutes on (not by backdating: Stripe's clock would not follow, and the
    # listing's window is read around the attempt's own times).
    monkeypatch.setattr(scans, "CREATE_LOST_AFTER", timedelta(0))
    return attempt


def test_a_create_answered_with_a_kept_500_that_made_nothing_is_closed_for_a_new_one(
        shopper, sandbox, stripe_client, monkeypatch):
    attempt = spent_create(shopper, sandbox, "stored", monkeypatch)
    calls = stripe_calls_during(sandbox, scans.scan_stale)
    # One listing page; no search by its metadata (a search may lag an hour then).
    assert [c["path"] for c in calls if c["path"] == "/v1/payment_intents"] == \
        ["/v1/payment_intents"]
    assert not [c for c in calls if "attempt" in c["params"].get("query", "")]
    attempt.refresh_from_db()
    assert attempt.status == "missing" and attempt.stripe_id is None
    assert "server error" in attempt.last_error_message
    paid = shopper.pay(payment_method_id="pm_card_visa")
    assert paid.json()["success"] is True
    assert [a.status for a in shopper.order.attempts.order_by("number")] == \
        ["missing", "succeeded"]
    assert len(stripe_client.v1.payment_intents.list().data) == 1


def test_a_create_answered_with_a_kept_500_that_charged_is_found_and_the_order_paid(
        shopper, sandbox, stripe_client, monkeypatch):
    attempt = spent_create(shopper, sandbox, "stored_after", monkeypatch)
    scans.scan_stale()
    attempt.refresh_from_db()
    assert attempt.status == "succeeded" and attempt.stripe_id.startswith("pi_")
    assert shopper.order_now().status == Order.Status.PAID
    assert shopper.pay(payment_method_id="pm_card_mastercard").json()["success"] is True
    assert len(stripe_client.v1.payment_intents.list().data) == 1


def test_intents_from_outside_the_checkout_get_incidents(sandbox, db):
    sandbox.seed(count=3, kind="requires_action", age_seconds=7200)
    sandbox.seed(count=2, kind="requires_action", age_seconds=60)  # not stale yet
    sandbox.seed(count=2, kind="succeeded", age_seconds=7200)
    scans.scan_stale()
    scans.scan_stale()
    incidents = Incident.objects.all()
    assert incidents.count() == 3
    assert {(i.kind, i.status, i.attempt_id) for i in incidents} == \
        {(Kind.ACTION_ABANDONED, "open", None)}


def test_outside_intents_left_waiting_are_searched_once_then_each_hour_not_each_sweep(
        sandbox, db, settings):
    """Before, every sweep searched every outside intent ever left at the bank and rewrote
    its incident: thousands of rows and a minute's Stripe calls, each minute."""
    sandbox.seed(count=3, kind="requires_action", age_seconds=7200)
    sandbox.seed(count=1, kind="requires_action", age_seconds=120)  # not stale yet
    lost_window = settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS

    def searches() -> list[str]:
        return [c["params"]["query"] for c in stripe_calls_during(sandbox, scans.scan_stale)
                if c["path"] == "/v1/payment_intents/search"]

    def since(queries: list[str]) -> int:
        [at_bank] = [q for q in queries if "requires_action" in q]
        return int(re.search(r"created>=(\d+)", at_bank).group(1))

    first = searches()  # the whole window a payment can be left there before it is lost
    assert 'status:"requires_confirmation"' in first  # and those waiting for a confirm
    assert time.time() - since(first) > lost_window
    assert Incident.objects.count() == 3
    seen = dict(Incident.objects.values_list("stripe_id", "last_seen_at"))

    again = searches()  # only what became stale since: nothing new, nothing rewritten
    assert len(again) == 2 and time.time() - since(again) < 7200
    assert dict(Incident.objects.values_list("stripe_id", "last_seen_at")) == seen

    settings.PAYMENTS_ACTION_ABANDONED_AFTER_SECONDS = 60  # the young one is stale now
    searches()
    assert Incident.objects.count() == 4

    cursor = ScanCursor.objects.get(name="stale-outside")  # an hour on: all of them again
    state = json.loads(cursor.value)
    state["full_at"] -= scans.OUTSIDE_FULL_SEARCH_EVERY.total_seconds()
    ScanCursor.objects.filter(pk=cursor.pk).update(value=json.dumps(state))
    assert time.time() - since(searches()) > lost_window
    assert Incident.objects.count() == 4
    assert all(Incident.objects.get(stripe_id=i).last_seen_at == at for i, at in seen.items())


def test_an_hourly_search_cut_short_waits_its_hour_and_misses_nothing_new(sandbox, db,
                                                                         monkeypatch):
    """Stripe failing at the whole search: before, every sweep started it again (a
    minute's calls each minute while Stripe or the budget was short)."""
    # The fault below for this search alone (the one for payments awaiting their confirm
    # comes first in a sweep).
    monkeypatch.setattr(scans, "_awaiting_confirmation", lambda scan, *befores: None)
    sandbox.seed(count=3, kind="requires_action", age_seconds=7200)
    scans.scan_stale()
    cursor = ScanCursor.objects.get(name="stale-outside")
    state = json.loads(cursor.value)
    state["full_at"] -= scans.OUTSIDE_FULL_SEARCH_EVERY.total_seconds()  # an hour on
    ScanCursor.objects.filter(pk=cursor.pk).update(value=json.dumps(state))
    sandbox.add_fault(method="GET", path="/v1/payment_intents/search", count=10,
                      action="status", status=500)
    assert scans.scan_stale().status == "failed"
    sandbox.clear_faults()
    sandbox.seed(count=1, kind="requires_action", age_seconds=1900)  # stale since
    queries = [c["params"]["query"] for c in stripe_calls_during(sandbox, scans.scan_stale)
               if c["path"] == "/v1/payment_intents/search" and "requires_action" in c[
                   "params"]["query"]]
    [at_bank] = queries
    assert time.time() - int(re.search(r"created>=(\d+)", at_bank).group(1)) < 7200
    assert Incident.objects.count() == 4


def test_an_outside_intent_left_waiting_past_its_time_ends_lost_without_a_call(
        sandbox, db, settings):
    """Unchanged, it is skipped by every search (no event comes while it waits): it stayed
    open, money at risk for good. Now the sweep ends it from what we hold."""
    sandbox.seed(count=2, kind="requires_action", age_seconds=7200)
    scans.scan_stale()
    assert set(Incident.objects.values_list("status", flat=True)) == {IncidentStatus.OPEN}
    settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS = 3600  # made two hours ago: now lost
    calls = stripe_calls_during(sandbox, scans.scan_stale)
    assert set(Incident.objects.values_list("status", flat=True)) == {IncidentStatus.LOST}
    assert all(c["path"] == "/v1/payment_intents/search" for c in calls)
    assert_totals_equal_a_recount()  # the dashboard's lost money moved with them


# --- backfill and faults -----------------------------------------------------------------

def test_a_backfill_interrupted_by_stripe_resumes_without_duplicates(sandbox, db,
                                                                    monkeypatch):
    monkeypatch.setattr(gateway, "PAGE_SIZE", 50)
    sandbox.seed(batches=[
        {"count": 120, "kind": "succeeded", "age_seconds": 86400, "spread_seconds": 3600},
        {"count": 40, "kind": "authentication_not_handled", "age_seconds": 86400,
         "spread_seconds": 3600},
        {"count": 40, "kind": "requires_action", "age_seconds": 86400,
         "spread_seconds": 3600}])
    broken = []

    def break_after_first_page(done: int, total: int | None, *_calls: int) -> None:
        if done >= 50 and not broken:
            broken.append(True)
            sandbox.add_fault(method="GET", path="/v1/payment_intents", count=3,
                              action="status", status=500)

    first = scans.scan_backfill(days=2, progress=break_after_first_page)
    assert first.status == "failed"
    # Ops' words, not the shopper's "Nothing was charged twice; please try again".
    assert first.errors == "Stripe kept failing: no answer from Stripe, or a server error"
    assert 50 <= first.intents_seen < 200
    calls = stripe_calls_during(sandbox, lambda: scans.scan_backfill(days=2))
    assert "starting_after" in calls[0]["params"]  # resumed, not restarted
    second = ScanRun.objects.filter(kind="backfill").latest("started_at")
    assert second.status == "done"
    assert first.intents_seen - 50 + second.intents_seen <= 200
    kinds = Incident.objects.values_list("kind", flat=True)
    assert sorted(set(kinds)) == [Kind.ACTION_ABANDONED, Kind.REQUIRES_ACTION_NOT_HANDLED]
    assert len(kinds) == 80


def test_pages_of_known_and_new_intents_write_each_incident_once(shopper, sandbox,
                                                                 monkeypatch):
    """Intents from outside the checkout are written a page at a time, ours one by one;
    on pages that mix incidents already held with new ones, each (intent, kind) is written
    once, only the new ones count as opened, and the daily totals follow."""
    from tests.payments.monitoring.test_totals import assert_totals_equal_a_recount

    monkeypatch.setattr(gateway, "PAGE_SIZE", 20)
    assert shopper.pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds"
                       ).status_code == 402  # ours
    spread = {"age_seconds": 7200, "spread_seconds": 3000}
    sandbox.seed(batches=[{"count": 20, "kind": "card_declined", **spread},
                          {"count": 10, "kind": "requires_action", **spread},
                          {"count": 15, "kind": "succeeded", **spread}])
    first = scans.scan_backfill(days=1)
    assert (first.status, first.intents_seen) == ("done", 46)
    assert Incident.objects.count() == 31
    sandbox.seed(batches=[{"count": 5, "kind": "authentication_failed", **spread}])
    again = scans.scan_backfill(days=1)
    assert (again.status, again.intents_seen, again.incidents_opened) == ("done", 51, 5)
    rows = list(Incident.objects.values_list("stripe_id", "kind"))
    assert len(rows) == len(set(rows)) == 36
    assert Incident.objects.filter(attempt__isnull=False).count() == 1  # ours, its attempt
    assert sorted(set(Incident.objects.values_list("kind", flat=True))) == sorted(
        [Kind.CARD_DECLINED, Kind.ACTION_ABANDONED, Kind.AUTHENTICATION_FAILED])
    assert_totals_equal_a_recount()


def test_a_backfill_leaves_incidents_that_ended_as_they_are_while_nothing_changes(
        sandbox, db, settings):
    """Payments left at the bank long ago are lost at once; the next backfill, which finds
    them in the same state, writes nothing about them."""
    settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS = 3600
    sandbox.seed(count=4, kind="requires_action", age_seconds=7200)
    first = scans.scan_backfill(days=1)
    assert first.incidents_opened == 4
    seen = dict(Incident.objects.values_list("pk", "last_seen_at"))
    assert set(Incident.objects.values_list("status", flat=True)) == {IncidentStatus.LOST}
    again = scans.scan_backfill(days=1)
    assert (again.status, again.intents_seen, again.incidents_opened,
            again.incidents_resolved) == ("done", 4, 0, 0)
    assert dict(Incident.objects.values_list("pk", "last_seen_at")) == seen


def test_a_429_or_500_mid_scan_backs_off_and_the_scan_completes(sandbox, db, monkeypatch):
    monkeypatch.setattr(gateway, "PAGE_SIZE", 20)
    sandbox.seed(count=50, kind="authentication_not_handled", age_seconds=3600)
    sandbox.add_fault(method="GET", path="/v1/payment_intents", count=1, action="rate_limit")
    run = scans.scan_backfill(days=1)
    assert run.status == "done" and run.incidents_opened == 50
    assert run.stripe_calls == 4  # 3 pages + the retried one
    sandbox.add_fault(method="GET", path="/v1/payment_intents", count=1, action="drop")
    again = scans.scan_backfill(days=1)
    assert again.status == "done" and again.incidents_opened == 0
    assert Incident.objects.count() == 50


def test_a_scan_already_running_elsewhere_is_skipped(sandbox, db):
    with lease_hold(name="scan:events", ttl=timedelta(minutes=1)) as lease:
        assert lease is not None
        run = scans.scan_events()
    assert run.status == ScanRun.Status.SKIPPED and run.stripe_calls == 0
    assert server_calls(sandbox, "/v1/") == []
    assert scans.scan_events().status == "done"  # released


def test_an_expired_lease_of_a_killed_worker_is_taken_over(sandbox, db):
    from payments.models import ScanLock

    ScanLock.objects.create(name="scan:stale", holder="dead-worker",
                            expires_at=timezone.now() - timedelta(seconds=1))
    assert scans.scan_stale().status == "done"


def test_ledger_rows_of_a_scan_name_it(shopper, sandbox):
    authenticated_and_left(shopper, sandbox)
    run = scans.scan_stale()
    actors = set(PaymentEvent.objects.filter(source="scan").values_list("actor", flat=True))
    assert actors == {f"scan:{run.pk}"}


# --- issue 15: abandoned payments end lost; card declines are part of the mix ----------

def test_a_payment_left_at_the_bank_past_the_setting_is_lost_and_recovered_if_paid(
        shopper, sandbox):
    """"Revenue lost" used to never move for a payment left at the bank: the sweep saw it
    every minute and left its incident open for ever."""
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    attempt = shopper.order.attempts.get()
    backdate(attempt, requires_action_at=3600)
    scans.scan_stale()
    assert Incident.objects.get().status == IncidentStatus.OPEN  # an hour: still open
    # The default: 24 hours, from what we hold (no read).
    backdate(attempt, requires_action_at=25 * 3600)
    scans.scan_stale()
    incident = Incident.objects.get()
    assert (incident.kind, incident.status) == (Kind.ACTION_ABANDONED, IncidentStatus.LOST)
    assert incident.resolved_at is not None
    # The shopper finishes after all (a recovery link, say): not lost after all.
    sandbox.authenticate(intent_id, "complete")
    assert shopper.pay(payment_intent_id=intent_id).json()["success"] is True
    assert Incident.objects.get().status == IncidentStatus.RECOVERED


def test_an_authenticated_payment_is_lost_when_stripes_hour_passes(shopper, sandbox,
                                                                   settings):
    settings.PAYMENTS_AUTO_FINALIZE = False  # ops' to do, and nobody did
    authenticated_and_left(shopper, sandbox)
    attempt = shopper.order.attempts.get()
    scans.scan_stale()
    assert Incident.objects.get().status == IncidentStatus.OPEN
    # Past its hour by our clock (PaymentAttempt.expires_at), before Stripe's read says so.
    backdate(PaymentAttempt.objects.get(pk=attempt.pk), requires_confirmation_at=3660)
    scans.scan_stale()
    assert dict(Incident.objects.values_list("kind", "status")) == \
        {Kind.CONFIRMATION_ABANDONED: IncidentStatus.LOST}


def test_a_card_decline_is_an_incident_of_its_own_kind(shopper, sandbox):
    """The failure mix: a decline for insufficient funds is found (here by the backfill;
    a webhook finds it too) as a "Card declined" incident, not as a 3-D Secure one."""
    declined = shopper.pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds")
    assert declined.status_code == 402
    scans.scan_backfill(days=1)
    incident = Incident.objects.get()
    assert (incident.kind, incident.get_kind_display(), incident.status) == \
        ("card_declined", "Card declined", IncidentStatus.OPEN)
    assert (incident.error_code, incident.decline_code) == ("card_declined",
                                                            "insufficient_funds")
    assert incident.kind not in AUTHENTICATION_FAILURES  # not in the rate
    # Another card pays the order: the decline ends recovered, as any incident.
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"] is True
    assert Incident.objects.get().status == IncidentStatus.RECOVERED


def test_a_beat_scan_yields_the_budget_to_shoppers_instead_of_holding_its_worker(
        shopper, sandbox, settings, monkeypatch):
    """While shoppers spend the whole budget, a beat scan waits a few seconds for it and
    then stops (the next run goes on): waiting without end would hold a worker process,
    and the webhook events queued behind it with it."""
    from payments.monitoring import tasks

    intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    backdate(shopper.order.attempts.get(), requires_action_at=3600)
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 10
    settings.STRIPE_BUDGET_SHARE = 1.0
    settings.STRIPE_BUDGET_FOREGROUND_RESERVE = 10  # all of it the shoppers'
    monkeypatch.setattr(tasks, "SCAN_BUDGET_PATIENCE_SECONDS", 0.2)
    before = len(server_calls(sandbox, "/v1/"))

    summary = tasks.scan_stale_task()

    run = ScanRun.objects.get(pk=summary["run"])
    assert run.status == "failed" and "budget was spent on shoppers" in run.errors
    assert len(server_calls(sandbox, "/v1/")) == before  # nothing reached Stripe
    assert not Incident.objects.exists()
    settings.STRIPE_BUDGET_FOREGROUND_RESERVE = 0  # the shoppers are gone: it goes on
    assert tasks.scan_stale_task()["status"] == "done"
    assert Incident.objects.get().kind == Kind.ACTION_ABANDONED


def test_a_backfill_page_costs_the_same_few_queries_however_many_intents_need_work(
        sandbox, db, monkeypatch):
    """Per page: one read of what we hold of its intents; for those outside the checkout
    that need work, the payments' locks with one read that locks and counts their
    incidents, one upsert (one shape of facts here), one read after, the totals; then the cursor. A
    page whose intents are all held as they are: the read and the cursor."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(gateway, "PAGE_SIZE", 20)
    spread = {"age_seconds": 7200, "spread_seconds": 3000}
    sandbox.seed(batches=[{"count": 60, "kind": "card_declined", **spread}])

    def queries_per_page() -> list[int]:
        with CaptureQueriesContext(connection) as queries:
            assert scans.scan_backfill(days=1).status == "done"
        pages, count = [], 0  # a page: from the cursor's read or last save to its next save
        for query in queries.captured_queries:
            sql = query["sql"]
            if "payments_scanlock" in sql or "payments_scanrun" in sql \
                    or "SAVEPOINT" in sql:
                continue  # the lease, the run's counters
            count += 1
            if "payments_scancursor" in sql:
                if sql.startswith("UPDATE"):
                    pages.append(count)
                count = 0
        return pages

    assert queries_per_page() == [6] * 3
    assert Incident.objects.count() == 60
    assert queries_per_page() == [2] * 3


# --- the stale sweep without re-reads: what must still be seen (review) ------------------

def test_passed_later_while_no_sweep_ran_for_an_hour_is_read_when_they_resume(
        shopper, sandbox):
    """The shopper passes the challenge later and leaves; no sweep finishes for an hour
    (the beat down, Stripe or the budget short), so no search saw the payment waiting for
    its confirm, and Stripe fails it after its hour without an event. The first sweep
    after such a gap reads again those sent to the challenge within the last day."""
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    attempt = shopper.order.attempts.get()
    backdate(attempt, requires_action_at=3600)
    scans.scan_stale()
    assert Incident.objects.get().kind == Kind.ACTION_ABANDONED
    sandbox.authenticate(intent_id, "complete")
    sandbox.advance_clock(3700)  # Stripe's hour passes: requires_payment_method
    scans.scan_stale()  # right after the last sweep: no catch-up, nothing read
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == "requires_action"
    ScanRun.objects.filter(kind="stale").update(
        started_at=timezone.now() - scans.STALE_CATCH_UP_AFTER - timedelta(minutes=1))
    scans.scan_stale()
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == "requires_payment_method"


def test_an_event_stored_and_not_processed_is_recorded_by_the_events_scan(
        shopper, sandbox):
    """A stored delivery its worker cannot process (a body it cannot read): the scan
    records it from Stripe's copy; skipped, the failure would never be recorded (and no
    sweep reads the payment again)."""
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    scans.scan_events()  # anchor
    sandbox.authenticate(intent_id, "fail")  # failed at the bank later
    [failed] = [e for e in gateway.event_page_newest_first(
        types=["payment_intent.payment_failed"]).items if e.intent.id == intent_id]
    WebhookEvent.objects.create(
        id=failed.id, type=failed.type, object_id=intent_id, created=timezone.now(),
        livemode=False, body="not json")
    scans.scan_events()  # its cursor passes the event once: recorded now or never
    assert shopper.order.attempts.get().status == "requires_payment_method"


def test_ours_left_at_the_bank_then_failed_there_ends_lost_in_its_time(shopper, sandbox,
                                                                       settings):
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    attempt = shopper.order.attempts.get()
    backdate(attempt, requires_action_at=3600)
    scans.scan_stale()
    sandbox.authenticate(intent_id, "fail")
    scans.scan_backfill(days=1)  # the failure heard of (as a webhook would)
    assert shopper.order.attempts.get().status == "requires_payment_method"
    settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS = 1800
    scans.scan_stale()
    assert Incident.objects.get(kind=Kind.ACTION_ABANDONED).status == IncidentStatus.LOST
    assert_totals_equal_a_recount()


def test_lost_ones_end_although_stripe_fails_the_sweep(sandbox, db, settings):
    sandbox.seed(count=2, kind="requires_action", age_seconds=7200)
    scans.scan_stale()
    settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS = 3600
    sandbox.add_fault(method="GET", path="/v1/payment_intents/search", count=50,
                      action="status", status=500)
    assert scans.scan_stale().status == "failed"
    assert set(Incident.objects.values_list("status", flat=True)) == {IncidentStatus.LOST}


def test_many_end_lost_in_batches_with_the_totals_kept(sandbox, db, settings):
    sandbox.seed(count=7, kind="requires_action", age_seconds=7200)
    sandbox.seed(count=3, kind="requires_confirmation", age_seconds=1900)
    scans.scan_stale()
    assert Incident.objects.filter(status="open").count() == 10
    settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS = 1800
    assert incidents_module.incidents_abandoned_lose(now=timezone.now(), batch=3) == 10
    assert_totals_equal_a_recount()


def test_more_intents_awaiting_their_confirm_than_a_page_are_all_seen(sandbox, db):
    sandbox.seed(count=150, kind="requires_confirmation", age_seconds=1800)
    scans.scan_stale()
    assert Incident.objects.filter(kind=Kind.CONFIRMATION_ABANDONED).count() == 150


def test_a_shopper_who_just_passed_the_challenge_is_left_to_confirm_from_the_page(
        shopper, sandbox):
    """Waiting for its confirm seconds after the challenge: the shopper's page is about to
    send it; the sweep's search finds it, but reads it only once it is left there."""
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "complete")
    calls = stripe_calls_during(sandbox, scans.scan_stale)
    assert not [c for c in calls if c["path"] == f"/v1/payment_intents/{intent_id}"]
    assert shopper.pay(payment_intent_id=intent_id).json()["success"] is True
