"""Ops actions through payments.recovery.actions, against the sandbox."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from payments.models import Incident, Order, PaymentAttempt
from payments.recovery import actions
from tests.payments.conftest import server_calls, shopper_abandoned

pytestmark = pytest.mark.usefixtures("quick_scans")


def execute(action: str, incidents, user, **extra):
    return actions.recovery_execute(
        action=action, user=user, token=uuid.uuid4(),
        seen={i.pk: actions.incident_version(i) for i in incidents}, **extra)


def test_confirm_now_pays_the_order_and_names_the_staff_user(product, sandbox, ops):
    shopper, incident = shopper_abandoned(product, sandbox, authenticated=True)
    assert incident.kind == "confirmation_abandoned"
    plan = actions.recovery_plan(action="confirm", incidents=[incident])
    assert (plan.eligible, plan.skipped) == ([incident], [])
    outcome = execute("confirm", [incident], ops)
    assert outcome.message == "1 confirmed"
    assert shopper.order_now().status == Order.Status.PAID
    attempt = shopper.order.attempts.get()
    assert attempt.events.get(to_status="succeeded").actor == "user:olga"
    incident.refresh_from_db()
    assert incident.status == "recovered"


def test_a_form_submitted_twice_acts_once(product, sandbox, ops):
    _, incident = shopper_abandoned(product, sandbox, authenticated=True)
    token, seen = uuid.uuid4(), {incident.pk: actions.incident_version(incident)}
    actions.recovery_execute(action="confirm", seen=seen, token=token, user=ops)
    with pytest.raises(actions.AlreadySubmitted) as error:
        actions.recovery_execute(action="confirm", seen=seen, token=token, user=ops)
    assert error.value.previous.summary == "1 confirmed"
    confirms = [c for c in server_calls(sandbox) if c["path"].endswith("/confirm")]
    assert len(confirms) == 1


def test_paid_changed_and_unfit_incidents_are_skipped_with_the_reason(product, sandbox, ops):
    paid_shopper, paid = shopper_abandoned(product, sandbox, authenticated=True)
    assert paid_shopper.pay(payment_intent_id=paid.stripe_id).json()["success"] is True
    _, waiting_at_bank = shopper_abandoned(product, sandbox, authenticated=False)
    _, changed = shopper_abandoned(product, sandbox, authenticated=True)
    shown = Incident.objects.filter(pk__in=[paid.pk, waiting_at_bank.pk, changed.pk])
    seen = {i.pk: actions.incident_version(i) for i in shown}  # as the page showed them
    Incident.objects.filter(pk=changed.pk).update(last_seen_at=timezone.now())
    outcome = actions.recovery_execute(action="confirm", seen=seen, token=uuid.uuid4(),
                                        user=ops)
    assert outcome.done == 0
    assert dict(outcome.skipped) == {"already recovered (paid later)": 1,
                                     "not awaiting confirmation": 1,
                                     "changed since you looked": 1}
    assert "0 confirmed, 1 skipped: " in outcome.message


def test_cancel_with_a_reason_cancels_at_stripe_and_the_order(product, sandbox, ops,
                                                               stripe_client):
    shopper, incident = shopper_abandoned(product, sandbox, authenticated=False)
    with pytest.raises(ValueError):
        execute("cancel", [incident], ops, reason="bored")
    assert execute("cancel", [incident], ops, reason="requested_by_customer").done == 1
    intent = stripe_client.v1.payment_intents.retrieve(incident.stripe_id)
    assert (intent.status, intent.cancellation_reason) == ("canceled", "requested_by_customer")
    assert shopper.order_now().status == Order.Status.CANCELED
    incident.refresh_from_db()
    assert incident.status == "canceled"


def test_refresh_reads_the_intent_from_stripe(product, sandbox, ops):
    _, incident = shopper_abandoned(product, sandbox, authenticated=False)
    sandbox.authenticate(incident.stripe_id, "complete")
    assert execute("refresh", [incident], ops).message == "1 refreshed"
    assert PaymentAttempt.objects.get(stripe_id=incident.stripe_id).status == \
        "requires_confirmation"
