"""Ops actions through payments.recovery.actions, against the sandbox: a page's token
issued and stored by the site, taken once, each payment's own result; what Stripe refuses
and what only a scan changed."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.db import connection
from django.utils import timezone, translation

from payments.checkout.services import checkout_cancel, checkout_order_held
from payments.models import Incident, OpsAction, Order, PaymentAttempt, RecoveryLink
from payments.recovery import actions
from tests.conftest import need
from tests.payments.conftest import server_calls, shopper_abandoned
from tests.payments.factories import incident_of

pytestmark = pytest.mark.usefixtures("quick_scans")


def execute(action: str, incidents, user, **extra):
    """What the confirmation page and its submit do: issue, take the token, run."""
    record = actions.recovery_issue(action=action, incidents=list(incidents), user=user)
    record = actions.recovery_submit(token=record.pk, action=action, user=user, **extra)
    return actions.recovery_run(action_id=record.pk)


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
    token = actions.recovery_issue(action="confirm", incidents=[incident], user=ops).pk
    actions.recovery_run(action_id=actions.recovery_submit(token=token, action="confirm",
                                                           user=ops).pk)
    with pytest.raises(actions.AlreadySubmitted) as error:
        actions.recovery_submit(token=token, action="confirm", user=ops)
    assert error.value.previous.summary == "1 confirmed"
    confirms = [c for c in server_calls(sandbox) if c["path"].endswith("/confirm")]
    assert len(confirms) == 1


def test_paid_changed_and_unfit_incidents_are_skipped_with_the_reason(product, sandbox, ops):
    paid_shopper, paid = shopper_abandoned(product, sandbox, authenticated=True)
    assert paid_shopper.pay(payment_intent_id=paid.stripe_id).json()["success"] is True
    _, waiting_at_bank = shopper_abandoned(product, sandbox, authenticated=False)
    _, changed = shopper_abandoned(product, sandbox, authenticated=True)
    shown = Incident.objects.filter(pk__in=[paid.pk, waiting_at_bank.pk, changed.pk])
    issued = actions.recovery_issue(action="confirm", incidents=list(shown), user=ops)
    # Another ops person canceled its order meanwhile.
    Order.objects.filter(pk=changed.order_id).update(status=Order.Status.CANCELED)
    actions.recovery_submit(token=issued.pk, action="confirm", user=ops)
    outcome = actions.recovery_run(action_id=issued.pk)
    assert outcome.done == 0
    assert dict(outcome.skipped) == {"already recovered (paid later)": 1,
                                     "not awaiting confirmation": 1,
                                     "already canceled": 1}  # the reason, not "changed"
    assert "0 confirmed, 1 skipped: " in outcome.message


def test_a_german_admins_action_stores_the_words_an_english_ones_does(product, sandbox, ops):
    """What an action stores (each payment's detail, the summary, the admin's history) is
    English whoever runs it: a one-payment action runs in the staff member's request, in
    their language. The pages translate the stored words when they show them."""
    paid_shopper, paid = shopper_abandoned(product, sandbox, authenticated=True)
    assert paid_shopper.pay(payment_intent_id=paid.stripe_id).json()["success"] is True
    _, ended = shopper_abandoned(product, sandbox, authenticated=False)
    Incident.objects.filter(pk=ended.pk).update(status=Incident.Status.AUTO_FINALIZED)
    _, open_one = shopper_abandoned(product, sandbox, authenticated=False)
    shown = [Incident.objects.get(pk=incident.pk) for incident in (paid, ended, open_one)]
    with translation.override("de"):
        record = actions.recovery_issue(action="cancel", incidents=shown, user=ops)
        actions.recovery_submit(token=record.pk, action="cancel", user=ops,
                                reason="fraudulent")
        actions.recovery_run(action_id=record.pk)
    details = list(record.items.order_by("position").values_list("detail", flat=True))
    assert details == ["already recovered (paid later)", "already auto-finalized", "canceled"]
    record.refresh_from_db()
    assert record.summary == "1 canceled, 1 skipped: already recovered (paid later), " \
                             "1 skipped: already auto-finalized"
    entry = LogEntry.objects.get(object_id=str(open_one.pk),
                                 content_type__model="incident")
    assert entry.get_change_message().startswith("Cancel (Fraudulent): canceled")
    with translation.override("de"):
        assert [actions.detail_words(detail) for detail in details] == \
            ["bereits gerettet (später bezahlt)", "bereits automatisch abgeschlossen",
             "storniert"]
    with translation.override("fr"):
        assert actions.detail_words("already lost") == "déjà perdu"
    assert actions.detail_words("Stripe refused: no such card") == \
        "Stripe refused: no such card"  # Stripe's own words, as stored


def test_an_outcome_reads_in_the_readers_language_with_its_plural_and_stores_english():
    outcome = actions.Outcome(action="cancel", done=2,
                              skipped=Counter({"already lost": 1, "Stripe refused: no": 3}))
    with translation.override("de"):
        assert outcome.words() == "2 storniert, 1 übersprungen: bereits verloren, " \
                                  "3 übersprungen: Stripe refused: no"
        assert outcome.message == "2 canceled, 1 skipped: already lost, " \
                                  "3 skipped: Stripe refused: no"  # stored
    with translation.override("fr"):
        assert outcome.words().startswith("2 annulés, 1 ignoré : déjà perdu, 3 ignorés")
        one = actions.Outcome(action="send_link", done=1, unfinished=2)
        assert one.words() == "1 lien envoyé, 2 encore à faire"
        assert one.message == "1 link sent, 2 still to do"


def test_a_stored_summary_reads_in_the_readers_language_with_why_it_stopped(
        product, sandbox, ops):
    _, incident = shopper_abandoned(product, sandbox, authenticated=False)
    record = actions.recovery_issue(action="refresh", incidents=[incident], user=ops)
    record.items.update(result="done", detail="refreshed")
    OpsAction.objects.filter(pk=record.pk).update(
        status=OpsAction.Status.FAILED, summary="1 refreshed (stopped: TimeLimitExceeded)")
    record.refresh_from_db()
    with translation.override("de"):
        assert actions.recovery_summaries(records=[record]) == {
            record.pk: "1 aktualisiert (abgebrochen: TimeLimitExceeded)"}
    assert actions.recovery_summaries(records=[record])[record.pk] == record.summary


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


def test_a_token_is_taken_once_by_whom_it_was_issued_to_for_its_action(product, sandbox,
                                                                       ops, django_user_model):
    _, incident = shopper_abandoned(product, sandbox, authenticated=True)
    token = actions.recovery_issue(action="confirm", incidents=[incident], user=ops).pk
    someone = django_user_model.objects.create_user("otto", is_staff=True)
    for attempt in ({"token": uuid.uuid4(), "action": "confirm", "user": ops},  # made up
                    {"token": token, "action": "confirm", "user": someone},  # not hers
                    {"token": token, "action": "cancel", "user": ops,  # another action
                     "reason": "abandoned"}):
        with pytest.raises(actions.TokenRefused):
            actions.recovery_submit(**attempt)
    OpsAction.objects.filter(pk=token).update(
        created_at=timezone.now() - actions.TOKEN_LIFETIME - timedelta(minutes=1))
    with pytest.raises(actions.TokenRefused):  # a page left open overnight
        actions.recovery_submit(token=token, action="confirm", user=ops)
    assert OpsAction.objects.get(pk=token).status == "issued"
    assert Order.objects.get(pk=incident.order_id).status == Order.Status.OPEN


def submitted(product, sandbox, ops) -> OpsAction:
    _, incident = shopper_abandoned(product, sandbox, authenticated=True)
    token = actions.recovery_issue(action="confirm", incidents=[incident], user=ops).pk
    return actions.recovery_submit(token=token, action="confirm", user=ops)


def test_a_running_action_whose_worker_died_is_resumed_and_a_live_one_is_not(product,
                                                                            sandbox, ops):
    from payments.monitoring.leases import lease_hold, lease_ttl

    dead = submitted(product, sandbox, ops)
    live = submitted(product, sandbox, ops)
    # Both were taken by a worker; the live one's worker still holds its lease.
    OpsAction.objects.filter(pk__in=[dead.pk, live.pk]).update(status="running")
    with lease_hold(name=f"{actions.LEASE_PREFIX}{live.pk}", ttl=lease_ttl(),
                    heartbeat=False):
        assert actions.recovery_stalled_resume(budget_seconds=60) == 1
        dead.refresh_from_db()
        live.refresh_from_db()
        assert (dead.status, dead.summary) == ("done", "1 confirmed")
        assert live.status == "running"  # left to its worker
        # And a run of the live one elsewhere (a redelivered message) does nothing.
        assert actions.recovery_run(action_id=live.pk).unfinished
        assert live.items.get().result == "pending"


def test_a_link_sent_while_another_ops_person_cancels_waits_and_is_skipped(
        transactional_db, staff_roles, product, sandbox, ops):
    """Ops person A cancels the order while ops person B's "send a link" (its page shown
    before) runs: B's action waits for the order's lock, then sees the order canceled and
    mails nothing. Before, B read the order while A's cancel was at Stripe and mailed the
    shopper a link to a canceled order (PostgreSQL: SQLite has no such lock)."""
    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    _, incident = shopper_abandoned(product, sandbox, authenticated=False)
    link = actions.recovery_issue(action="send_link", incidents=[incident], user=ops)
    actions.recovery_submit(token=link.pk, action="send_link", user=ops)
    holding, done = threading.Event(), []

    def cancel_as_another_ops_person() -> None:
        with checkout_order_held(order_reference=incident.order.reference):
            holding.set()
            time.sleep(0.5)  # B starts meanwhile
            done.append(checkout_cancel(order_reference=incident.order.reference,
                                        payment_intent_id=incident.stripe_id,
                                        reason="requested_by_customer", source="admin",
                                        actor="user:ana"))
        connection.close()

    other = threading.Thread(target=cancel_as_another_ops_person)
    other.start()
    assert holding.wait(10)
    outcome = actions.recovery_run(action_id=link.pk)
    other.join()
    assert done == [True]
    assert (outcome.done, dict(outcome.skipped)) == (0, {"already canceled": 1})
    assert not mail.outbox and not RecoveryLink.objects.exists()


def test_an_error_of_ours_on_one_payment_fails_it_and_the_others_go_on(product, sandbox, ops,
                                                                       monkeypatch):
    """Even before the payment is read again (its lock, its read): that payment's result
    says so, the next is acted on, and the action finishes."""
    _, first = shopper_abandoned(product, sandbox, authenticated=False)
    _, second = shopper_abandoned(product, sandbox, authenticated=False)
    reread, failed = actions._incident_reread, []

    def reread_failing_once(incident):
        if not failed:
            failed.append(incident.pk)
            raise RuntimeError("the database went away")
        return reread(incident)

    monkeypatch.setattr(actions, "_incident_reread", reread_failing_once)
    outcome = execute("refresh", [first, second], ops)
    assert (outcome.done, dict(outcome.skipped)) == (
        1, {"failed with an error of ours (logged)": 1})
    assert OpsAction.objects.get().status == OpsAction.Status.DONE


def test_a_links_mail_is_sent_after_the_orders_lock_is_let_go(product, sandbox, ops,
                                                              monkeypatch):
    """A slow mail server must not hold the shopper's /pay: the link's row is made under
    the order's lock, its mail after it (PostgreSQL: SQLite has no such lock)."""
    from payments.checkout import locks

    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    _, incident = shopper_abandoned(product, sandbox, authenticated=False)
    held_while_mailing = []
    mail_link = actions.recovery_link_mail

    def mail_noting_the_lock(**kwargs):
        held_while_mailing.append(getattr(locks._local, "depth", 0))
        return mail_link(**kwargs)

    monkeypatch.setattr(actions, "recovery_link_mail", mail_noting_the_lock)
    assert execute("send_link", [incident], ops).done == 1
    assert held_while_mailing == [0] and len(mail.outbox) == 1


