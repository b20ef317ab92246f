"""The checkout's services called directly, as a scan, an ops action or another view
would call them (payments.checkout.services), against the sandbox over HTTP.

/pay's tests (test_views.py and the test_pay_* files) go through the endpoint; these
pin down what the services themselves promise: their outcomes, their errors, one intent
per order, and what finalize and cancel do and refuse.
"""

from __future__ import annotations

import pytest

from payments.checkout import errors, services
from payments.checkout.status import payment_status_record
from payments.models import Order, PaymentAttempt, PaymentEvent
from payments.stripe import gateway
from tests.payments.conftest import server_calls

Status = PaymentAttempt.Status
ACTOR = "test:services"


@pytest.fixture
def order(site_on_sandbox, db) -> Order:
    return Order.objects.create(email="shopper@example.com", amount=5198, currency="eur")


def intent_of(order: Order) -> str:
    return order.attempts.get().stripe_id


def read_from_stripe(order: Order) -> PaymentAttempt:
    """What a scan does before finalizing: the intent read fresh and recorded."""
    attempt = order.attempts.get()
    intent = gateway.payment_intent_retrieve(intent_id=attempt.stripe_id)
    return payment_status_record(attempt=attempt, intent=intent,
                                 source=PaymentEvent.Source.SCAN, actor="scan:1")


def pay(order: Order, card: str) -> services.PayOutcome:
    return services.checkout_pay(order_reference=order.reference, payment_method_id=card,
                                 actor=ACTOR)


def test_pay_with_a_card_that_needs_nothing_pays_the_order(order, sandbox):
    outcome = pay(order, "pm_card_visa")
    assert outcome == services.PayOutcome(status=Status.SUCCEEDED)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    [attempt] = order.attempts.all()
    assert (attempt.status, attempt.amount, attempt.currency) == (Status.SUCCEEDED, 5198, "eur")
    assert [(e.from_status, e.to_status, e.actor) for e in attempt.events.all()] == [
        (Status.CREATING, Status.SUCCEEDED, ACTOR)]
    assert len(server_calls(sandbox)) == 1
    # Paid: asking again answers from our row, without a Stripe call.
    assert pay(order, "pm_card_visa").status == Status.SUCCEEDED
    assert len(server_calls(sandbox)) == 1


def test_pay_then_confirm_after_the_banks_challenge(order, sandbox):
    outcome = pay(order, "pm_card_authenticationRequired")
    assert outcome.status == Status.REQUIRES_ACTION
    intent_id = intent_of(order)
    assert outcome.client_secret.startswith(f"{intent_id}_secret_")
    sandbox.authenticate(intent_id, "complete")
    confirmed = services.checkout_confirm(order_reference=order.reference,
                                          payment_intent_id=intent_id, actor=ACTOR)
    assert confirmed.status == Status.SUCCEEDED
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_a_decline_raises_with_its_code_and_another_card_pays_the_same_intent(order, sandbox):
    with pytest.raises(errors.PaymentDeclined) as declined:
        pay(order, "pm_card_chargeDeclinedInsufficientFunds")
    assert declined.value.decline_code == "insufficient_funds"
    assert declined.value.message  # for the shopper
    intent_id = intent_of(order)
    assert pay(order, "pm_card_visa").status == Status.SUCCEEDED
    assert intent_of(order) == intent_id  # one intent per order, confirmed again
    assert [c["method"] for c in server_calls(sandbox, f"/v1/payment_intents/{intent_id}")
            ] == ["POST"]


def test_confirm_of_an_intent_that_is_not_the_orders_is_refused(order, sandbox):
    other = Order.objects.create(email="other@example.com", amount=100, currency="eur")
    pay(other, "pm_card_authenticationRequired")
    with pytest.raises(errors.IntentNotFound):
        services.checkout_confirm(order_reference=order.reference,
                                  payment_intent_id=intent_of(other), actor=ACTOR)
    with pytest.raises(errors.OrderMismatch):
        services.checkout_confirm(order_reference=order.reference,
                                  payment_intent_id=intent_of(other), actor=ACTOR,
                                  owned=[order.reference, other.reference])


