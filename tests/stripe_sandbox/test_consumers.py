"""Fidelity check 4: real consumers accept the sandbox. dj-stripe 2.11 syncs a
PaymentIntent and a Charge (with its balance transaction) fetched from it, and its
own webhook view verifies and processes an event the sandbox delivers (signature
checked, event stored; the site itself serves that URL with its own intake, so this check
mounts dj-stripe's view alone)."""

from __future__ import annotations

import uuid

import pytest
import stripe
from django.urls import reverse
from djstripe import models as djstripe_models

from stripe_sandbox import DEFAULT_SECRET_KEY
from tests.waiting import wait_until


@pytest.fixture
def djstripe_on_sandbox(sandbox, monkeypatch):
    # dj-stripe calls stripe-python's module-level API; point it at the sandbox.
    monkeypatch.setattr(stripe, "api_base", sandbox.url)
    return sandbox


@pytest.mark.django_db(transaction=True)
def test_djstripe_syncs_a_payment_intent(djstripe_on_sandbox, stripe_client):
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 2500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True,
        "metadata": {"order": "17"}})
    data = djstripe_models.PaymentIntent.stripe_class.retrieve(
        intent.id, api_key=DEFAULT_SECRET_KEY)
    synced = djstripe_models.PaymentIntent.sync_from_stripe_data(data,
                                                                 api_key=DEFAULT_SECRET_KEY)
    stored = djstripe_models.PaymentIntent.objects.get(id=intent.id)
    assert stored.pk == synced.pk
    assert stored.stripe_data["status"] == "succeeded"
    assert stored.stripe_data["metadata"] == {"order": "17"}


@pytest.mark.urls("tests.stripe_sandbox.urls_djstripe")
@pytest.mark.django_db(transaction=True)
def test_djstripe_webhook_view_accepts_a_sandbox_delivery(djstripe_on_sandbox, stripe_client,
                                                          live_server):
    endpoint_uuid = uuid.uuid4()
    url = live_server.url + reverse("djstripe:djstripe_webhook_by_uuid",
                                    kwargs={"uuid": endpoint_uuid})
    created = stripe_client.v1.webhook_endpoints.create(params={
        "url": url, "enabled_events": ["payment_intent.succeeded"]})
    endpoint = djstripe_models.WebhookEndpoint.sync_from_stripe_data(
        created.to_dict(), api_key=DEFAULT_SECRET_KEY)
    endpoint.djstripe_uuid = endpoint_uuid
    endpoint.secret = created.secret
    endpoint.save()

    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 1800, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True})

    wait_until(lambda: [d for d in djstripe_on_sandbox.deliveries() if d["delivered"]],
               what="dj-stripe to accept the delivery")
    trigger = djstripe_models.WebhookEventTrigger.objects.get()
    assert trigger.valid and trigger.processed, trigger.exception
    event = djstripe_models.Event.objects.get()
    assert event.type == "payment_intent.succeeded"
    assert event.data["object"]["id"] == intent.id


@pytest.mark.django_db(transaction=True)
def test_djstripe_syncs_a_charge_and_its_balance_transaction(djstripe_on_sandbox,
                                                             stripe_client):
    """dj-stripe expands ``balance_transaction`` when it syncs a Charge (as it does for
    ``charge.succeeded``): the sandbox must serve it."""
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 2500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True})
    data = djstripe_models.Charge.stripe_class.retrieve(
        intent.latest_charge, api_key=DEFAULT_SECRET_KEY, expand=["balance_transaction"])
    synced = djstripe_models.Charge.sync_from_stripe_data(data, api_key=DEFAULT_SECRET_KEY)
    assert synced.id == intent.latest_charge
    txn = djstripe_models.BalanceTransaction.objects.get()
    assert synced.balance_transaction_id == txn.id
    assert (txn.amount, txn.fee, txn.net) == (2500, 103, 2397)
    assert txn.source == intent.latest_charge


@pytest.mark.django_db(transaction=True)
def test_djstripe_processes_a_charge_succeeded_event(djstripe_on_sandbox, stripe_client):
    stripe_client.v1.payment_intents.create(params={
        "amount": 1800, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True})
    (listed,) = stripe_client.v1.events.list(params={"type": "charge.succeeded"}).data
    event = djstripe_models.Event.process(data=listed.to_dict(), api_key=DEFAULT_SECRET_KEY)
    assert event.type == "charge.succeeded"
    charge = djstripe_models.Charge.objects.get()
    assert charge.balance_transaction is not None