@pytest.mark.parametrize("withdraw", ["deactivated", "out of the group"])
def test_access_withdrawn_mid_run_stops_the_action_at_the_next_payment(product, sandbox, ops,
                                                                        withdraw, monkeypatch):
    """Revoking a user cut their session but not the bulk cancel they had started: it
    went on canceling shoppers' payments in their name."""
    first = shopper_abandoned(product, sandbox, authenticated=False)[1]
    second = shopper_abandoned(product, sandbox, authenticated=False)[1]
    record = actions.recovery_issue(action="cancel", incidents=[first, second], user=ops)
    actions.recovery_submit(token=record.pk, action="cancel", user=ops,
                            reason="requested_by_customer")
    written = actions._history_write

    def then_withdrawn(*args):  # after the first payment is done, an admin revokes ops
        written(*args)
        if withdraw == "deactivated":
            type(ops).objects.filter(pk=ops.pk).update(is_active=False)
        else:
            ops.groups.clear()

    monkeypatch.setattr(actions, "_history_write", then_withdrawn)
    outcome = actions.recovery_run(action_id=record.pk)
    assert outcome.done == 1 and outcome.skipped == Counter({actions.ACCESS_WITHDRAWN: 1})
    assert actions.ACCESS_WITHDRAWN.startswith("not done: the user who started this action")
    cancels = [c for c in server_calls(sandbox) if c["path"].endswith("/cancel")]
    assert len(cancels) == 1
    statuses = sorted(Incident.objects.filter(pk__in=[first.pk, second.pk])
                      .values_list("status", flat=True))
    assert statuses == ["canceled", "open"]