def test_finalize_confirms_an_authenticated_payment_once(order, sandbox):
    pay(order, "pm_card_authenticationRequired")
    intent_id = intent_of(order)
    sandbox.authenticate(intent_id, "complete")
    assert read_from_stripe(order).status == Status.REQUIRES_CONFIRMATION
    finalize = lambda: services.checkout_finalize(  # noqa: E731
        order_reference=order.reference, payment_intent_id=intent_id,
        source=PaymentEvent.Source.SCAN, actor="scan:1")
    assert finalize() is True
    assert finalize() is False  # paid already: no second confirm
    confirms = [c for c in server_calls(sandbox, f"/v1/payment_intents/{intent_id}/confirm")]
    assert len(confirms) == 1
    attempt = order.attempts.get()
    assert attempt.status == Status.SUCCEEDED
    assert attempt.events.filter(source="scan", actor="scan:1",
                                 to_status=Status.SUCCEEDED).exists()


def test_finalize_refuses_a_payment_still_at_the_bank(order, sandbox):
    pay(order, "pm_card_authenticationRequired")
    with pytest.raises(errors.OrderNotPayable):
        services.checkout_finalize(order_reference=order.reference,
                                   payment_intent_id=intent_of(order),
                                   source=PaymentEvent.Source.ADMIN, actor="user:olga")
    assert server_calls(sandbox, f"/v1/payment_intents/{intent_of(order)}/confirm") == []


def test_cancel_cancels_the_intent_and_the_order_once(order, sandbox, stripe_client):
    pay(order, "pm_card_authenticationRequired")
    intent_id = intent_of(order)
    cancel = lambda: services.checkout_cancel(  # noqa: E731
        order_reference=order.reference, payment_intent_id=intent_id,
        reason="requested_by_customer", source=PaymentEvent.Source.ADMIN, actor="user:olga")
    assert cancel() is True
    assert cancel() is False  # canceled already
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELED
    intent = stripe_client.v1.payment_intents.retrieve(intent_id)
    assert (intent.status, intent.cancellation_reason) == ("canceled", "requested_by_customer")
    with pytest.raises(errors.OrderNotPayable):
        pay(order, "pm_card_visa")


@pytest.mark.parametrize("fault", [
    {"status": 500, "when": "stored"},  # kept under the key: a fixed key failed for a day
    {"action": "drop", "when": "after"},  # canceled, the answer lost past the retries
])
def test_a_cancel_that_failed_is_done_or_found_done_by_the_next(order, sandbox,
                                                                 stripe_client, fault):
    pay(order, "pm_card_authenticationRequired")
    intent_id = intent_of(order)
    sandbox.add_fault(method="POST", path=f"/v1/payment_intents/{intent_id}/cancel",
                      count=3, **{"action": "status", **fault})
    cancel = lambda: services.checkout_cancel(  # noqa: E731
        order_reference=order.reference, payment_intent_id=intent_id,
        reason="requested_by_customer", source=PaymentEvent.Source.ADMIN, actor="user:olga")
    with pytest.raises(errors.PaymentUnavailable):
        cancel()
    sandbox.clear_faults()
    cancel()
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELED
    assert stripe_client.v1.payment_intents.retrieve(intent_id).status == "canceled"


def test_cancel_refuses_a_paid_order(order, sandbox):
    pay(order, "pm_card_visa")
    with pytest.raises(errors.OrderNotPayable):
        services.checkout_cancel(order_reference=order.reference,
                                 payment_intent_id=intent_of(order), reason="abandoned",
                                 source=PaymentEvent.Source.ADMIN, actor="user:olga")
    assert server_calls(sandbox, f"/v1/payment_intents/{intent_of(order)}/cancel") == []


@pytest.mark.parametrize(("owned", "given", "expected"), [
    (["A"], "A", "A"),  # the page names its order
    (["A", "B"], None, "B"),  # one awaiting payment (A is paid)
    (["A"], None, "A"),  # none awaiting: the last, answered without a Stripe call
])
def test_which_order_a_call_pays(db, owned, given, expected):
    orders = {name: Order.objects.create(email="s@example.com", amount=100, currency="eur")
              for name in ("A", "B")}
    Order.objects.filter(pk=orders["A"].pk).update(status=Order.Status.PAID)
    reference = services.checkout_order_reference(
        owned=[orders[name].reference for name in owned],
        order_reference=orders[given].reference if given else None, payment_intent_id=None)
    assert reference == orders[expected].reference


def test_which_order_refuses_a_guess(db):
    first, second = (Order.objects.create(email="s@example.com", amount=100, currency="eur")
                     for _ in range(2))
    owned = [first.reference, second.reference]
    with pytest.raises(errors.OrderAmbiguous):
        services.checkout_order_reference(owned=owned, order_reference=None,
                                          payment_intent_id=None)
    with pytest.raises(errors.OrderNotFound):
        services.checkout_order_reference(owned=[first.reference],
                                          order_reference=second.reference,
                                          payment_intent_id=None)
    with pytest.raises(errors.OrderNotFound):
        services.checkout_order_reference(owned=[], order_reference=None,
                                          payment_intent_id=None)


