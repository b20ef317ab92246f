"""The reconciliation against the sandbox over HTTP (real stripe-python, the real database):
each kind of mismatch is found, made the way it happens (a payment confirmed at Stripe
outside the checkout, a second intent for one order, a row changed by hand), a clean
shop reports none, the lists page, findings are kept once and resolved when they go
away, ops are mailed once, and bad input changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import stripe
from django.utils import timezone

from payments.models import (
    Order,
    PaymentAttempt,
    ReconciliationMismatch,
    ReconciliationRun,
    ScanLock,
)
from payments.monitoring import reconcile
from payments.monitoring.leases import lease_hold
from stripe_sandbox import DEFAULT_SECRET_KEY
from tests.payments.conftest import Shopper, shopper_with_order
from tests.payments.factories import attempt_of, order_of
from tests.waiting import wait_until

Kind = ReconciliationMismatch.Kind


@pytest.fixture(autouse=True)
def fast(site_on_sandbox, settings, monkeypatch):
    settings.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    monkeypatch.setattr(reconcile, "RETRY_DELAYS", (0.0, 0.0))


@pytest.fixture
def stripe_direct(sandbox) -> stripe.StripeClient:
    """Stripe used outside the checkout (the Dashboard, another script, a bug)."""
    return stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox.url},
                               max_network_retries=0)


def paid(product) -> Shopper:
    shopper = shopper_with_order(product)
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"]
    return shopper


def at_the_bank(product) -> tuple[Shopper, str]:
    """A shopper whose payment waits at the bank's challenge (requires_action)."""
    shopper = shopper_with_order(product)
    secret = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"]
    return shopper, secret.split("_secret_")[0]


def found() -> set[tuple[str, str]]:
    return set(ReconciliationMismatch.objects.filter(resolved=False).values_list(
        "kind", "subject"))


# --- a clean shop ----------------------------------------------------------------------------

def test_a_clean_shop_reports_nothing_and_counts_what_it_compared(sandbox, product, db):
    paid(product)
    paid(product)
    declined = shopper_with_order(product)
    assert declined.pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds"
                        ).status_code == 402
    at_the_bank(product)
    sandbox.seed(count=3, kind="succeeded", age_seconds=600)  # another integration's

    run = reconcile.reconciliation_run(days=1)

    assert run.status == ReconciliationRun.Status.DONE
    assert (run.mismatches_found, run.mismatches_new, run.mismatches_resolved) == (0, 0, 0)
    assert run.intents_compared == 4 and run.intents_outside == 3
    assert run.charges_compared == 2 + 1 + 3  # two paid, one declined, the seeded
    assert (run.attempts_compared, run.orders_paid) == (4, 2)
    # The money side by side, per currency; another integration's charges not in it.
    paid_total = sum(Order.objects.filter(status=Order.Status.PAID).values_list(
        "amount", flat=True))
    assert run.money_at_stripe == run.money_here == {"eur": paid_total} and paid_total
    assert run.money_refunded == {}
    assert run.stripe_calls == 2  # one page of intents, one of charges
    assert run.finished_at >= run.started_at and run.trigger == "command"
    assert (run.window_end - run.window_start).total_seconds() == 86400
    assert not ReconciliationMismatch.objects.exists()


# --- each kind -------------------------------------------------------------------------------

def test_a_second_charge_for_one_order_made_at_stripe_is_charged_twice(
        sandbox, product, db, stripe_direct):
    shopper = paid(product)
    order = shopper.order_now()
    twice = stripe_direct.v1.payment_intents.create(params={
        "amount": order.amount, "currency": order.currency, "payment_method": "pm_card_visa",
        "confirm": True, "metadata": {"order": order.reference, "attempt": "1"}})

    run = reconcile.reconciliation_run(days=1)

    assert found() == {(Kind.CHARGED_TWICE, order.reference)}
    mismatch = ReconciliationMismatch.objects.get()
    first = order.attempts.get().latest_charge
    assert sorted(mismatch.charge_ids) == sorted([first, twice.latest_charge])
    assert (mismatch.amount_here, mismatch.amount_at_stripe) == (order.amount, 2 * order.amount)
    assert mismatch.order == order and mismatch.status_at_stripe == "2 charges"
    assert (run.mismatches_found, run.mismatches_new) == (1, 1)
    assert (run.money_at_stripe, run.money_here) == ({"eur": 2 * order.amount},
                                                     {"eur": order.amount})


