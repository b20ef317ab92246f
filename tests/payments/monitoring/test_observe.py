"""A page of intents made outside the checkout observed at once
(``observe.intents_outside_observe``, the backfill's path) leaves the same incidents, the
same counts and the same daily totals as observing them one by one (``intent_observe``),
through a history of opens, refreshes, losses, expiries, payments and cancels."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import DailyTotal, Incident
from payments.monitoring import observe
from payments.monitoring.totals import dashboard_totals_recount, dashboard_totals_stored
from tests.payments.checkout.test_status import INTENT

Kind = Incident.Kind
DECLINED = {"status": "requires_payment_method", "last_error_code": "card_declined",
            "last_decline_code": "insufficient_funds", "last_error_message": "No funds.",
            "card_brand": None, "card_last4": None, "card_country": None}
EXPIRED = {"status": "requires_payment_method",
           "last_error_code": "payment_intent_payment_attempt_expired",
           "last_error_message": "Expired."}


def outside(name: str, *, hours_ago: float, **changes):
    created = int((timezone.now() - timedelta(hours=hours_ago)).timestamp())
    return dataclasses.replace(INTENT, id=f"pi_{name}", created=created, metadata={},
                               **changes)


def history() -> list[list[tuple]]:
    """Rounds of (intent, stale kind) as three backfills would see them."""
    lost = outside("lost", hours_ago=48)  # waiting past the lost-after setting
    waiting = outside("waiting", hours_ago=2)
    declined = outside("declined", hours_ago=5, **DECLINED)
    failed = outside("failed", hours_ago=6, status="requires_payment_method",
                     last_error_code="payment_intent_authentication_failure",
                     last_error_message="Failed.")
    unconfirmed = outside("unconfirmed", hours_ago=3, status="requires_confirmation")
    expired = outside("expired", hours_ago=4, **EXPIRED)
    paid = outside("paid", hours_ago=1, status="succeeded")
    legacy = outside("legacy", hours_ago=7, status="requires_payment_method",
                     last_error_code="authentication_required",
                     last_decline_code="authentication_not_handled",
                     last_error_message="Not handled.", card_brand=None, card_last4=None,
                     card_country=None, receipt_email="b@example.com", currency="usd",
                     amount=990)
    first = [(lost, Kind.ACTION_ABANDONED), (waiting, Kind.ACTION_ABANDONED),
             (declined, None), (failed, None), (unconfirmed, Kind.CONFIRMATION_ABANDONED),
             (expired, None), (paid, None), (legacy, None)]
    then = [(dataclasses.replace(lost, status="succeeded"), None),
            (dataclasses.replace(waiting, status="succeeded"), None),
            (dataclasses.replace(declined, status="canceled"), None),
            (failed, None),
            (dataclasses.replace(unconfirmed, **EXPIRED), None),
            (dataclasses.replace(legacy, card_brand="amex", card_last4="0005",
                                 card_country="US"), None),
            (outside("new", hours_ago=1, **DECLINED), None)]
    return [first, then, then]


def incidents_now() -> list[tuple]:
    return sorted(Incident.objects.values_list(
        "stripe_id", "kind", "status", "intent_status", "amount", "currency", "card_brand",
        "card_last4", "card_country", "customer_email", "error_code", "decline_code",
        "error_message", "intent_created_at", "source", "attempt", "order"))


def replay(rounds: list[list[tuple]], observe_round) -> list[tuple]:
    """Per round: (opened, resolved, the incidents, which are resolved, the totals)."""
    Incident.objects.all().delete()
    DailyTotal.objects.all().delete()
    states = []
    for seen in rounds:
        opened, resolved = observe_round(seen)
        states.append((opened, resolved, incidents_now(),
                       sorted(Incident.objects.filter(resolved_at__isnull=False)
                              .values_list("stripe_id", "kind")),
                       dashboard_totals_stored().changed()))
        assert dashboard_totals_stored().minus(dashboard_totals_recount()).changed() == []
    return states


def one_by_one(seen: list[tuple]) -> tuple[int, int]:
    opened = resolved = 0
    for intent, stale_kind in seen:
        observation = observe.intent_observe(intent=intent, source="scan", actor="scan:1",
                                             stale_kind=stale_kind)
        opened, resolved = opened + observation.opened, resolved + observation.resolved
    return opened, resolved


def at_once(seen: list[tuple]) -> tuple[int, int]:
    observation = observe.intents_outside_observe(intents=seen, source="scan")
    assert observation.attempt is None
    return observation.opened, observation.resolved


@pytest.mark.django_db
def test_a_page_at_once_leaves_what_one_by_one_leaves(settings):
    settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS = 86400
    rounds = history()
    expected = replay(rounds, one_by_one)
    # The history covers each way: opened, lost at once, refreshed with a card, ended
    # recovered from open and from lost, canceled, expired, and nothing new the third time.
    assert [(opened, resolved) for opened, resolved, *_ in expected] == [(7, 0), (2, 4), (0, 0)]
    statuses = {(stripe_id, kind): status for stripe_id, kind, status, *_ in expected[1][2]}
    assert statuses == {
        ("pi_lost", Kind.ACTION_ABANDONED): "recovered",
        ("pi_waiting", Kind.ACTION_ABANDONED): "recovered",
        ("pi_declined", Kind.CARD_DECLINED): "canceled",
        ("pi_failed", Kind.AUTHENTICATION_FAILED): "open",
        ("pi_unconfirmed", Kind.CONFIRMATION_ABANDONED): "lost",
        ("pi_unconfirmed", Kind.EXPIRED): "open",
        ("pi_expired", Kind.EXPIRED): "open",
        ("pi_legacy", Kind.REQUIRES_ACTION_NOT_HANDLED): "open",
        ("pi_new", Kind.CARD_DECLINED): "open"}
    assert replay(rounds, at_once) == expected


@pytest.mark.django_db
def test_an_empty_page_writes_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        observation = observe.intents_outside_observe(intents=[], source="scan")
    assert (observation.opened, observation.resolved) == (0, 0)



@pytest.mark.django_db
def test_a_page_is_written_in_a_fixed_number_of_queries(django_assert_num_queries):
    """The payments' locks with one read of what they hold (for the totals, to tell a new
    incident from a refresh, and what can end), one upsert per shape of facts, one read
    after, the totals."""
    held = [(outside(f"held{n}", hours_ago=5, **DECLINED), None) for n in range(2)]
    observe.intents_outside_observe(intents=held, source="scan")
    page = [*held, *[(outside(f"new{n}", hours_ago=5, **DECLINED), None) for n in range(3)],
            (outside("paid", hours_ago=1, status="succeeded"), None),
            (outside("expired", hours_ago=4, **EXPIRED, card_brand=None, card_last4=None,
                     card_country=None), None)]
    # The paid one and the expired one have nothing to end: no update.
    with django_assert_num_queries(4):
        observation = observe.intents_outside_observe(intents=page, source="scan")
    assert (observation.opened, observation.resolved) == (4, 0)
    assert Incident.objects.filter(kind=Kind.CARD_DECLINED).count() == 5
    assert Incident.objects.filter(stripe_id="pi_expired", kind=Kind.EXPIRED).exists()
