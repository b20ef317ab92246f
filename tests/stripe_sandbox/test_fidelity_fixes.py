"""Two fixes a tester found: a Customer answers ``expand[]=sources`` (and its other
expand-only lists) as Stripe does, so dj-stripe can sync ``customer.*`` events; and
``receipt_email`` (like a Customer's ``email``) must be an email address."""

from __future__ import annotations

import httpx
import pytest
import stripe
from djstripe import models as djstripe_models

from stripe_sandbox import DEFAULT_SECRET_KEY

AUTH = {"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}
CREATE = {"amount": 1000, "currency": "usd"}


# --- expand-only properties of a Customer --------------------------------------------------

def test_a_customer_lists_sources_subscriptions_and_tax_ids_only_when_expanded(sandbox,
                                                                              stripe_client):
    customer = stripe_client.v1.customers.create(params={"email": "ada@example.com"})
    plain = httpx.get(f"{sandbox.url}/v1/customers/{customer.id}", headers=AUTH).json()
    assert not {"sources", "subscriptions", "tax_ids"} & set(plain)
    full = stripe_client.v1.customers.retrieve(customer.id, params={
        "expand": ["default_source", "sources", "subscriptions", "tax_ids"]})
    assert full.default_source is None
    for name in ("sources", "subscriptions", "tax_ids"):
        listed = full[name]
        assert (listed.object, listed.data, listed.has_more, listed.url) == \
            ("list", [], False, f"/v1/customers/{customer.id}/{name}")


def test_expand_reaches_a_customer_inside_another_object_and_nothing_else(sandbox,
                                                                         stripe_client):
    customer = stripe_client.v1.customers.create()
    intent = stripe_client.v1.payment_intents.create(params={
        **CREATE, "customer": customer.id, "expand": ["customer.sources"]})
    assert intent.customer.id == customer.id and intent.customer.sources.data == []
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.payment_intents.retrieve(intent.id, params={"expand": ["sources"]})
    assert raised.value.param == "expand"


@pytest.mark.django_db(transaction=True)
def test_djstripe_processes_a_customer_created_event(sandbox, stripe_client, monkeypatch):
    """dj-stripe 2.11 re-reads the customer with ``expand=["default_source", "sources"]``
    (``Customer.expand_fields``) when it processes any ``customer.*`` event."""
    monkeypatch.setattr(stripe, "api_base", sandbox.url)  # dj-stripe's module-level client
    customer = stripe_client.v1.customers.create(params={"email": "ada@example.com"})
    (listed,) = stripe_client.v1.events.list(params={"type": "customer.created"}).data
    djstripe_models.Event.process(data=listed.to_dict(), api_key=DEFAULT_SECRET_KEY)
    assert djstripe_models.Customer.objects.get(id=customer.id).email == "ada@example.com"
    assert any(r["params"].get("expand") == ["default_source", "sources"]
               and r["status"] == 200 for r in sandbox.requests(f"/v1/customers/{customer.id}"))


# --- email addresses -----------------------------------------------------------------------

BAD_EMAILS = ["not-an-email", "ada@example", " ada@example.com", "ada@.example.com",
              "ada@exa mple.com", "ada@@example.com"]


@pytest.mark.parametrize("email", BAD_EMAILS)
def test_a_bad_receipt_email_is_refused_on_create(sandbox, stripe_client, email):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.payment_intents.create(params={**CREATE, "receipt_email": email})
    error = raised.value
    assert (error.http_status, error.code, error.param) == (400, "email_invalid",
                                                            "receipt_email")
    assert error.user_message == f"Invalid email address: {email}"
    assert error.error.doc_url == "https://stripe.com/docs/error-codes/email-invalid"
    assert stripe_client.v1.payment_intents.list().data == []


def test_a_bad_receipt_email_is_refused_on_update_and_confirm(sandbox, stripe_client):
    intent = stripe_client.v1.payment_intents.create(params={
        **CREATE, "receipt_email": "ada@example.com", "payment_method": "pm_card_visa"})
    for call in (stripe_client.v1.payment_intents.update,
                 stripe_client.v1.payment_intents.confirm):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            call(intent.id, params={"receipt_email": "ada at example.com"})
        assert (raised.value.code, raised.value.param) == ("email_invalid", "receipt_email")
    again = stripe_client.v1.payment_intents.retrieve(intent.id)
    assert (again.status, again.receipt_email, again.latest_charge) == \
        ("requires_confirmation", "ada@example.com", None)


def test_an_empty_receipt_email_unsets_it_on_update(sandbox, stripe_client):
    intent = stripe_client.v1.payment_intents.create(params={
        **CREATE, "receipt_email": "ada.lovelace+shop@mail.example.co.uk"})
    assert intent.receipt_email == "ada.lovelace+shop@mail.example.co.uk"
    cleared = stripe_client.v1.payment_intents.update(intent.id, params={"receipt_email": ""})
    assert cleared.receipt_email is None


def test_a_bad_customer_email_is_refused(sandbox, stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.customers.create(params={"email": "ada@.example.com"})
    assert (raised.value.code, raised.value.param) == ("email_invalid", "email")
    assert stripe_client.v1.events.list().data == []