def test_an_order_paid_days_ago_and_charged_again_at_stripe_is_charged_twice(
        sandbox, product, db, stripe_direct, monkeypatch):
    """The usual second charge: an order paid here days ago, charged again in Stripe's
    Dashboard. The window lists the new charge only; our earlier one, read from Stripe,
    counts too (attacker: neither the event's run nor the daily run named it)."""
    order = paid(product).order_now()
    days_later = timedelta(days=3)
    sandbox.advance_clock(int(days_later.total_seconds()))
    real_now = timezone.now
    monkeypatch.setattr(reconcile, "timezone", SimpleNamespace(
        now=lambda: real_now() + days_later))
    again = stripe_direct.v1.payment_intents.create(params={
        "amount": order.amount, "currency": order.currency, "payment_method": "pm_card_visa",
        "confirm": True, "metadata": {"order": order.reference}})

    run = reconcile.reconciliation_run(days=1)

    assert found() == {(Kind.CHARGED_TWICE, order.reference)}
    mismatch = ReconciliationMismatch.objects.get()
    first = order.attempts.get().latest_charge
    assert sorted(mismatch.charge_ids) == sorted([first, again.latest_charge])
    assert (mismatch.amount_here, mismatch.amount_at_stripe) == (order.amount, 2 * order.amount)
    # "Payment made": the second charge, inside the window, so that a later run resolves
    # the finding once that charge is refunded.
    assert mismatch.occurred_at == datetime.fromtimestamp(again.created, tz=UTC)
    assert run.window_start <= mismatch.occurred_at < run.window_end
    assert run.stripe_calls == 3  # a page of intents, a page of charges, our earlier charge
    # The window's money is the new charge alone; nothing was paid here in it.
    assert (run.money_at_stripe, run.money_here) == ({"eur": order.amount}, {})


def test_an_earlier_charge_refunded_since_is_not_a_second_charge(db, monkeypatch):
    """A merchant who refunded the shopper's payment and charged the order again: one
    charge holds money, no finding; an earlier charge Stripe no longer knows counts
    nothing either (the sandbox makes no refunds: Stripe's answers as they would be)."""
    from payments.stripe import gateway
    from payments.stripe.gateway import ChargeData

    order = order_of(("Lamp", 5198, 1))
    attempt = attempt_of(order, status=PaymentAttempt.Status.SUCCEEDED)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(latest_charge="ch_first")
    refunded = ChargeData(id="ch_first", payment_intent="pi_first", status="succeeded",
                          captured=True, amount=5198, amount_refunded=5198, currency="eur",
                          created=1)
    read = []

    def charge_retrieve(*, charge_id):
        read.append(charge_id)
        if charge_id == "ch_gone":
            raise gateway.InvalidRequest("No such charge: 'ch_gone'", code="resource_missing")
        return refunded

    monkeypatch.setattr(gateway, "charge_retrieve", charge_retrieve)
    work = reconcile.Work(run=ReconciliationRun(), lease=None)
    work.charged_outside.add(order.reference)
    work.taken[order.reference] = {"ch_again": 5198}
    work.charge_created["ch_again"] = 2
    assert reconcile._charged_twice(work) == [] and read == ["ch_first"]

    PaymentAttempt.objects.filter(order=order).update(latest_charge="ch_gone")
    assert reconcile._charged_twice(work) == [] and read == ["ch_first", "ch_gone"]