def cancel_submitted(product, sandbox, ops, payments: int) -> tuple[OpsAction, list[Incident]]:
    incidents = [shopper_abandoned(product, sandbox, authenticated=False)[1]
                 for _ in range(payments)]
    record = actions.recovery_issue(action="cancel", incidents=incidents, user=ops)
    actions.recovery_submit(token=record.pk, action="cancel", user=ops,
                            reason="requested_by_customer")
    return record, incidents


def test_stop_mid_run_finishes_the_payment_at_work_and_leaves_the_others(
        product, sandbox, ops, django_user_model, monkeypatch):
    """A bulk cancel started by mistake had no Stop: only revoking its author did."""
    record, incidents = cancel_submitted(product, sandbox, ops, payments=3)
    colleague = django_user_model.objects.create_user("pia", password="x")
    colleague.groups.set(ops.groups.all())  # may cancel too, so may stop it
    written = actions._history_write

    def then_stopped(*args):  # the first payment done, a colleague presses Stop
        written(*args)
        if not OpsAction.objects.get(pk=record.pk).stop_requested_at:
            actions.recovery_stop(action_id=record.pk, user=colleague)

    monkeypatch.setattr(actions, "_history_write", then_stopped)
    outcome = actions.recovery_run(action_id=record.pk)
    assert outcome.done == 1 and outcome.skipped == Counter({actions.STOPPED_BY_OPS: 2})
    record.refresh_from_db()
    assert record.status == OpsAction.Status.STOPPED and record.finished_at
    assert record.stop_requested_by == colleague and (record.done, record.skipped) == (1, 2)
    assert record.summary == ("1 canceled, 2 skipped: stopped before its turn (the payment "
                              "is as it was)")
    assert len([c for c in server_calls(sandbox) if c["path"].endswith("/cancel")]) == 1
    assert sorted(Incident.objects.filter(pk__in=[i.pk for i in incidents])
                  .values_list("status", flat=True)) == ["canceled", "open", "open"]
    # A run after (the resume, a redelivered task) does nothing more.
    assert actions.recovery_run(action_id=record.pk).done == 1
    assert len([c for c in server_calls(sandbox) if c["path"].endswith("/cancel")]) == 1


