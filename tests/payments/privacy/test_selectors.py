"""What we hold about an address, found for an access request: every kind of row, in any
case of the address, and nothing of another shopper's."""

from __future__ import annotations

import json

import pytest

from payments.privacy.selectors import EmailInvalid, email_normalise, shopper_data_find
from tests.payments.privacy.conftest import CAROL, OTHER


def test_everything_held_about_an_address_and_nothing_of_anothers(history):
    found = shopper_data_find(email="  CAROL@example.COM ")
    assert found.held and found.email == CAROL
    data = json.loads(found.as_json())
    paid, canceled = history.paid.order_now(), history.canceled.order_now()
    orders = {order["reference"]: order for order in data["orders"]}
    assert set(orders) == {paid.reference, canceled.reference}
    assert orders[paid.reference]["status"] == "paid"
    assert (orders[paid.reference]["amount"], orders[paid.reference]["currency"]) == \
        (5198, "eur")
    assert orders[paid.reference]["lines"] == [
        {"name": "Espresso cups", "unit_price": 2599, "quantity": 2}]
    [payment] = orders[paid.reference]["payments"]
    attempt = paid.attempts.get()
    assert payment["payment_intent"] == attempt.stripe_id
    assert payment["status"] == "succeeded" and payment["charge"].startswith("ch_")
    assert (payment["card_brand"], payment["card_last4"]) == ("visa", "4242")
    assert orders[canceled.reference]["payments"][0]["status"] == "canceled"
    assert {incident["payment_intent"] for incident in data["incidents"]} == \
        {history.incident.stripe_id, history.outside.stripe_id}  # the outside one by email
    [link] = data["recovery_links"]
    assert link["order"] == canceled.reference
    assert link["sent"] and link["opened"] and link["open_count"] == 1
    [ops_action] = data["ops_actions"]
    assert (ops_action["order"], ops_action["action"], ops_action["result"]) == \
        (canceled.reference, "cancel", "done")
    assert any("Cancel (Requested by customer)" in entry["change"]
               for entry in data["admin_history"])
    assert data["stripe"] == {
        "payment_intents": sorted({attempt.stripe_id, history.incident.stripe_id,
                                   history.outside.stripe_id}),
        "charges": [attempt.latest_charge]}
    assert data["erasures"] == []
    # Nothing of the other shopper's, who has the same product, amount and card.
    text = found.as_json()
    for other in (OTHER, history.other.order.reference, history.other_incident.stripe_id):
        assert other not in text


def test_an_address_nothing_is_held_about(db):
    found = shopper_data_find(email="nobody@example.com")
    assert not found.held
    assert json.loads(found.as_json())["orders"] == []


@pytest.mark.parametrize("email", ["", "   ", "carol", "carol@", "@example.com",
                                   "carol@example.com; drop table"])
def test_what_is_not_an_address_is_refused_with_a_clear_error(db, email):
    with pytest.raises(EmailInvalid) as error:
        shopper_data_find(email=email)
    assert "email address" in error.value.message


def test_an_address_is_matched_in_lower_case_and_trimmed():
    assert email_normalise(email=" Carol@Example.COM\n") == CAROL