def test_a_payment_confirmed_at_stripe_but_not_here_is_paid_at_stripe_only(
        sandbox, product, db, stripe_direct):
    shopper, intent_id = at_the_bank(product)
    sandbox.authenticate(intent_id, "complete")
    stripe_direct.v1.payment_intents.confirm(intent_id)  # not through the checkout
    stranger = stripe_direct.v1.payment_intents.create(params={
        "amount": 1000, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True,
        "metadata": {"order": "ord_notours"}})

    reconcile.reconciliation_run(days=1)

    assert found() == {(Kind.PAID_AT_STRIPE_ONLY, intent_id),
                       (Kind.PAID_AT_STRIPE_ONLY, stranger.id)}
    ours = ReconciliationMismatch.objects.get(subject=intent_id)
    assert ours.order == shopper.order and ours.attempt.stripe_id == intent_id
    assert (ours.status_here, ours.status_at_stripe) == ("requires_action", "succeeded")
    assert ours.amount_at_stripe == shopper.order.amount
    unknown = ReconciliationMismatch.objects.get(subject=stranger.id)
    assert unknown.order is None and unknown.status_here == "unknown order"


def test_an_order_marked_paid_without_stripe_is_paid_here_only(sandbox, product, db):
    shopper = shopper_with_order(product)
    Order.objects.filter(pk=shopper.order.pk).update(status=Order.Status.PAID,
                                                     paid_at=timezone.now())

    reconcile.reconciliation_run(days=1)

    assert found() == {(Kind.PAID_HERE_ONLY, shopper.order.reference)}
    mismatch = ReconciliationMismatch.objects.get()
    assert (mismatch.status_here, mismatch.status_at_stripe, mismatch.amount_at_stripe) == \
        ("paid", "no succeeded payment", 0)


def test_an_attempt_held_as_succeeded_that_stripe_did_not_charge_is_paid_here_only(
        sandbox, product, db):
    shopper, intent_id = at_the_bank(product)
    PaymentAttempt.objects.filter(stripe_id=intent_id).update(
        status=PaymentAttempt.Status.SUCCEEDED)
    Order.objects.filter(pk=shopper.order.pk).update(status=Order.Status.PAID)

    reconcile.reconciliation_run(days=1)

    assert found() == {(Kind.PAID_HERE_ONLY, intent_id)}
    assert ReconciliationMismatch.objects.get().status_at_stripe == "requires_action"


def test_an_intent_stripe_no_longer_knows_is_read_alone_and_is_paid_here_only(
        sandbox, product, db):
    shopper = paid(product)
    attempt = shopper.order_now().attempts.get()
    PaymentAttempt.objects.filter(pk=attempt.pk).update(stripe_id="pi_gone")

    run = reconcile.reconciliation_run(days=1)

    assert found() == {(Kind.PAID_HERE_ONLY, "pi_gone")}
    assert ReconciliationMismatch.objects.get().status_at_stripe == "unknown to Stripe"
    # Stripe's intent still names the order, so it is compared (and agrees: the order is
    # paid); the attempt's id is the one Stripe does not know.
    assert (run.intents_compared, run.intents_outside) == (1, 0)


def test_an_amount_that_differs_from_the_order_is_amount_differs(sandbox, product, db):
    shopper = paid(product)
    Order.objects.filter(pk=shopper.order.pk).update(amount=shopper.order.amount + 100)
    intent_id = shopper.order_now().attempts.get().stripe_id

    reconcile.reconciliation_run(days=1)

    assert found() == {(Kind.AMOUNT_DIFFERS, intent_id)}
    mismatch = ReconciliationMismatch.objects.get()
    assert mismatch.amount_at_stripe + 100 == mismatch.amount_here


def test_a_payment_canceled_at_stripe_alone_is_status_differs(sandbox, product, db,
                                                              stripe_direct):
    _, intent_id = at_the_bank(product)
    stripe_direct.v1.payment_intents.cancel(intent_id)

    reconcile.reconciliation_run(days=1)

    assert found() == {(Kind.STATUS_DIFFERS, intent_id)}
    mismatch = ReconciliationMismatch.objects.get()
    assert (mismatch.status_here, mismatch.status_at_stripe) == ("requires_action", "canceled")


def test_a_payment_that_moves_while_the_run_lists_is_no_mismatch(sandbox, product, db,
                                                                 monkeypatch):
    """The listing saw Stripe ahead of us (the shopper's /pay not yet recorded); by the
    time the difference is read again, our row caught up: nothing is recorded."""
    shopper, intent_id = at_the_bank(product)
    sandbox.authenticate(intent_id, "complete")
    real = reconcile._intents_page

    def then_the_shopper_confirms(work, page):
        real(work, page)
        assert shopper.pay(payment_intent_id=intent_id,
                           order_reference=shopper.order.reference).json()["success"]

    monkeypatch.setattr(reconcile, "_intents_page", then_the_shopper_confirms)
    run = reconcile.reconciliation_run(days=1)
    assert run.mismatches_found == 0 and not ReconciliationMismatch.objects.exists()