def test_stop_before_a_worker_takes_it_stops_at_once_and_no_payment_is_touched(
        product, sandbox, ops):
    record, incidents = cancel_submitted(product, sandbox, ops, payments=2)
    stopped = actions.recovery_stop(action_id=record.pk, user=ops)
    assert stopped.status == OpsAction.Status.STOPPED and stopped.skipped == 2
    # The worker, when the broker hands it over later, finds nothing to do.
    assert actions.recovery_run(action_id=record.pk).done == 0
    assert not [c for c in server_calls(sandbox) if c["path"].endswith("/cancel")]
    assert set(Incident.objects.filter(pk__in=[i.pk for i in incidents])
               .values_list("status", flat=True)) == {"open"}


def test_stop_is_refused_to_who_may_not_take_the_action_and_once_it_has_finished(
        product, sandbox, ops, django_user_model):
    record, _incidents = cancel_submitted(product, sandbox, ops, payments=1)
    onlooker = django_user_model.objects.create_user("viv", password="x", is_staff=True)
    with pytest.raises(actions.StopRefused, match="may not stop"):
        actions.recovery_stop(action_id=record.pk, user=onlooker)
    assert OpsAction.objects.get(pk=record.pk).stop_requested_at is None
    actions.recovery_run(action_id=record.pk)
    with pytest.raises(actions.StopRefused, match="has finished"):
        actions.recovery_stop(action_id=record.pk, user=ops)
    record.refresh_from_db()
    assert record.status == OpsAction.Status.DONE and record.stop_requested_at is None


