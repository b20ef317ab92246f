"""``GET /v1/events`` as Stripe documents it (stripe-python ``EventListParams``), the
``payment_intent.*`` events each state change emits, and seeded history."""

from __future__ import annotations

import httpx
import pytest
import stripe

from stripe_sandbox import DEFAULT_SECRET_KEY

AUTH = {"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}


def types_of(client, **params) -> list[str]:
    return [e.type for e in client.v1.events.list(params={"limit": 100, **params}).data]


def create(client, method: str, **params):
    return client.v1.payment_intents.create(params={
        "amount": 1000, "currency": "usd", "payment_method": method, "confirm": True,
        **params})


def test_each_state_change_emits_stripes_event(stripe_client, sandbox):
    create(stripe_client, "pm_card_visa")
    assert types_of(stripe_client) == ["payment_intent.succeeded", "charge.succeeded",
                                       "payment_intent.created"]
    sandbox.reset()
    with pytest.raises(stripe.CardError):
        create(stripe_client, "pm_card_chargeDeclinedInsufficientFunds")
    assert types_of(stripe_client) == ["payment_intent.payment_failed", "charge.failed",
                                       "payment_intent.created"]
    sandbox.reset()
    intent = create(stripe_client, "pm_card_authenticationRequired",
                    confirmation_method="manual")
    sandbox.authenticate(intent.id, "complete")  # requires_confirmation: no event
    assert types_of(stripe_client) == ["payment_intent.requires_action",
                                       "payment_intent.created"]
    sandbox.advance_clock(3601)  # the one-hour expiry: no event either (docs/architecture.md)
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == \
        "requires_payment_method"
    assert len(types_of(stripe_client)) == 2
    stripe_client.v1.payment_intents.cancel(intent.id)
    assert types_of(stripe_client)[0] == "payment_intent.canceled"
    sandbox.reset()
    create(stripe_client, "pm_card_visa", capture_method="manual")
    assert types_of(stripe_client) == ["payment_intent.amount_capturable_updated",
                                       "charge.succeeded", "payment_intent.created"]


def test_type_wildcard_types_list_and_created_ranges(stripe_client, sandbox):
    create(stripe_client, "pm_card_visa")
    sandbox.advance_clock(100)
    later = sandbox.clock()["now"]
    stripe_client.v1.customers.create()
    assert types_of(stripe_client, type="payment_intent.*") == [
        "payment_intent.succeeded", "payment_intent.created"]
    assert types_of(stripe_client, type="*.succeeded") == ["payment_intent.succeeded",
                                                          "charge.succeeded"]
    assert types_of(stripe_client, type="charge.succeeded") == ["charge.succeeded"]
    assert types_of(stripe_client, type="payment_intent") == []  # no implicit prefix match
    assert types_of(stripe_client, types=["customer.created", "charge.succeeded"]) == [
        "customer.created", "charge.succeeded"]
    # types[] takes exact names only.
    assert types_of(stripe_client, types=["payment_intent.*"]) == []
    assert types_of(stripe_client, created={"gte": later}) == ["customer.created"]
    assert types_of(stripe_client, created={"lt": later}) == [
        "payment_intent.succeeded", "charge.succeeded", "payment_intent.created"]
    assert types_of(stripe_client, created=later) == ["customer.created"]
    assert types_of(stripe_client, delivery_success=False) == []  # no endpoints: none pending


@pytest.mark.parametrize("query,param", [
    ("type=a&types[]=b", "types"),
    ("&".join(f"types[]=t{n}" for n in range(21)), "types"),
    ("limit=101", "limit"),
    ("limit=0", "limit"),
    ("starting_after=evt_nope", "starting_after"),
])
def test_bad_event_list_parameters_are_400(sandbox, query, param):
    response = httpx.get(f"{sandbox.url}/v1/events?{query}", headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_pages_newest_first_and_catches_up_with_ending_before(stripe_client, sandbox):
    for _ in range(5):
        stripe_client.v1.customers.create()
    everything = [e.id for e in stripe_client.v1.events.list(params={"limit": 100}).data]
    page = stripe_client.v1.events.list(params={"limit": 2})
    assert [e.id for e in page.data] == everything[:2] and page.has_more
    after = stripe_client.v1.events.list(params={"limit": 2,
                                                 "starting_after": page.data[-1].id})
    assert [e.id for e in after.data] == everything[2:4]
    # Stripe's catch-up recipe: ending_before the last seen id, oldest first when paged.
    seen = everything[3]
    newer = [e.id for e in stripe_client.v1.events.list(
        params={"limit": 1, "ending_before": seen}).auto_paging_iter()]
    assert newer == list(reversed(everything[:3]))


def test_seeded_intents_get_the_events_their_state_implies(stripe_client, sandbox):
    stripe_client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/x",
                                                      "enabled_events": ["*"]})
    result = sandbox.seed(events=True, batches=[
        {"kind": "succeeded", "count": 2, "age_seconds": 7200},
        {"kind": "authentication_failed", "count": 1, "age_seconds": 3600},
        {"kind": "requires_confirmation", "count": 1, "age_seconds": 600},
        {"kind": "canceled", "count": 1, "age_seconds": 60},
    ])
    assert result["events"] == 2 * 3 + 3 + 2 + 2
    now = sandbox.clock()["now"]
    events = stripe_client.v1.events.list(params={"limit": 100}).data
    assert [e.type for e in events][:2] == ["payment_intent.canceled", "payment_intent.created"]
    by_type: dict[str, list] = {}
    for event in events:
        by_type.setdefault(event.type, []).append(event)
        intent_id = event.data.object.get("payment_intent") or event.data.object.id
        assert event.created == stripe_client.v1.payment_intents.retrieve(intent_id).created
        assert event.pending_webhooks == 0  # history: never delivered
    assert {now - e.created for e in by_type["payment_intent.succeeded"]} == {7200}
    failed = by_type["payment_intent.payment_failed"][0].data.object
    assert failed.last_payment_error.code == "payment_intent_authentication_failure"
    requires_action = {e.data.object.status for e in by_type["payment_intent.requires_action"]}
    assert requires_action == {"requires_action"}
    created = {e.data.object.status for e in by_type["payment_intent.created"]}
    assert created <= {"requires_payment_method", "requires_confirmation"}
    assert sandbox.deliveries() == []
    assert types_of(stripe_client, created={"lte": now - 3600}, type="payment_intent.*") == \
        ["payment_intent.payment_failed", "payment_intent.requires_action",
         "payment_intent.created"] + ["payment_intent.succeeded", "payment_intent.created"] * 2


def test_seeding_without_events_records_none(stripe_client, sandbox):
    assert sandbox.seed(count=5, kind="succeeded")["events"] == 0
    assert types_of(stripe_client) == []
