"""payments.gateway against the sandbox over HTTP: plain data out, our own exceptions
for every kind of Stripe failure."""

from __future__ import annotations

import logging

import pytest

from payments.stripe import budget, gateway


@pytest.fixture
def gw(site_on_sandbox):
    return gateway


def create(gw, method: str, key: str = "order-1-attempt-1", **kwargs):
    return gw.payment_intent_create(amount=2599, currency="eur", payment_method=method,
                                    idempotency_key=key, metadata={"order": "1"},
                                    handle_actions=kwargs.pop("handle_actions", True), **kwargs)


def test_success_returns_plain_intent_data_with_card_details(gw):
    intent = create(gw, "pm_card_visa")
    assert isinstance(intent, gateway.IntentData)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 2599, "eur")
    assert (intent.card_brand, intent.card_last4, intent.confirmation_method) == \
        ("visa", "4242", "manual")
    assert intent.latest_charge.startswith("ch_")


def test_three_d_secure_then_confirm(gw, sandbox):
    intent = create(gw, "pm_card_authenticationRequired")
    assert intent.status == "requires_action" and intent.next_action_type == "use_stripe_sdk"
    sandbox.authenticate(intent.id, "complete")
    confirmed = gw.payment_intent_confirm(intent_id=intent.id, idempotency_key="c1")
    assert confirmed.status == "succeeded" and confirmed.card_country == "DE"


def test_decline_maps_to_card_declined_with_the_intent(gw):
    with pytest.raises(gateway.CardDeclined) as caught:
        create(gw, "pm_card_chargeDeclinedInsufficientFunds")
    assert caught.value.decline_code == "insufficient_funds"
    assert caught.value.message == "Your card has insufficient funds."
    assert caught.value.intent.status == "requires_payment_method"


def test_legacy_mode_maps_to_authentication_required(gw):
    with pytest.raises(gateway.AuthenticationRequired) as caught:
        create(gw, "pm_card_authenticationRequired", handle_actions=False)
    assert caught.value.decline_code == "authentication_not_handled"
    assert caught.value.intent.last_error_code == "authentication_required"


@pytest.mark.parametrize("fault,exception", [
    ({"status": 500}, gateway.StripeUnavailable),
    ({"action": "drop"}, gateway.StripeUnavailable),
    ({"action": "rate_limit"}, gateway.RateLimited),
])
def test_outages_map_to_our_exceptions(gw, sandbox, fault, exception):
    sandbox.add_fault(path="/v1/payment_intents", **fault)
    with pytest.raises(exception):
        create(gw, "pm_card_visa")


@pytest.mark.parametrize(("fault", "said"), [({"status": 500}, "answered 500"),
                                             ({"action": "drop"}, "answered connection")])
def test_stripe_unavailable_is_logged_with_its_call_status_and_cause(gw, sandbox, caplog,
                                                                     fault, said):
    """The shopper hears "try again"; the log says which call, what Stripe answered, why."""
    sandbox.add_fault(path="/v1/payment_intents", **fault)
    # The logger's level set here: a test's in-process Celery worker leaves the root at ERROR.
    with caplog.at_level(logging.WARNING, logger="payments.stripe.gateway"), \
            pytest.raises(gateway.StripeUnavailable):
        create(gw, "pm_card_visa")
    # Any thread's records are caught (a server thread of an earlier test may call too).
    lines = [r.getMessage() for r in caplog.records if r.name == "payments.stripe.gateway"]
    assert any(line.startswith(f"Stripe unavailable: POST /v1/payment_intents {said} (")
               for line in lines), lines
    assert not any("Nothing was charged" in line for line in lines)


def test_timeout_maps_to_unavailable(gw, sandbox):
    sandbox.add_fault(path="/v1/payment_intents", action="delay", delay_ms=3000)
    with pytest.raises(gateway.StripeUnavailable):
        create(gw, "pm_card_visa")


def test_invalid_request_and_unknown_intent(gw):
    with pytest.raises(gateway.InvalidRequest) as caught:
        gw.payment_intent_retrieve(intent_id="pi_unknown")
    assert caught.value.code == "resource_missing"
    create(gw, "pm_card_visa", key="k")
    with pytest.raises(gateway.InvalidRequest) as caught:  # same key, other parameters
        gw.payment_intent_create(amount=1, currency="eur", payment_method="pm_card_visa",
                                 idempotency_key="k", metadata={}, handle_actions=True)
    assert caught.value.code == "idempotency_error"


