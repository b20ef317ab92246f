"""payments.monitoring.selectors on a known data set: every total per currency, each payment once
where money is summed, and a fixed number of queries whatever the rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments.admin.dashboard import period_bounds
from payments.models import Incident, Order, PaymentAttempt
from payments.monitoring import selectors
from payments.monitoring.totals import dashboard_totals_rebuild
from tests.payments.factories import totals_recounted

K, S = Incident.Kind, Incident.Status


@dataclass
class Known:
    now: datetime
    since: datetime
    until: datetime
    attempts: dict[str, PaymentAttempt]
    incidents: dict[str, Incident]


def order_new(email: str, amount: int, currency: str) -> Order:
    return Order.objects.create(email=email, amount=amount, currency=currency)


def attempt_new(name: str, *, amount: int, currency: str = "eur", status: str,
                requires_action_at=None, requires_confirmation_at=None,
                email: str | None = None) -> PaymentAttempt:
    order = order_new(email or f"{name}@example.com", amount, currency)
    return totals_recounted(PaymentAttempt.objects.create(
        order=order, number=1, stripe_id=f"pi_{name}", create_payment_method="pm_card",
        status=status, amount=amount, currency=currency, confirmation_method="manual",
        requires_action_at=requires_action_at, requires_confirmation_at=requires_confirmation_at))


def incident_new(kind: str, status: str, *, stripe_id: str, amount: int, currency: str = "eur",
                 first_seen_at: datetime, attempt: PaymentAttempt | None = None,
                 brand: str = "visa", country: str = "DE", decline_code: str = "",
                 resolved_at: datetime | None = None) -> Incident:
    return totals_recounted(Incident.objects.create(
        kind=kind, status=status, stripe_id=stripe_id, attempt=attempt,
        order=attempt.order if attempt else None, amount=amount, currency=currency,
        card_brand=brand, card_last4="3184", card_country=country, decline_code=decline_code,
        customer_email=attempt.order.email if attempt else "",
        intent_status="requires_payment_method",
        first_seen_at=first_seen_at, last_seen_at=first_seen_at, resolved_at=resolved_at,
        source="webhook"))


def known_data() -> Known:
    """The data set the numbers below are worked out from (see each test)."""
    now = timezone.now()
    day = timedelta(days=1)
    a: dict[str, PaymentAttempt] = {}
    i: dict[str, Incident] = {}
    R = PaymentAttempt.Status
    # Challenged in the period (requires_action_at within the last week).
    a["1"] = attempt_new("1", amount=1000, status=R.REQUIRES_PAYMENT_METHOD,
                         requires_action_at=now - day)
    a["2"] = attempt_new("2", amount=2500, currency="usd", status=R.REQUIRES_PAYMENT_METHOD,
                         requires_action_at=now - 2 * day)
    a["3"] = attempt_new("3", amount=500, status=R.SUCCEEDED, requires_action_at=now - 3 * day)
    a["6"] = attempt_new("6", amount=3000, status=R.SUCCEEDED, requires_action_at=now - 5 * day)
    a["12"] = attempt_new("12", amount=800, status=R.REQUIRES_PAYMENT_METHOD,
                          requires_action_at=now - 4 * day)
    # Awaiting confirmation: 10 and 50 minutes left, one past its hour; one at the bank.
    minute = timedelta(minutes=1)
    a["8"] = attempt_new("8", amount=4200, status=R.REQUIRES_CONFIRMATION,
                         requires_action_at=now - 52 * minute,
                         requires_confirmation_at=now - 50 * minute, email="urgent@example.com")
    a["9"] = attempt_new("9", amount=999, currency="usd", status=R.REQUIRES_CONFIRMATION,
                         requires_action_at=now - 12 * minute,
                         requires_confirmation_at=now - 10 * minute, email="later@example.com")
    a["10"] = attempt_new("10", amount=100, status=R.REQUIRES_CONFIRMATION,
                          requires_action_at=now - 72 * minute,
                          requires_confirmation_at=now - 70 * minute)
    a["11"] = attempt_new("11", amount=100, status=R.REQUIRES_ACTION,
                          requires_action_at=now - 5 * minute)
    # Outside the period, or never challenged (legacy mode).
    a["4"] = attempt_new("4", amount=4000, status=R.SUCCEEDED, requires_action_at=now - 40 * day)
    a["7"] = attempt_new("7", amount=1200, status=R.SUCCEEDED)

    i["1"] = incident_new(K.AUTHENTICATION_FAILED, S.OPEN, stripe_id="pi_1", amount=1000,
                          first_seen_at=now - day, attempt=a["1"])
    # One payment, two incidents: left at the challenge (lost), then expired (open).
    i["2a"] = incident_new(K.ACTION_ABANDONED, S.LOST, stripe_id="pi_2", amount=2500,
                           currency="usd", first_seen_at=now - 2 * day, attempt=a["2"],
                           country="US")
    i["2b"] = incident_new(K.EXPIRED, S.OPEN, stripe_id="pi_2", amount=2500, currency="usd",
                           first_seen_at=now - 2 * day + timedelta(hours=1), attempt=a["2"],
                           country="US")
    i["4"] = incident_new(K.AUTHENTICATION_FAILED, S.RECOVERED, stripe_id="pi_4", amount=4000,
                          first_seen_at=now - 40 * day, attempt=a["4"],
                          resolved_at=now - 39 * day)
    i["5"] = incident_new(K.REQUIRES_ACTION_NOT_HANDLED, S.CANCELED, stripe_id="pi_outside",
                          amount=700, currency="gbp", first_seen_at=now - day,
                          brand="mastercard", country="GB",
                          decline_code="authentication_not_handled", resolved_at=now)
    i["6"] = incident_new(K.CONFIRMATION_ABANDONED, S.AUTO_FINALIZED, stripe_id="pi_6",
                          amount=3000, first_seen_at=now - 5 * day, attempt=a["6"],
                          resolved_at=now - 5 * day)
    i["7"] = incident_new(K.REQUIRES_ACTION_NOT_HANDLED, S.RECOVERED, stripe_id="pi_7",
                          amount=1200, first_seen_at=now - 3 * day, attempt=a["7"],
                          brand="amex", country="FR", decline_code="authentication_not_handled",
                          resolved_at=now - day)
    i["8"] = incident_new(K.ACTION_ABANDONED, S.LOST, stripe_id="pi_12", amount=800,
                          first_seen_at=now - 4 * day, attempt=a["12"], brand="mastercard",
                          resolved_at=now - 4 * day)
    # Open since before the period, two kinds for one payment.
    i["9"] = incident_new(K.ACTION_ABANDONED, S.OPEN, stripe_id="pi_old", amount=600,
                          first_seen_at=now - 10 * day)
    i["10"] = incident_new(K.EXPIRED, S.OPEN, stripe_id="pi_old", amount=600,
                           first_seen_at=now - 10 * day + timedelta(hours=1))
    since, until = period_bounds(days=7, now=now)
    return Known(now=now, since=since, until=until, attempts=a, incidents=i)


@pytest.fixture
def known(db) -> Known:
    return known_data()


def money(totals: selectors.Totals) -> dict[str, tuple[int, int]]:
    return {t.currency: (t.count, t.amount) for t in totals.by_currency}


def test_open_incidents_by_kind_sum_money_per_currency(known):
    by_kind, total = selectors.incident_open_totals()
    # pi_old has two open incidents (left at the challenge, then expired): one payment,
    # under its latest kind, 600 EUR at risk, not 1200; the rows add up to the total.
    assert {g.value: money(g.totals) for g in by_kind} == {
        K.AUTHENTICATION_FAILED: {"eur": (1, 1000)},
        K.EXPIRED: {"usd": (1, 2500), "eur": (1, 600)},
    }
    assert by_kind[0].value == K.EXPIRED  # the largest count first
    assert total.count == 3 and money(total) == {"eur": (2, 1600), "usd": (1, 2500)}
    assert sum(g.count for g in by_kind) == total.count


def test_open_incidents_of_one_currency(known):
    by_kind, total = selectors.incident_open_totals(currency="usd")
    assert [(g.value, money(g.totals)) for g in by_kind] == [(K.EXPIRED, {"usd": (1, 2500)})]
    assert money(total) == {"usd": (1, 2500)}


def test_expiring_attempts_most_urgent_first_within_the_hour(known):
    expiring = selectors.attempt_expiring_list(now=known.now)
    assert [e.stripe_id for e in expiring] == ["pi_8", "pi_9"]  # pi_10's hour is over
    first = expiring[0]
    assert first.expires_at == known.attempts["8"].requires_confirmation_at + timedelta(hours=1)
    assert timedelta(minutes=9) < first.expires_at - known.now <= timedelta(minutes=10)
    assert (first.email, first.amount, first.currency) == ("urgent@example.com", 4200, "eur")
    assert [e.stripe_id for e in selectors.attempt_expiring_list(now=known.now,
                                                                  currency="usd")] == ["pi_9"]


def test_failed_authentication_rate(known):
    rate = selectors.authentication_failure_rate(since=known.since, until=known.until)
    # Challenged in the week: 1, 2, 3, 6, 12, 8, 9, 10, 11 (not 4: 40 days ago; not 7).
    assert rate.challenged == 9
    # Failures, once per intent: pi_1, pi_2 (two incidents), pi_outside, pi_7, pi_12; not
    # pi_6 (confirmation abandoned, authenticated fine), pi_4 or pi_old (before the week).
    assert rate.failed == 5
    # pi_outside (no attempt) and pi_7 (legacy: never challenged) join the denominator.
    assert rate.asked == 11
    assert rate.rate == pytest.approx(5 / 11)


def test_failed_authentication_rate_without_requests_is_none(db):
    now = timezone.now()
    rate = selectors.authentication_failure_rate(since=now - timedelta(days=7), until=now)
    assert (rate.asked, rate.failed, rate.rate) == (0, 0, None)


def test_outcomes_count_each_payment_once_per_status(known):
    outcomes = selectors.incident_outcome_totals(since=known.since, until=known.until)
    assert {status: money(t) for status, t in outcomes.items()} == {
        # pi_2 once, as its latest incident says: expired, still open (the shopper may pay
        # again); the "left at the challenge" incident before it ended lost.
        S.OPEN: {"eur": (1, 1000), "usd": (1, 2500)},
        S.LOST: {"eur": (1, 800)},
        S.CANCELED: {"gbp": (1, 700)},
        S.RECOVERED: {"eur": (1, 1200)},
        S.AUTO_FINALIZED: {"eur": (1, 3000)},
    }


def test_breakdowns(known):
    def counts(by):
        return {g.value: g.count for g in selectors.incident_breakdown(
            by=by, since=known.since, until=known.until)}
    # Payments, each once as its latest incident says (pi_2: expired, not also left at
    # the challenge): every breakdown adds up to the period's 6 payments.
    assert counts("card_brand") == {"visa": 3, "mastercard": 2, "amex": 1}
    assert counts("decline_code") == {"": 4, "authentication_not_handled": 2}
    assert counts("card_country") == {"DE": 3, "US": 1, "GB": 1, "FR": 1}
    assert counts("kind") == {K.AUTHENTICATION_FAILED: 1, K.ACTION_ABANDONED: 1, K.EXPIRED: 1,
                              K.REQUIRES_ACTION_NOT_HANDLED: 2, K.CONFIRMATION_ABANDONED: 1}
    brands = selectors.incident_breakdown(by="card_brand", since=known.since, until=known.until)
    assert brands[0].value == "visa"
    assert money(brands[0].totals) == {"usd": (1, 2500), "eur": (2, 4000)}
    with pytest.raises(ValueError):
        selectors.incident_breakdown(by="customer_email", since=known.since,  # type: ignore
                                     until=known.until)


def test_daily_series_has_every_day(known):
    daily = selectors.incident_daily_series(since=known.since, until=known.until)
    assert len(daily) == 7
    assert daily[-1].day == timezone.localtime(known.now).date()
    assert sum(d.incidents for d in daily) == 6  # payments, each once (pi_2 had two)
    yesterday = (timezone.localtime(known.now) - timedelta(days=1)).date()
    assert {d.day: d.recovered for d in daily if d.recovered} == {yesterday: 1}  # pi_7


def test_summary_in_a_fixed_number_of_queries(db):
    def queries() -> int:
        now = timezone.now()
        since, until = period_bounds(days=30, now=now)
        with CaptureQueriesContext(connection) as captured:
            selectors.dashboard_summary(since=since, until=until, now=now)
        return len(captured)

    known_data()
    few = queries()
    bulk_incidents(200)
    assert queries() == few <= 12
    # Two recovered incidents of one payment: counted once, its money once.
    now = timezone.now()
    for kind in (K.ACTION_ABANDONED, K.EXPIRED):
        incident_new(kind, S.RECOVERED, stripe_id="pi_twice", amount=5000, currency="chf",
                     first_seen_at=now)
    since, until = period_bounds(days=7, now=now)
    recovered = selectors.incident_outcome_totals(since=since, until=until)[S.RECOVERED]
    assert money(recovered)["chf"] == (1, 5000)


def bulk_incidents(n: int) -> None:
    now = timezone.now()
    kinds, statuses = list(K.values), list(S.values)
    Incident.objects.bulk_create([Incident(
        kind=kinds[k % len(kinds)], status=statuses[k % len(statuses)],
        stripe_id=f"pi_bulk_{k}", amount=100 + k, currency=("eur", "usd", "jpy")[k % 3],
        card_brand=("visa", "mastercard", "amex")[k % 3], card_country=("DE", "FR", "US")[k % 3],
        decline_code=("", "insufficient_funds", "authentication_not_handled")[k % 3],
        intent_status="requires_payment_method", source="scan",
        first_seen_at=now - timedelta(hours=k), resolved_at=now - timedelta(hours=k // 2),
    ) for k in range(n)])
    dashboard_totals_rebuild()


def test_incident_exists_by_intent_order_and_kind(known):
    """Each probe answers as the ORM's ``.exists()`` over the same scope would, in one
    query: by intent, by intent or order, and limited to kinds."""
    order_of_1 = known.attempts["1"].order_id
    order_without = known.attempts["3"].order_id  # its attempt has no incident
    probes = [
        {"stripe_id": "pi_1"},
        {"stripe_id": "pi_none"},
        {"stripe_id": "pi_none", "order_id": order_of_1},
        {"stripe_id": "pi_none", "order_id": order_without},
        {"stripe_id": "pi_2", "kinds": [K.EXPIRED]},
        {"stripe_id": "pi_2", "kinds": [K.AUTHENTICATION_FAILED, K.CONFIRMATION_ABANDONED]},
        {"stripe_id": "pi_old", "kinds": {K.ACTION_ABANDONED, K.EXPIRED}},
        {"stripe_id": "pi_none", "order_id": order_of_1, "kinds": [K.EXPIRED]},
        {"stripe_id": "pi_none", "order_id": order_of_1, "kinds": [K.AUTHENTICATION_FAILED]},
    ]
    answers = []
    for probe in probes:
        with CaptureQueriesContext(connection) as captured:
            answers.append(selectors.incident_exists(**probe))
        assert len(captured) == 1
        scope = Q(stripe_id=probe["stripe_id"])
        if "order_id" in probe:
            scope |= Q(order_id=probe["order_id"])
        expected = Incident.objects.filter(scope)
        if "kinds" in probe:
            expected = expected.filter(kind__in=probe["kinds"])
        assert answers[-1] == expected.exists(), probe
    assert answers == [True, False, True, False, True, False, True, False, True]
