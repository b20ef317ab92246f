"""Webhook events processed by a worker (payments.monitoring.events): in any order, any
number of times, read from Stripe only when an event cannot be placed against what we
hold; events never queued, or whose worker died, are found by the sweep."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import httpx
import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from djstripe.models import WebhookEndpoint

from payments.models import Incident, PaymentAttempt, PaymentEvent, WebhookEvent
from payments.monitoring import events
from payments.stripe.facts import WEBHOOK_EVENT_TYPES
from stripe_sandbox import DEFAULT_SECRET_KEY
from tests.conftest import need
from tests.payments.conftest import server_calls, shopper_with_order
from tests.waiting import wait_until


def intent_of(response) -> str:
    return response.json()["clientSecret"].split("_secret_")[0]


def stored(sandbox, intent_id: str, type_: str) -> WebhookEvent:
    """The sandbox's event about the intent, stored as the intake stores a delivery."""
    listed = httpx.get(f"{sandbox.url}/v1/events", params={"type": type_, "limit": 100},
                       headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}).json()
    [event] = [e for e in listed["data"] if e["data"]["object"]["id"] == intent_id]
    raw = httpx.get(f"{sandbox.url}/v1/events/{event['id']}",
                    headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}).text
    return WebhookEvent.objects.create(
        id=event["id"], type=type_, object_id=intent_id, livemode=False, body=raw,
        created=datetime.fromtimestamp(event["created"], tz=UTC))


def intent_reads(sandbox, intent_id: str) -> list[dict]:
    return [c for c in server_calls(sandbox, f"/v1/payment_intents/{intent_id}")
            if c["method"] == "GET"]


def test_the_same_events_twice_and_in_reverse_order_change_nothing_more(shopper, sandbox):
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "fail")
    shopper.pay(payment_method_id="pm_card_visa")
    failed = stored(sandbox, intent_id, "payment_intent.payment_failed")
    succeeded = stored(sandbox, intent_id, "payment_intent.succeeded")
    for event in (succeeded, failed):
        assert events.webhook_event_process(event_id=event.pk) is True
    for event in (failed, succeeded):  # redelivered: stored once, processed once
        assert events.webhook_event_process(event_id=event.pk) is False
    attempt = PaymentAttempt.objects.get(stripe_id=intent_id)
    assert attempt.status == "succeeded"
    history = attempt.events.filter(applied=False)
    assert [(e.to_status, e.error_code, e.actor) for e in history] == \
        [("requires_payment_method", "payment_intent_authentication_failure", failed.id)]
    assert list(Incident.objects.values_list("kind", "status")) == \
        [("authentication_failed", "recovered")]
    # A late event carries no card; the card that paid afterwards is not the one that failed.
    assert Incident.objects.get().card_last4 != "4242"
    assert intent_reads(sandbox, intent_id) == []  # the attempt was final: nothing to read
    assert WebhookEvent.objects.filter(processed_at__isnull=True).count() == 0


def test_an_event_later_than_what_we_hold_is_recorded_without_a_read(shopper, sandbox):
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.advance_clock(5)  # the shopper spends a few seconds at the bank
    sandbox.authenticate(intent_id, "fail")
    failed = stored(sandbox, intent_id, "payment_intent.payment_failed")
    assert events.webhook_event_process(event_id=failed.pk) is True
    attempt = PaymentAttempt.objects.get(stripe_id=intent_id)
    assert (attempt.status, attempt.last_error_code) == \
        ("requires_payment_method", "payment_intent_authentication_failure")
    row = attempt.events.get(to_status="requires_payment_method")
    assert (row.source, row.actor, row.applied) == ("webhook", failed.id, True)
    assert Incident.objects.get(stripe_id=intent_id).kind == "authentication_failed"
    assert intent_reads(sandbox, intent_id) == []