@pytest.mark.parametrize("call", [
    lambda gw: gw.payment_intent_retrieve(intent_id="pi_unknown"),
    lambda gw: gw.payment_intent_confirm(intent_id="pi_unknown", idempotency_key="c"),
    lambda gw: gw.payment_intent_cancel(intent_id="pi_unknown", idempotency_key="x"),
], ids=["retrieve", "confirm", "cancel"])
def test_an_intent_unknown_to_stripe_is_intent_missing(gw, call):
    with pytest.raises(gateway.IntentMissing) as caught:
        call(gw)
    assert isinstance(caught.value, gateway.InvalidRequest)  # older handlers still catch it
    assert caught.value.code == "resource_missing"


def test_an_unknown_payment_method_is_no_missing_intent(gw):
    """Stripe answers resource_missing for the card too, naming param payment_method:
    the intent is there, only the card is not."""
    with pytest.raises(gateway.InvalidRequest) as caught:
        create(gw, "pm_unknown")
    assert not isinstance(caught.value, gateway.IntentMissing)
    assert (caught.value.code, caught.value.param) == ("resource_missing", "payment_method")
    waiting = create(gw, "pm_card_authenticationRequired", key="k-3ds")
    with pytest.raises(gateway.InvalidRequest) as caught:
        gw.payment_intent_confirm(intent_id=waiting.id, idempotency_key="c-unknown",
                                  payment_method="pm_unknown")
    assert not isinstance(caught.value, gateway.IntentMissing)
    assert (caught.value.code, caught.value.param) == ("resource_missing", "payment_method")


def test_an_unknown_list_cursor_is_no_missing_intent(gw):
    """Only a call naming an intent by id misses that intent; a page's unknown cursor is
    a bad request like any other."""
    with pytest.raises(gateway.InvalidRequest) as caught:
        gw.payment_intent_page(starting_after="pi_unknown")
    assert not isinstance(caught.value, gateway.IntentMissing)
    assert isinstance(caught.value, gateway.CursorMissing)
    assert caught.value.code == "resource_missing"
    with pytest.raises(gateway.CursorMissing):
        gw.event_page_after(event_id="evt_gone", types=["payment_intent.succeeded"])


def test_confirming_a_succeeded_intent_is_a_state_conflict(gw):
    paid = create(gw, "pm_card_visa")
    with pytest.raises(gateway.IntentStateConflict) as caught:
        gw.payment_intent_confirm(intent_id=paid.id, idempotency_key="c-again")
    assert isinstance(caught.value, gateway.InvalidRequest)
    assert caught.value.code == "payment_intent_unexpected_state"
    assert caught.value.intent.status == "succeeded"  # Stripe embeds the intent


def test_a_call_our_budget_refuses_is_budget_refused_and_never_sent(gw, sandbox, settings):
    """A background call finding the budget's share for background spent, with no
    patience to wait: refused by us, as a kind of rate limit, before reaching Stripe."""
    settings.STRIPE_RATE_LIMIT_PER_SECOND = settings.STRIPE_RATE_LIMIT_PER_ENDPOINT = 25
    settings.STRIPE_BUDGET_SHARE = 1.0
    settings.STRIPE_BUDGET_FOREGROUND_RESERVE = 25  # all of it kept for the foreground
    with budget.stripe_calls_for("scan"), budget.background_patience(seconds=0):
        with pytest.raises(gateway.BudgetRefused) as caught:
            gw.payment_intent_retrieve(intent_id="pi_any")
    assert isinstance(caught.value, gateway.RateLimited)
    assert caught.value.code == "budget"
    assert sandbox.requests("/v1/payment_intents/pi_any") == []


def test_stripes_own_rate_limit_is_no_budget_refusal(gw, sandbox):
    sandbox.add_fault(path="/v1/payment_intents", action="rate_limit")
    with pytest.raises(gateway.RateLimited) as caught:
        create(gw, "pm_card_visa")
    assert not isinstance(caught.value, gateway.BudgetRefused)