# --- pages, idempotence, resolution, mail ------------------------------------------------

def test_the_lists_page_and_a_mismatch_on_the_last_page_is_found(sandbox, product, db):
    order = shopper_with_order(product).order
    sandbox.seed(batches=[
        {"count": 150, "kind": "succeeded", "age_seconds": 600, "spread_seconds": 60},
        {"count": 1, "kind": "succeeded", "age_seconds": 3600,
         "metadata": {"order": order.reference}}])

    run = reconcile.reconciliation_run(days=1)

    assert (run.intents_outside, run.intents_compared, run.charges_compared) == (150, 1, 151)
    # two pages of intents, two of charges, and the difference read again
    assert run.stripe_calls == 5
    assert {kind for kind, _ in found()} == {Kind.PAID_AT_STRIPE_ONLY}
    intents = [e for e in sandbox.requests("/v1/payment_intents")
               if (e["method"], e["path"]) == ("GET", "/v1/payment_intents")]
    assert [bool(entry["params"].get("starting_after")) for entry in intents] == [False, True]


def test_running_twice_keeps_one_row_per_finding_and_mails_ops_once(sandbox, product, db,
                                                                    mailbox):
    shopper = shopper_with_order(product)
    Order.objects.filter(pk=shopper.order.pk).update(status=Order.Status.PAID)

    first = reconcile.reconciliation_run(days=1)
    second = reconcile.reconciliation_run(days=3)

    assert ReconciliationMismatch.objects.count() == 1
    mismatch = ReconciliationMismatch.objects.get()
    assert (mismatch.first_run, mismatch.last_run) == (first, second)
    assert (first.mismatches_new, second.mismatches_new, second.mismatches_found) == (1, 0, 1)
    assert (first.mailed, second.mailed) == (2, 0)  # one message per ops address
    assert len(mailbox) == 2 and mismatch.mailed_at is not None
    message = mailbox[0]
    assert message.subject == "Payments reconciliation: 1 new mismatch between Stripe and " \
                              "the shop"
    assert "Paid here, not at Stripe: order " + shopper.order.reference in message.body
    assert "/admin/payments/reconciliationmismatch/?state=open" in message.body


def test_a_fixed_mismatch_is_resolved_and_news_again_if_it_comes_back(sandbox, product, db,
                                                                       mailbox):
    shopper = shopper_with_order(product)
    Order.objects.filter(pk=shopper.order.pk).update(status=Order.Status.PAID)
    reconcile.reconciliation_run(days=1)
    Order.objects.filter(pk=shopper.order.pk).update(status=Order.Status.OPEN)

    fixed = reconcile.reconciliation_run(days=1)
    assert (fixed.mismatches_found, fixed.mismatches_resolved) == (0, 1)
    mismatch = ReconciliationMismatch.objects.get()
    assert mismatch.resolved and mismatch.resolved_at is not None

    Order.objects.filter(pk=shopper.order.pk).update(status=Order.Status.PAID)
    again = reconcile.reconciliation_run(days=1)
    mismatch.refresh_from_db()
    assert not mismatch.resolved and again.mismatches_new == 1 and again.mailed == 2
    assert len(mailbox) == 4


def test_no_ops_address_means_no_mail_and_the_run_is_still_done(sandbox, product, db,
                                                                  mailbox, settings):
    settings.PAYMENTS_OPS_EMAILS = []
    Order.objects.filter(pk=shopper_with_order(product).order.pk).update(
        status=Order.Status.PAID)
    run = reconcile.reconciliation_run(days=1)
    assert run.status == ReconciliationRun.Status.DONE and run.mailed == 0
    assert mailbox == [] and ReconciliationMismatch.objects.get().mailed_at is None


# --- failures and bad input ------------------------------------------------------------

