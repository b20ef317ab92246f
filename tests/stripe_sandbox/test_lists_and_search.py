"""List pagination (newest first, cursors, created ranges) and search."""

from __future__ import annotations

import pytest
import stripe


def make(client, n, **params):
    return [client.v1.payment_intents.create(params={"amount": 1000 + i, "currency": "usd",
                                                     **params}) for i in range(n)]


def test_list_is_newest_first_and_pages_with_cursors(stripe_client):
    created = make(stripe_client, 7)
    newest_first = [pi.id for pi in reversed(created)]
    page = stripe_client.v1.payment_intents.list(params={"limit": 3})
    assert [pi.id for pi in page.data] == newest_first[:3] and page.has_more
    page2 = stripe_client.v1.payment_intents.list(
        params={"limit": 3, "starting_after": page.data[-1].id})
    assert [pi.id for pi in page2.data] == newest_first[3:6] and page2.has_more
    page3 = stripe_client.v1.payment_intents.list(
        params={"limit": 3, "starting_after": page2.data[-1].id})
    assert [pi.id for pi in page3.data] == newest_first[6:] and not page3.has_more
    back = stripe_client.v1.payment_intents.list(
        params={"limit": 2, "ending_before": page2.data[0].id})
    assert [pi.id for pi in back.data] == newest_first[1:3] and back.has_more
    everything = [pi.id for pi in stripe_client.v1.payment_intents.list(
        params={"limit": 2}).auto_paging_iter()]
    assert everything == newest_first


@pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
def test_an_unknown_cursor_is_resource_missing_naming_its_parameter(stripe_client, cursor):
    for listing in (stripe_client.v1.payment_intents, stripe_client.v1.events):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            listing.list(params={cursor: "evt_gone" if listing is stripe_client.v1.events
                                 else "pi_gone"})
        assert (caught.value.http_status, caught.value.code, caught.value.param) == \
            (400, "resource_missing", cursor)


def test_list_filters_by_created_and_customer(stripe_client, sandbox):
    customer = stripe_client.v1.customers.create()
    old = make(stripe_client, 2)
    sandbox.advance_clock(1000)
    now = sandbox.clock()["now"]
    new = make(stripe_client, 2, customer=customer.id)
    recent = stripe_client.v1.payment_intents.list(params={"created": {"gte": now}})
    assert {pi.id for pi in recent.data} == {pi.id for pi in new}
    older = stripe_client.v1.payment_intents.list(params={"created": {"lt": now}})
    assert {pi.id for pi in older.data} == {pi.id for pi in old}
    mine = stripe_client.v1.payment_intents.list(params={"customer": customer.id})
    assert {pi.id for pi in mine.data} == {pi.id for pi in new}


def test_list_limit_bounds(stripe_client):
    for limit in (0, 101):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            stripe_client.v1.payment_intents.list(params={"limit": limit})
        assert caught.value.param == "limit"


def test_search_by_status_created_amount_and_metadata(stripe_client, sandbox):
    make(stripe_client, 3, metadata={"order": "a"})
    stripe_client.v1.payment_intents.create(params={
        "amount": 5000, "currency": "eur", "payment_method": "pm_card_authenticationRequired",
        "confirm": True, "confirmation_method": "manual", "metadata": {"order": "b"}})
    found = stripe_client.v1.payment_intents.search(
        params={"query": 'status:"requires_action" AND currency:"eur"'})
    assert [pi.metadata["order"] for pi in found.data] == ["b"]
    by_meta = stripe_client.v1.payment_intents.search(params={"query": 'metadata["order"]:"a"'})
    assert len(by_meta.data) == 3
    big = stripe_client.v1.payment_intents.search(params={"query": "amount>=1002"})
    assert sorted(pi.amount for pi in big.data) == [1002, 5000]
    negated = stripe_client.v1.payment_intents.search(
        params={"query": '-status:"requires_action"'})
    assert len(negated.data) == 3
    either = stripe_client.v1.payment_intents.search(
        params={"query": 'amount:1000 OR amount:5000'})
    assert len(either.data) == 2


def test_search_pages_with_next_page(stripe_client, sandbox):
    sandbox.seed(count=25, kind="requires_action", age_seconds=600)
    seen = []
    page = stripe_client.v1.payment_intents.search(
        params={"query": 'status:"requires_action"', "limit": 10})
    seen += [pi.id for pi in page.data]
    while page.has_more:
        page = stripe_client.v1.payment_intents.search(
            params={"query": 'status:"requires_action"', "limit": 10, "page": page.next_page})
        seen += [pi.id for pi in page.data]
    assert len(seen) == len(set(seen)) == 25


@pytest.mark.parametrize("query", ["status", 'colour:"red"', "amount>abc",
                                   'status:"a" AND amount:1 OR amount:2'])
def test_bad_search_queries_are_400(stripe_client, query):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.payment_intents.search(params={"query": query})
    assert caught.value.param == "query"


def test_charges_list_by_intent_and_events_by_type(stripe_client):
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True})
    charges = stripe_client.v1.charges.list(params={"payment_intent": intent.id})
    assert [c.id for c in charges.data] == [intent.latest_charge]
    events = stripe_client.v1.events.list(params={"type": "payment_intent.*"})
    assert [e.type for e in events.data] == ["payment_intent.succeeded", "payment_intent.created"]
    both = stripe_client.v1.events.list(
        params={"types": ["charge.succeeded", "payment_intent.created"]})
    assert {e.type for e in both.data} == {"charge.succeeded", "payment_intent.created"}
    one = stripe_client.v1.events.retrieve(events.data[0].id)
    assert one.data.object.id == intent.id and one["request"]["id"].startswith("req_")


def test_charges_list_by_created_window_with_limit_and_cursor(stripe_client, sandbox):
    """What the reconciliation pages through: ``created[gte]``/``created[lt]``, ``limit``,
    ``starting_after``, newest first."""
    made = [stripe_client.v1.payment_intents.create(params={
        "amount": 1000 + n, "currency": "usd", "payment_method": "pm_card_visa",
        "confirm": True}).latest_charge for n in range(3)]
    sandbox.seed(count=2, kind="succeeded", age_seconds=3 * 86400)  # stored last, dated before
    now = int(sandbox.clock()["now"])
    window = {"gte": now - 86400, "lt": now + 1}
    first = stripe_client.v1.charges.list(params={"created": window, "limit": 2})
    assert [c.id for c in first.data] == made[::-1][:2] and first.has_more
    rest = stripe_client.v1.charges.list(params={"created": window, "limit": 2,
                                                 "starting_after": first.data[-1].id})
    assert [c.id for c in rest.data] == [made[0]] and not rest.has_more
    every = stripe_client.v1.charges.list(params={"limit": 100}).data
    assert [c.id for c in every][:3] == made[::-1] and len(every) == 5  # by date, not storage
    assert [c.created for c in every] == sorted((c.created for c in every), reverse=True)