def test_the_order_read_in_plain_sql_reads_what_the_orm_reads(db, monkeypatch):
    """On PostgreSQL the order and its attempt are read by one plain query; whatever the
    case, it gives what the ORM's reading gives (every column, the attempt's order)."""
    from django.db import connection

    from tests.conftest import need

    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    bare = Order.objects.create(email="a@example.com", amount=5198, currency="eur")
    retried = Order.objects.create(email="b@example.com", amount=5198, currency="eur")
    for number, stripe_id in ((1, "pi_first"), (3, "pi_third"), (2, "pi_second")):
        PaymentAttempt.objects.create(order=retried, number=number, stripe_id=stripe_id,
                                      create_payment_method="pm_x", amount=5198,
                                      currency="eur", confirmation_method="manual")
    cases = [(bare.reference, None), (retried.reference, None),
             (retried.reference, "pi_first"), (retried.reference, "pi_other"),
             (bare.reference, "pi_first"), ("ord_nosuchorder", None),
             ("ord_nosuchorder", "pi_first")]

    def rows(read):
        order, attempt = read
        as_dict = (lambda row: None if row is None else
                   {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields})
        return (as_dict(order), as_dict(attempt),
                attempt is not None and attempt.order is order)

    by_sql = [rows(services._order_read(*case)) for case in cases]
    monkeypatch.setattr(connection, "vendor", "sqlite")  # the ORM's reading
    by_orm = [rows(services._order_read(*case)) for case in cases]
    assert by_sql == by_orm
    assert by_sql[1][1]["stripe_id"] == "pi_third"  # the latest by number, not by insert
    assert by_sql[2][1]["stripe_id"] == "pi_first" and by_sql[3][1] is None
    assert by_sql[5] == (None, None, False)


def test_the_attempt_insert_in_plain_sql_writes_what_the_orm_writes(db, monkeypatch, settings):
    """On PostgreSQL the attempt is inserted by one cached plain statement; the row and the
    instance it returns are those of the ORM's save (defaults, the clocks, the order), and
    a second attempt under the same number is refused as a payment in progress."""
    from django.db import connection
    from django.utils import timezone

    from tests.conftest import need

    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    settings.PAYMENTS_HANDLE_ACTIONS = True
    by_sql_order = Order.objects.create(email="a@example.com", amount=5198, currency="eur")
    by_orm_order = Order.objects.create(email="b@example.com", amount=5198, currency="eur")
    before = timezone.now()
    by_sql = services._attempt_start(by_sql_order, None, "pm_card_visa")
    with monkeypatch.context() as patched:
        patched.setattr(connection, "vendor", "sqlite")  # the ORM's save
        by_orm = services._attempt_start(by_orm_order, None, "pm_card_visa")
    after = timezone.now()

    def columns(attempt: PaymentAttempt) -> dict:
        return {f.attname: getattr(attempt, f.attname)
                for f in PaymentAttempt._meta.concrete_fields}

    stored_sql, stored_orm = (PaymentAttempt.objects.get(pk=a.pk) for a in (by_sql, by_orm))
    assert columns(by_sql) == columns(stored_sql) and columns(by_orm) == columns(stored_orm)
    assert not by_sql._state.adding and by_sql._state.db == "default"
    clocks = ("created_at", "updated_at", "create_requested_at")
    for attempt in (stored_sql, stored_orm):
        assert all(before <= getattr(attempt, name) <= after for name in clocks)
    differ = {"id", "order_id", *clocks}
    assert {k: v for k, v in columns(stored_sql).items() if k not in differ} == \
        {k: v for k, v in columns(stored_orm).items() if k not in differ}
    assert (stored_sql.order_id, stored_sql.number, stored_sql.status,
            stored_sql.confirmation_method) == (by_sql_order.pk, 1, Status.CREATING, "manual")
    with pytest.raises(errors.PaymentInProgress):
        services._attempt_start(by_sql_order, None, "pm_card_visa")  # number 1 again
    assert by_sql_order.attempts.count() == 1
    # The plain INSERT sends no save signals: a receiver added for attempts would miss it.
    from django.db.models.signals import post_save, pre_save
    assert not pre_save.has_listeners(PaymentAttempt)
    assert not post_save.has_listeners(PaymentAttempt)