def test_stripe_failing_fails_the_run_and_resolves_nothing(sandbox, product, db):
    shopper = shopper_with_order(product)
    Order.objects.filter(pk=shopper.order.pk).update(status=Order.Status.PAID)
    reconcile.reconciliation_run(days=1)
    Order.objects.filter(pk=shopper.order.pk).update(status=Order.Status.OPEN)
    sandbox.add_fault(method="GET", path="/v1/charges", count=10, action="status", status=500)

    run = reconcile.reconciliation_run(days=1)

    assert run.status == ReconciliationRun.Status.FAILED
    assert run.errors == "Stripe kept failing: no answer from Stripe, or a server error"
    assert run.stripe_calls == 1 + 3
    assert not ReconciliationMismatch.objects.get().resolved


def test_a_run_while_another_holds_the_lease_is_skipped(sandbox, db):
    with lease_hold(name=reconcile.LEASE_NAME, ttl=reconcile.LEASE_TTL) as lease:
        assert lease is not None
        run = reconcile.reconciliation_run(days=1)
    assert run.status == ReconciliationRun.Status.SKIPPED and run.stripe_calls == 0
    assert not sandbox.requests("/v1/payment_intents")
    assert not ScanLock.objects.exists()


@pytest.mark.parametrize(("holder_days", "ended_days_ago", "tries_left", "again"), [
    (1, 0, 6, True),  # the last day's run, an event asked for
    (2, 0, 6, False),  # a run covering the same window: the skip is right
    (31, 7, 6, True),  # a past month reconciled by hand (review)
    (2, 3, 6, True),  # a run killed days ago, its row still running (review)
    (1, 0, 0, False),  # out of tries
])
def test_a_daily_run_skipped_behind_a_narrower_run_runs_again(
        sandbox, db, monkeypatch, holder_days, ended_days_ago, tries_left, again):
    """The last day's run an event asked for held the lease: the daily run (two days) was
    skipped and nothing asked again, so its first day went unreconciled (attacker).
    Behind a run whose window covers its own at both ends, a skip is right; so is giving
    up after its tries."""
    from payments.monitoring import tasks

    queued = []
    monkeypatch.setattr(tasks.reconcile_task, "apply_async", lambda **kw: queued.append(kw))
    end = timezone.now() - timedelta(days=ended_days_ago)
    ReconciliationRun.objects.create(trigger="event", days=holder_days, window_end=end,
                                     window_start=end - timedelta(days=holder_days))
    with lease_hold(name=reconcile.LEASE_NAME, ttl=reconcile.LEASE_TTL):
        assert tasks.reconcile_task(days=2, tries_left=tries_left)["status"] == "skipped"
    assert queued == ([{"kwargs": {"days": 2, "trigger": "beat", "tries_left": 5},
                        "countdown": 600.0}] if again else [])


@pytest.mark.parametrize("days", [0, -1, 366, 10**9, "2", 2.5, True])
def test_bad_days_are_refused_and_nothing_is_written(sandbox, db, days):
    with pytest.raises(ValueError, match="days must"):
        reconcile.reconciliation_run(days=days)
    assert not ReconciliationRun.objects.exists()
    assert not sandbox.requests()


@pytest.mark.parametrize("window", [{}, {"days": 2, "month": "2026-11"}])
def test_a_run_names_either_days_or_a_month(sandbox, db, window):
    with pytest.raises(ValueError, match="name either days or a month"):
        reconcile.reconciliation_run(**window)
    assert not ReconciliationRun.objects.exists()


# --- the beat task ---------------------------------------------------------------------------