def test_same_idempotency_key_never_creates_two_intents(gw, sandbox):
    first = create(gw, "pm_card_visa", key="order-9-attempt-1")
    second = create(gw, "pm_card_visa", key="order-9-attempt-1")
    assert first.id == second.id
    posts = [r for r in sandbox.requests("/v1/payment_intents") if r["method"] == "POST"]
    assert len(posts) == 2 and len({p["idempotency_key"] for p in posts}) == 1
    # Stripe says which answer is a replay (Idempotent-Replayed): who did the work.
    assert (first.replayed, second.replayed) == (False, True)
    assert gw.payment_intent_retrieve(intent_id=first.id).replayed is False


def test_intent_pages_read_as_json_say_what_stripe_pythons_objects_say(gw, sandbox):
    """The backfill's page, read without stripe-python's objects: each intent as the
    gateway makes it from stripe-python's list (status, error, the failed card, metadata,
    email), newest first, within the window, the cursor only while there is more;
    Stripe's errors ours."""
    create(gw, "pm_card_visa", key="paid")
    with pytest.raises(gateway.CardDeclined):
        create(gw, "pm_card_chargeDeclinedInsufficientFunds", key="declined")
    sandbox.seed(batches=[{"count": 3, "kind": kind, "age_seconds": 600}
                          for kind in ("authentication_failed", "requires_action")])
    sandbox.seed(count=2, kind="succeeded", age_seconds=3 * 86400)  # before the window
    now = int(sandbox.clock()["now"])
    window = {"created_gte": now - 86400, "created_lt": now + 1}
    first = gw.payment_intent_page(limit=5, **window)
    rest = gw.payment_intent_page(limit=5, starting_after=first.cursor, **window)
    assert (len(first.items), first.cursor, len(rest.items), rest.cursor) == (
        5, first.items[-1].id, 3, None)
    listed = gateway.client_get().v1.payment_intents.list(params={
        "limit": 10, "created": {"gte": now - 86400, "lt": now + 1}}).data
    assert first.items + rest.items == [gateway._intent_data(intent) for intent in listed]
    declined = next(i for i in first.items + rest.items if i.last_decline_code)
    assert (declined.last_decline_code, declined.card_last4, declined.metadata) == (
        "insufficient_funds", "9995", {"order": "1"})
    sandbox.add_fault(path="/v1/payment_intents", status=500)
    with pytest.raises(gateway.StripeUnavailable):
        gw.payment_intent_page(limit=5, **window)


def test_charge_pages_are_plain_data_newest_first_within_the_window(gw, sandbox):
    paid = [create(gw, "pm_card_visa", key=f"charge-{n}") for n in range(3)]
    with pytest.raises(gateway.CardDeclined):
        create(gw, "pm_card_chargeDeclinedInsufficientFunds", key="declined")
    sandbox.seed(count=2, kind="succeeded", age_seconds=3 * 86400)  # before the window
    now = int(sandbox.clock()["now"])
    first = gw.charge_page(created_gte=now - 86400, created_lt=now + 1, limit=3)
    assert len(first.items) == 3 and first.cursor == first.items[-1].id
    rest = gw.charge_page(created_gte=now - 86400, created_lt=now + 1, limit=3,
                          starting_after=first.cursor)
    assert len(rest.items) == 1 and rest.cursor is None
    charges = first.items + rest.items
    assert all(isinstance(charge, gateway.ChargeData) for charge in charges)
    declined, succeeded = charges[0], charges[:0:-1]  # newest first: the decline was last
    assert [c.id for c in succeeded] == [intent.latest_charge for intent in paid]
    assert [c.payment_intent for c in succeeded] == [intent.id for intent in paid]
    assert {(c.status, c.captured, c.amount, c.money_taken) for c in succeeded} == \
        {("succeeded", True, 2599, 2599)}
    assert (declined.status, declined.money_taken) == ("failed", 0)


def test_money_taken_counts_captured_money_not_refunded():
    charge = gateway.ChargeData(id="ch_1", payment_intent="pi_1", status="succeeded",
                                captured=True, amount=1000, amount_refunded=400,
                                currency="eur", created=0)
    assert charge.money_taken == 600
    assert gateway.ChargeData(**{**charge.__dict__, "amount_refunded": 1000}).money_taken == 0
    assert gateway.ChargeData(**{**charge.__dict__, "captured": False}).money_taken == 0
    assert gateway.ChargeData(**{**charge.__dict__, "status": "pending"}).money_taken == 0