def test_confirm_now_met_by_a_500_after_stripe_charged_says_confirmed_not_skipped(
        product, sandbox, ops):
    """Stripe did the work and kept a 500 under the key: the action said "skipped: We could
    not reach our payment provider. Nothing was charged twice; please try again" while
    the card was charged, and the incident stayed open."""
    shopper, incident = shopper_abandoned(product, sandbox, authenticated=True)
    sandbox.add_fault(method="POST", path=f"/v1/payment_intents/{incident.stripe_id}/confirm",
                      count=1, status=500, when="stored_after")
    outcome = execute("confirm", [incident], ops)
    assert outcome.message == "1 confirmed"
    assert shopper.order_now().status == Order.Status.PAID
    incident.refresh_from_db()
    assert incident.status == "recovered"


def test_confirm_now_when_stripe_stays_silent_says_the_outcome_is_not_known(
        product, sandbox, ops):
    _, incident = shopper_abandoned(product, sandbox, authenticated=True)
    sandbox.add_fault(method="POST", path=f"/v1/payment_intents/{incident.stripe_id}/confirm",
                      count=1, status=500, when="stored_after")
    sandbox.add_fault(method="GET", path=f"/v1/payment_intents/{incident.stripe_id}",
                      count=10, status=500)
    outcome = execute("confirm", [incident], ops)
    assert outcome.message == ("0 confirmed, 1 skipped: Stripe did not answer: whether the "
                               "card was charged is not known yet; Refresh from Stripe "
                               "before acting again")
    incident.refresh_from_db()
    assert incident.status == "open"


def test_cancel_when_stripe_is_down_says_so_in_ops_words(product, sandbox, ops):
    _, incident = shopper_abandoned(product, sandbox, authenticated=False)
    sandbox.add_fault(method="POST", path=f"/v1/payment_intents/{incident.stripe_id}/cancel",
                      count=10, status=503)
    outcome = execute("cancel", [incident], ops, reason="requested_by_customer")
    assert outcome.message == "0 canceled, 1 skipped: Stripe did not answer; try again"


def test_confirm_now_met_by_a_500_before_stripe_did_anything_says_try_again(
        product, sandbox, ops):
    """The read after the 500 finds the payment still waiting for its confirm: as it was,
    and a second Confirm now pays it."""
    shopper, incident = shopper_abandoned(product, sandbox, authenticated=True)
    sandbox.add_fault(method="POST", path=f"/v1/payment_intents/{incident.stripe_id}/confirm",
                      count=1, status=500, when="stored")
    assert execute("confirm", [incident], ops).message == \
        "0 confirmed, 1 skipped: Stripe did not answer; try again"
    assert shopper.order_now().status == Order.Status.OPEN
    incident.refresh_from_db()
    assert execute("confirm", [incident], ops).message == "1 confirmed"
    assert shopper.order_now().status == Order.Status.PAID


def test_confirm_now_after_a_sweeps_failed_one_is_labelled_recovered_by_ops(
        product, sandbox, ops):
    """The sweep's confirm had failed (its send noted), then ops' confirm did the work and
    met a 500: the read labelled the incident "Auto-finalized" (user test)."""
    from payments.monitoring.incidents import incident_finalize_sent

    shopper, incident = shopper_abandoned(product, sandbox, authenticated=True)
    incident_finalize_sent(stripe_id=incident.stripe_id)  # the sweep's, answer lost
    sandbox.add_fault(method="POST", path=f"/v1/payment_intents/{incident.stripe_id}/confirm",
                      count=1, status=500, when="stored_after")
    assert execute("confirm", [incident], ops).message == "1 confirmed"
    incident.refresh_from_db()
    assert incident.status == "recovered"
    assert shopper.order_now().status == Order.Status.PAID