def test_an_event_of_the_same_second_that_says_otherwise_is_read_from_stripe(shopper,
                                                                              sandbox):
    """Stripe dates events to the second: one made in the second of our last fact may be
    older or newer, so the intent is read fresh (one call) before anything moves."""
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "fail")
    failed = stored(sandbox, intent_id, "payment_intent.payment_failed")
    attempt = PaymentAttempt.objects.get(stripe_id=intent_id)
    # Our fact and the event fall in one second (as a fast test's do).
    PaymentAttempt.objects.filter(pk=attempt.pk).update(
        status_observed_at=failed.created + timedelta(milliseconds=1))
    assert events.webhook_event_process(event_id=failed.pk) is True
    assert len(intent_reads(sandbox, intent_id)) == 1
    attempt.refresh_from_db()
    assert attempt.status == "requires_payment_method"


def test_an_event_whose_read_finds_the_budget_spent_is_put_off_and_the_rest_go_on(
        shopper, sandbox, settings):
    """While shoppers spend the account's budget, a webhook's read does not wait for it
    (it would hold up every event behind it): its event is put off a few seconds, the
    next events are processed, and the read happens once the budget frees."""
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "fail")
    failed = stored(sandbox, intent_id, "payment_intent.payment_failed")
    asked = stored(sandbox, intent_id, "payment_intent.requires_action")
    WebhookEvent.objects.filter(pk=asked.pk).update(
        received_at=failed.received_at + timedelta(seconds=1))  # behind the one put off
    attempt = PaymentAttempt.objects.get(stripe_id=intent_id)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(  # the failure is "unsure"
        status_observed_at=failed.created + timedelta(milliseconds=1))
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 10
    settings.STRIPE_BUDGET_SHARE = 1.0
    settings.STRIPE_BUDGET_FOREGROUND_RESERVE = 10  # all of it the shoppers': none for us

    before = timezone.now()
    assert events.webhook_events_drain() == 1
    after = timezone.now()
    put_off, done = (WebhookEvent.objects.get(pk=pk) for pk in (failed.pk, asked.pk))
    assert done.processed_at is not None
    assert put_off.processed_at is None and put_off.last_error == "put off: budget"
    # Put off by BUDGET_RETRY from the moment its read gave up waiting (within the drain,
    # however slowly a loaded machine ran it), not by a claim's CLAIM_TTL.
    assert before + events.BUDGET_RETRY < put_off.claimed_until <= after + events.BUDGET_RETRY
    assert intent_reads(sandbox, intent_id) == []  # nothing reached Stripe

    settings.STRIPE_BUDGET_FOREGROUND_RESERVE = 0  # the shoppers are gone
    WebhookEvent.objects.filter(pk=failed.pk).update(claimed_until=timezone.now())
    assert events.webhook_events_drain() == 1
    assert len(intent_reads(sandbox, intent_id)) == 1
    assert WebhookEvent.objects.get(pk=failed.pk).last_error == ""
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == "requires_payment_method"


def test_an_event_of_the_same_second_that_agrees_costs_no_read(shopper, sandbox):
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    asked = stored(sandbox, intent_id, "payment_intent.requires_action")
    assert events.webhook_event_process(event_id=asked.pk) is True
    assert intent_reads(sandbox, intent_id) == []
    assert PaymentAttempt.objects.get(stripe_id=intent_id).status == "requires_action"


