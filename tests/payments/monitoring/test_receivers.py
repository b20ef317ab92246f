"""Webhooks in: Stripe's signed events reach dj-stripe's view on a live server, our
receivers record them, and a real Celery worker (Redis in CI, the embedded filesystem
broker otherwise) reads the intent fresh from the sandbox and records it."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from urllib.parse import urljoin

import pytest
from django.db import connection
from django.urls import reverse
from djstripe.models import WebhookEndpoint

from payments.models import Incident, PaymentAttempt, PaymentEvent
from payments.monitoring import receivers
from tests.conftest import need
from tests.payments.conftest import shopper_with_order
from tests.waiting import wait_until


@pytest.fixture
def webhooks_to(sandbox, monkeypatch):
    """Point dj-stripe at the sandbox and register an endpoint delivering to ``base``."""
    monkeypatch.setattr("stripe.api_base", sandbox.url)

    def register(base: str) -> WebhookEndpoint:
        endpoint_uuid = uuid.uuid4()
        path = reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint_uuid})
        data = WebhookEndpoint._api_create(url=urljoin(base, path), enabled_events=["*"],
                                           metadata={"djstripe_uuid": str(endpoint_uuid)})
        endpoint = WebhookEndpoint.sync_from_stripe_data(data)
        endpoint.secret = data["secret"]
        endpoint.save()
        return endpoint

    return register


def intent_of(response) -> str:
    return response.json()["clientSecret"].split("_secret_")[0]


def test_a_failed_challenge_then_another_card_through_webhooks_and_a_real_worker(
        site_on_sandbox, product, sandbox, webhooks_to, live_server, celery_worker):
    need(connection.vendor == "postgresql", "PostgreSQL is not configured (set DATABASE_URL="
         "postgres://…; .ci/run does): on SQLite the live server and the worker share the "
         "test's one connection while webhooks arrive")
    webhooks_to(live_server.url)
    shopper = shopper_with_order(product)
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "fail")  # the browser tells nobody; Stripe tells us
    attempt = PaymentAttempt.objects.get(stripe_id=intent_id)
    # The webhook recorded the failure as history; the worker read the intent and moved us.
    wait_until(lambda: PaymentAttempt.objects.get(pk=attempt.pk).status ==
               "requires_payment_method", timeout=20, what="the worker to refresh the attempt")
    refreshed = attempt.events.get(to_status="requires_payment_method", applied=True)
    assert (refreshed.source, refreshed.error_code) == \
        ("webhook", "payment_intent_authentication_failure")
    assert refreshed.actor.startswith("evt_")
    incident = Incident.objects.get(stripe_id=intent_id)
    assert (incident.kind, incident.status, incident.source) == \
        ("authentication_failed", "open", "webhook")

    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"] is True
    wait_until(lambda: Incident.objects.get(pk=incident.pk).status == "recovered",
               timeout=20, what="the success webhook to resolve the incident")
    assert [e.to_status for e in attempt.events.filter(applied=True)][-1] == "succeeded"
    # Let every delivery land before the live server and its database go away.
    wait_until(lambda: all(d["delivered"] for d in sandbox.deliveries()), timeout=10,
               what="the sandbox's deliveries to land")


def event_from(stripe_client, intent_id: str, type_: str) -> SimpleNamespace:
    """A dj-stripe Event as the receiver gets it, from the sandbox's real event."""
    from datetime import UTC, datetime

    [event] = [e for e in stripe_client.v1.events.list(params={"type": type_}).data
               if e.data.object["id"] == intent_id]
    return SimpleNamespace(id=event.id, type=event.type,
                           created=datetime.fromtimestamp(event.created, tz=UTC),
                           data=event.data.to_dict())


def test_the_same_event_twice_and_in_reverse_order_changes_nothing_more(
        shopper, sandbox, stripe_client, django_capture_on_commit_callbacks):
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "fail")
    shopper.pay(payment_method_id="pm_card_visa")
    failed = event_from(stripe_client, intent_id, "payment_intent.payment_failed")
    succeeded = event_from(stripe_client, intent_id, "payment_intent.succeeded")
    with django_capture_on_commit_callbacks() as queued:
        for event in (succeeded, failed, failed, succeeded):
            receivers.payment_intent_event_received(sender=None, event=event)
    assert queued == []  # the attempt is final: nothing to read again
    attempt = PaymentAttempt.objects.get(stripe_id=intent_id)
    assert attempt.status == "succeeded"
    history = attempt.events.filter(applied=False)
    assert [(e.to_status, e.error_code, e.actor) for e in history] == \
        [("requires_payment_method", "payment_intent_authentication_failure", failed.id)]
    assert list(Incident.objects.values_list("kind", "status")) == \
        [("authentication_failed", "recovered")]
    # A late event carries no card; the card that paid afterwards is not the one that failed.
    assert Incident.objects.get().card_last4 != "4242"


def test_an_event_newer_than_what_we_hold_queues_a_fresh_read(
        shopper, sandbox, stripe_client, django_capture_on_commit_callbacks, monkeypatch):
    intent_id = intent_of(shopper.pay(payment_method_id="pm_card_authenticationRequired"))
    sandbox.authenticate(intent_id, "fail")
    queued: list[tuple] = []
    monkeypatch.setattr(receivers.tasks.intent_refresh_task, "delay",
                        lambda *args: queued.append(args))
    failed = event_from(stripe_client, intent_id, "payment_intent.payment_failed")
    with django_capture_on_commit_callbacks(execute=True):
        receivers.payment_intent_event_received(sender=None, event=failed)
    assert queued == [(intent_id, failed.id)]
    # Nothing moved yet: an event's copy may be stale; the task reads the truth.
    assert PaymentAttempt.objects.get(stripe_id=intent_id).status == "requires_action"


def test_an_event_for_an_intent_we_do_not_know_is_kept_not_dropped(
        site_on_sandbox, sandbox, stripe_client, db):
    sandbox.seed(count=1, kind="authentication_not_handled", events=True)
    [intent] = stripe_client.v1.payment_intents.list().data
    event = event_from(stripe_client, intent.id, "payment_intent.payment_failed")
    receivers.payment_intent_event_received(sender=None, event=event)
    receivers.payment_intent_event_received(sender=None, event=event)
    incident = Incident.objects.get()
    assert (incident.kind, incident.attempt, incident.order, incident.status) == \
        ("requires_action_not_handled", None, None, "open")
    assert not PaymentEvent.objects.exists()