def test_a_stopped_action_says_why_it_would_have_skipped_a_payment_anyway(product, sandbox,
                                                                           ops):
    """A card decline in a stopped action read "stopped before its turn"; a finished one
    says "card decline (nothing for ops to do)" (user test)."""
    left = shopper_abandoned(product, sandbox, authenticated=False)[1]
    declined = incident_of(Incident.Kind.CARD_DECLINED)
    record = actions.recovery_issue(action="cancel", incidents=[left, declined], user=ops)
    actions.recovery_submit(token=record.pk, action="cancel", user=ops,
                            reason="requested_by_customer")
    actions.recovery_stop(action_id=record.pk, user=ops)
    details = dict(record.items.values_list("incident_id", "detail"))
    assert details == {left.pk: actions.STOPPED_BY_OPS,
                       declined.pk: "card decline (nothing for ops to do)"}



def test_a_payment_monitoring_called_lost_can_still_be_linked_or_canceled(product, sandbox,
                                                                          ops):
    """Lost (left a day at the bank) is monitoring's verdict: the order is open and the
    intent still waits. Once the mailed link expired, ops could neither send another nor
    cancel, and the shopper's erasure waited on that cancel (support agent)."""
    _, lost = shopper_abandoned(product, sandbox, authenticated=False)
    Incident.objects.filter(pk=lost.pk).update(status=Incident.Status.LOST)
    lost.refresh_from_db()
    for action in ("send_link", "cancel"):
        issued = actions.recovery_issue(action=action, incidents=[lost], user=ops)
        assert issued.items.get().detail == "", action  # not skipped
    issued = actions.recovery_issue(action="cancel", incidents=[lost], user=ops)
    actions.recovery_submit(token=issued.pk, action="cancel", user=ops, reason="abandoned")
    assert actions.recovery_run(action_id=issued.pk).done == 1
    assert lost.order.__class__.objects.get(pk=lost.order_id).status == Order.Status.CANCELED
    assert PaymentAttempt.objects.get(pk=lost.attempt_id).status == "canceled"
    lost.refresh_from_db()  # its end is known now: canceled (review: it stayed Lost)
    assert lost.status == Incident.Status.CANCELED


def test_an_incident_of_a_payment_the_order_replaced_is_not_acted_on(db, ops):
    """The shopper paid again (a new attempt, at the bank now): a cancel of the old
    payment's incident canceled the order under the live one, a confirm might charge it
    twice (review)."""
    from tests.payments.factories import attempt_of, order_of

    order = order_of(("Lamp", 8900, 1))
    first = attempt_of(order, status="requires_confirmation")
    old = incident_of(Incident.Kind.CONFIRMATION_ABANDONED, attempt=first,
                      status=Incident.Status.LOST)
    attempt_of(order, status="requires_action")  # the live one
    for action in ("cancel", "confirm", "send_link"):
        plan = actions.recovery_plan(action=action, incidents=[old])
        assert plan.eligible == [] and plan.skipped == [
            (old, "a later payment of the order replaced it")], action


def test_the_confirmation_pages_plan_reads_as_much_for_many_payments_as_for_few(db):
    """Whether an order's shopper paid again since is read for the whole page at once
    (a query per payment, up to 500 on a bulk confirmation page)."""
    from django.test.utils import CaptureQueriesContext

    from tests.payments.factories import attempt_of, order_of

    def plan_queries(count: int) -> int:
        for _ in range(count):
            incident_of(Incident.Kind.ACTION_ABANDONED,
                        attempt=attempt_of(order_of(("Lamp", 8900, 1))))
        shown = list(Incident.objects.select_related("attempt", "order"))
        with CaptureQueriesContext(connection) as captured:
            plan = actions.recovery_plan(action="cancel", incidents=shown)
        assert len(plan.eligible) == len(shown)
        return len(captured)

    assert plan_queries(2) == plan_queries(20)