def test_an_event_for_an_intent_we_do_not_know_is_kept_not_dropped(site_on_sandbox, sandbox,
                                                                    db):
    sandbox.seed(count=1, kind="authentication_not_handled", events=True)
    [intent] = httpx.get(f"{sandbox.url}/v1/payment_intents", headers={
        "Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}).json()["data"]
    event = stored(sandbox, intent["id"], "payment_intent.payment_failed")
    assert events.webhook_event_process(event_id=event.pk) is True
    incident = Incident.objects.get()
    assert (incident.kind, incident.attempt, incident.order, incident.status) == \
        ("requires_action_not_handled", None, None, "open")
    assert not PaymentEvent.objects.exists()


@pytest.mark.parametrize("then", ["paid", "canceled"])
def test_a_late_failure_of_an_intent_not_ours_is_read_and_opens_nothing(
        site_on_sandbox, sandbox, stripe_client, db, then):
    """Another integration's payment failed at the bank, then was paid with another card
    (or canceled); Stripe delivers the failure last. Nothing we hold places it, and nothing
    would ever search a paid intent again: before, it stayed an open incident for good,
    counted in the dashboard's money at risk and the failure rate."""
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 7777, "currency": "usd", "payment_method": "pm_card_threeDSecure2Required",
        "confirm": True, "confirmation_method": "manual"})
    sandbox.authenticate(intent.id, "fail")
    if then == "paid":
        stripe_client.v1.payment_intents.confirm(intent.id,
                                                 params={"payment_method": "pm_card_visa"})
        last = stored(sandbox, intent.id, "payment_intent.succeeded")
    else:
        stripe_client.v1.payment_intents.cancel(intent.id)
        last = stored(sandbox, intent.id, "payment_intent.canceled")
    failed = stored(sandbox, intent.id, "payment_intent.payment_failed")
    for event in (last, failed):  # out of order
        assert events.webhook_event_process(event_id=event.pk) is True
    assert len(intent_reads(sandbox, intent.id)) == 1  # the failure, read fresh
    assert not Incident.objects.filter(status="open").exists()
    assert set(Incident.objects.values_list("intent_status", flat=True)) <= {
        "succeeded" if then == "paid" else "canceled"}


def test_a_failure_of_an_intent_not_ours_that_stands_is_read_once_and_kept(
        site_on_sandbox, sandbox, stripe_client, db):
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 7777, "currency": "usd", "payment_method": "pm_card_threeDSecure2Required",
        "confirm": True, "confirmation_method": "manual"})
    sandbox.authenticate(intent.id, "fail")
    failed = stored(sandbox, intent.id, "payment_intent.payment_failed")
    assert events.webhook_event_process(event_id=failed.pk) is True
    assert len(intent_reads(sandbox, intent.id)) == 1
    incident = Incident.objects.get()
    assert (incident.kind, incident.status, incident.intent_status) == \
        ("authentication_failed", "open", "requires_payment_method")


def test_the_sweep_processes_what_no_worker_did_and_retries_what_failed(shopper, sandbox,
                                                                         monkeypatch):
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.advance_clock(5)
    sandbox.authenticate(intent_id, "fail")
    failed = stored(sandbox, intent_id, "payment_intent.payment_failed")
    now = timezone.now()
    assert events.webhook_events_sweep(now=now) == 0  # just stored: its worker may come
    # A worker took it and died: its claim runs out, then the sweep takes it.
    WebhookEvent.objects.filter(pk=failed.pk).update(
        claimed_until=now + timedelta(minutes=1), attempts=1)
    later = now + events.SWEEP_AFTER + timedelta(seconds=1)
    assert events.webhook_events_sweep(now=later) == 0
    WebhookEvent.objects.filter(pk=failed.pk).update(claimed_until=now)
    # Processing fails once (a bug, a database hiccup): kept on the row, retried later.
    broken = RuntimeError("the database went away")

    def fail_once(**kwargs):
        monkeypatch.undo()
        raise broken

    monkeypatch.setattr(events.observe, "intent_event_record", fail_once)
    assert events.webhook_events_sweep(now=later) == 0
    row = WebhookEvent.objects.get(pk=failed.pk)
    assert row.processed_at is None and "the database went away" in row.last_error
    assert row.claimed_until > timezone.now()  # not before its retry delay
    WebhookEvent.objects.filter(pk=failed.pk).update(claimed_until=timezone.now())
    assert events.webhook_events_sweep(now=timezone.now() + events.SWEEP_AFTER) == 1
    row.refresh_from_db()
    assert row.processed_at is not None and row.last_error == "" and row.attempts == 3
    assert PaymentAttempt.objects.get(stripe_id=intent_id).status == "requires_payment_method"