def test_the_task_runs_on_a_real_worker_as_beat(sandbox, celery_worker):
    from django.db import connection

    from payments.models import Product
    from payments.monitoring.tasks import reconcile_task
    from tests.conftest import need

    need(connection.vendor == "postgresql", "PostgreSQL is not configured (set DATABASE_URL="
         "postgres://…; .ci/run does): the worker needs its own connection")
    # Not the `product` fixture: its `db` would hold the test in a transaction the
    # worker's connection cannot see.
    product = Product.objects.create(sku="cups", name="Cups", price=2599, currency="eur")
    Order.objects.filter(pk=shopper_with_order(product).order.pk).update(
        status=Order.Status.PAID)
    reconcile_task.delay(days=1)  # no result backend: the run's row is the answer
    wait_until(lambda: ReconciliationRun.objects.filter(
        status=ReconciliationRun.Status.DONE).exists() and not ScanLock.objects.filter(
        name=reconcile.LEASE_NAME).exists(), timeout=60,
        what="the worker's reconciliation run to finish and give its lease back")
    run = ReconciliationRun.objects.get()
    assert (run.trigger, run.days, run.mismatches_found, run.mismatches_new) == \
        ("beat", 1, 1, 1)
    again = reconcile_task(days=1)  # called in this process: what beat's log shows
    assert again == {"run": again["run"], "status": "done", "stripe_calls": 2,
                     "mismatches_found": 1, "mismatches_new": 0, "mailed": 0}


def test_a_past_month_reconciled_afterwards_resolves_nothing(sandbox, db):
    """A past window lists only what Stripe made in it: a November order charged again
    on 1 December was found by the daily run, and reconciling November afterwards closed
    it unseen (review)."""
    now = timezone.localtime()
    previous = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    earlier = reconcile.reconciliation_run(days=1)
    year, number = map(int, previous.split("-"))
    mismatch = ReconciliationMismatch.objects.create(
        kind=ReconciliationMismatch.Kind.CHARGED_TWICE, subject="ord_november",
        stripe_id="pi_november", charge_ids=["ch_1", "ch_2"], currency="eur",
        occurred_at=datetime(year, number, 28, 12, tzinfo=now.tzinfo),
        first_run=earlier, last_run=earlier)

    run = reconcile.reconciliation_run(month=previous)
    assert run.status == ReconciliationRun.Status.DONE and run.mismatches_resolved == 0
    mismatch.refresh_from_db()
    assert not mismatch.resolved

    this_month = reconcile.reconciliation_run(month=now.strftime("%Y-%m"))  # up to now
    assert this_month.window_end > timezone.now() - timedelta(minutes=1)


def test_money_is_written_per_currency_never_summed():
    assert reconcile.money_text({"jpy": 4500, "eur": 123450, "kwd": 5120}) == \
        "1,234.50 EUR · 4,500 JPY · 5.120 KWD"
    assert reconcile.money_text({}) == "none"



def test_a_refund_is_counted_apart_and_a_full_one_holds_nothing(db):
    """"Money at Stripe" is what was charged; refunds apart: a refunded order showed
    "none" beside "Money here: 51.98 EUR" in a run that found nothing (review). The
    sandbox makes no refunds: the charges as Stripe lists them after one."""
    from payments.stripe.gateway import ChargeData

    work = reconcile.Work(run=ReconciliationRun(), lease=None)
    work.order_of_intent.update({"pi_a": "ord_a", "pi_b": "ord_b", "pi_c": "ord_c"})
    charge = lambda i, intent, refunded, **kw: ChargeData(
        id=f"ch_{i}", payment_intent=intent, status=kw.get("status", "succeeded"),
        captured=True, amount=5198, amount_refunded=refunded, currency="EUR", created=1)
    reconcile._charges_page(work, [charge(1, "pi_a", 5198), charge(2, "pi_b", 1000),
                                   charge(3, "pi_c", 0, status="failed")])
    assert work.run.money_at_stripe == {"eur": 2 * 5198}
    assert work.run.money_refunded == {"eur": 5198 + 1000}
    assert work.taken == {"ord_b": {"ch_2": 4198}}  # a full refund holds nothing


def test_money_here_and_the_paid_orders_count_the_orders_paid_in_the_window(
        sandbox, product, db):
    """An order placed before the window and paid in it: "0 paid orders" beside its money
    (two bases, review); both now count it, as its charge at Stripe is of the window."""
    order = paid(product).order_now()
    Order.objects.filter(pk=order.pk).update(created_at=order.created_at - timedelta(days=3))
    run = reconcile.reconciliation_run(days=1)
    assert (run.orders_paid, run.money_here) == (1, {"eur": order.amount})
    assert run.money_at_stripe == {"eur": order.amount}