@pytest.fixture
def webhooks_to(sandbox, monkeypatch):
    """An endpoint at the sandbox, made through dj-stripe, delivering to ``base``."""
    monkeypatch.setattr("stripe.api_base", sandbox.url)  # dj-stripe's module-level client

    def register(base: str) -> WebhookEndpoint:
        endpoint_uuid = uuid.uuid4()
        path = reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint_uuid})
        data = WebhookEndpoint._api_create(
            url=urljoin(base, path), enabled_events=list(WEBHOOK_EVENT_TYPES),
            metadata={"djstripe_uuid": str(endpoint_uuid)})
        endpoint = WebhookEndpoint.sync_from_stripe_data(data)
        endpoint.secret = data["secret"]
        endpoint.save()
        return endpoint

    return register


def need_postgresql() -> None:
    need(connection.vendor == "postgresql", "PostgreSQL is not configured (set DATABASE_URL="
         "postgres://…; .ci/run does): on SQLite the live server and the worker share the "
         "test's one connection while webhooks arrive")


def test_a_failed_challenge_then_another_card_through_webhooks_and_a_real_worker(
        site_on_sandbox, product, sandbox, webhooks_to, live_server, celery_worker):
    need_postgresql()
    webhooks_to(live_server.url)
    shopper = shopper_with_order(product)
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "fail")  # the browser tells nobody; Stripe tells us
    attempt = PaymentAttempt.objects.get(stripe_id=intent_id)
    wait_until(lambda: PaymentAttempt.objects.get(pk=attempt.pk).status ==
               "requires_payment_method", timeout=20, what="the worker to record the failure")
    recorded = attempt.events.get(to_status="requires_payment_method", applied=True)
    assert (recorded.source, recorded.error_code) == \
        ("webhook", "payment_intent_authentication_failure")
    assert recorded.actor.startswith("evt_")
    # The incident is written just after the status, in its own transaction.
    wait_until(lambda: Incident.objects.filter(stripe_id=intent_id).exists(), timeout=20,
               what="the worker to open the incident")
    incident = Incident.objects.get(stripe_id=intent_id)
    assert (incident.kind, incident.status, incident.source) == \
        ("authentication_failed", "open", "webhook")

    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"] is True
    wait_until(lambda: Incident.objects.get(pk=incident.pk).status == "recovered",
               timeout=20, what="the incident to end")
    wait_until(lambda: all(d["delivered"] for d in sandbox.deliveries()) and not
               WebhookEvent.objects.filter(processed_at__isnull=True).exists(), timeout=20,
               what="every delivery stored and processed")
    assert [e.to_status for e in attempt.events.filter(applied=True)][-1] == "succeeded"


def test_events_delivered_while_the_broker_is_down_are_processed_by_the_sweep(
        site_on_sandbox, product, sandbox, webhooks_to, live_server, celery_worker,
        monkeypatch):
    """The broker refuses the intake's publish: Stripe still gets its 200, the event waits
    in its table, and the beat's sweep (here run by the real worker) processes it."""
    need_postgresql()
    from payments.monitoring import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to the broker. Connection refused.")

    monkeypatch.setattr(tasks.webhook_events_drain_task, "apply_async", broker_down)
    webhooks_to(live_server.url)
    shopper = shopper_with_order(product)
    assert shopper.pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds"
                       ).status_code == 402
    wait_until(lambda: [a["status"] for d in sandbox.deliveries() for a in d["attempts"]],
               what="the failure's delivery")
    assert [a["status"] for d in sandbox.deliveries() for a in d["attempts"]] == [200]
    assert WebhookEvent.objects.get().processed_at is None
    monkeypatch.undo()  # the broker is back
    WebhookEvent.objects.update(received_at=timezone.now() - events.SWEEP_AFTER * 2)
    tasks.webhook_events_sweep_task.delay()
    wait_until(lambda: WebhookEvent.objects.get().processed_at is not None, timeout=20,
               what="the sweep to process the event")


def test_events_delivered_while_no_worker_runs_wait_for_one(
        site_on_sandbox, product, sandbox, webhooks_to, live_server, transactional_db,
        celery_queue, request):
    need_postgresql()
    webhooks_to(live_server.url)
    shopper = shopper_with_order(product)
    assert shopper.pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds"
                       ).status_code == 402
    wait_until(lambda: WebhookEvent.objects.exists(), what="the failure's delivery")
    assert WebhookEvent.objects.get().processed_at is None  # queued, nobody consuming
    request.getfixturevalue("celery_worker")  # a worker starts
    wait_until(lambda: WebhookEvent.objects.get().processed_at is not None, timeout=20,
               what="the worker to process the queued event")
    # The decline is recorded; it is a failure of its own kind, not a 3-D Secure one.
    assert list(Incident.objects.values_list("kind", flat=True)) == ["card_declined"]
    assert PaymentAttempt.objects.get().status == "requires_payment_method"


def test_a_second_charge_made_outside_the_checkout_is_reconciled_within_the_minute(
        site_on_sandbox, product, sandbox, webhooks_to, live_server, celery_worker):
    """An intent made in Stripe's Dashboard (or by a script) charged a paid order again:
    its webhook changed nothing, and the order said "Paid" until the next morning's
    reconciliation (support agent). Its event now runs the last day's reconciliation at
    once, through the worker: the order shows the second charge, ops are mailed."""
    need_postgresql()
    from django.core.cache import cache

    from payments.models import ReconciliationMismatch
    from payments.monitoring import reconcile

    site_on_sandbox.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    cache.delete_many([reconcile.SOON_KEY, reconcile.SOON_RECENT_KEY])
    webhooks_to(live_server.url)
    shopper = shopper_with_order(product)
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"] is True
    order = shopper.order_now()
    httpx.post(f"{sandbox.url}/v1/payment_intents", headers={
        "Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}, data={
        "amount": order.amount, "currency": order.currency, "payment_method": "pm_card_visa",
        "confirm": "true", "metadata[order]": order.reference, "metadata[attempt]": "2"})
    mismatch = wait_until(lambda: ReconciliationMismatch.objects.filter(
        subject=order.reference).first(), timeout=30, what="the reconciliation the event ran")
    assert mismatch.kind == ReconciliationMismatch.Kind.CHARGED_TWICE
    assert mismatch.last_run.trigger == "event" and mismatch.last_run.days == 1


def test_a_reconciliation_asked_for_runs_once_and_not_again_within_ten_minutes(db):
    from django.core.cache import cache

    from payments.monitoring import reconcile

    cache.delete_many([reconcile.SOON_KEY, reconcile.SOON_RECENT_KEY])
    assert reconcile.reconcile_soon_take() is False  # nobody asked
    reconcile.reconcile_soon_request(order_reference="ord_x")
    assert reconcile.reconcile_soon_take() is True
    assert reconcile.reconcile_soon_take() is False  # taken
    reconcile.reconcile_soon_request(order_reference="ord_y")
    assert reconcile.reconcile_soon_take() is False  # within ten minutes: later
    cache.delete(reconcile.SOON_RECENT_KEY)  # ten minutes on
    assert reconcile.reconcile_soon_take() is True



def test_an_asked_reconciliation_that_was_skipped_is_asked_again(db):
    """Another run held the lease (the nightly one, a --month by hand): the run the
    event asked for was skipped, and nothing asked again (review)."""
    from datetime import timedelta

    from django.core.cache import cache

    from payments.monitoring import reconcile, tasks
    from payments.monitoring.leases import lease_hold

    cache.delete_many([reconcile.SOON_KEY, reconcile.SOON_RECENT_KEY])
    with lease_hold(name=reconcile.LEASE_NAME, ttl=timedelta(minutes=10)):
        assert tasks.reconcile_task(days=1, trigger="event")["status"] == "skipped"
    cache.delete(reconcile.SOON_RECENT_KEY)  # ten minutes on
    assert reconcile.reconcile_soon_take() is True
