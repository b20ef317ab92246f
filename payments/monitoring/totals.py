"""The incidents' part of the dashboard's daily totals (``DailyTotal``), kept by the
writer of incidents (``payments.monitoring.incidents``) in its own transactions.

A payment (an intent) adds, as the dashboard counts it (``payments.monitoring.selectors``):

- by its *latest* incident (each payment once; a 3-D Secure one before a card decline,
  ``selectors.payment_incident_of``), on the day the payment was made
  (``intent_created_at``), in that incident's currency, with its amount:
  ``kind`` (value: the kind, status: the incident's status), ``decline_code``,
  ``card_brand`` and ``card_country`` (value: that field, status empty); when that
  incident is recovered, also ``recovered`` (value: the kind) on the day it was
  (``resolved_at``);
- when it has authentication-failure incidents, on the day it was made, once:
  ``failed`` (value: the day its attempt was sent to the bank's challenge, ISO, or empty:
  the rate's "not challenged in the period" needs it), and ``failed_kind`` once per
  failure kind it has (value: the kind).

A writer wraps its change in ``incident_totals_kept(stripe_ids=...)``: the payments'
contributions are read before and after, and the difference added. The read before
locks the payments' rows (``select_for_update``; on PostgreSQL a transaction lock per
intent comes first, for payments with no row yet), so two writers of one payment take
turns.
``dashboard_totals_rebuild`` counts everything afresh (after a bulk load, or a change
of ``TIME_ZONE``); the tests check that kept totals equal a rebuild.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from payments.checkout.models import DailyTotal, PaymentAttempt
from payments.checkout.totals import (
    UNKNOWN_DAY,
    Deltas,
    challenged_recount,
    daily_totals_add,
    local_day,
)
from payments.monitoring import selectors
from payments.monitoring.models import Incident
from payments.stripe import facts

LATEST_MEASURES = ("decline_code", "card_brand", "card_country")
FIELDS = ("pk", "stripe_id", "kind", "status", "currency", "amount", "decline_code",
          "card_brand", "card_country", "intent_created_at", "first_seen_at", "resolved_at",
          "attempt__requires_action_at")


def payments_contributions(*, stripe_ids: Iterable[str],
                           challenged_at: dict[str, datetime | None] | None = None) -> Deltas:
    """What these payments add to the totals, from their incidents as stored;
    ``challenged_at`` overrides an intent's attempt's ``requires_action_at``."""
    rows = Incident.objects.filter(stripe_id__in=set(stripe_ids)).values(*FIELDS)
    return _contributions(rows=rows, challenged_at=challenged_at)


def _contributions(*, rows: Iterable[dict],
                   challenged_at: dict[str, datetime | None] | None = None) -> Deltas:
    """What the payments of ``rows`` (every incident of each, ``FIELDS``) add."""
    by_payment: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_payment[row["stripe_id"]].append(row)
    deltas = Deltas()
    for stripe_id, rows_of_payment in by_payment.items():
        challenged = (challenged_at or {}).get(
            stripe_id, rows_of_payment[0]["attempt__requires_action_at"])
        _payment_deltas_add(deltas, rows_of_payment, challenged=challenged)
    return deltas


def _payment_deltas_add(deltas: Deltas, rows: list[dict], *, challenged: datetime | None
                        ) -> None:
    latest = selectors.payment_incident_of(rows)
    made, currency, amount = local_day(latest["intent_created_at"]), latest["currency"], \
        latest["amount"]
    deltas.add(("kind", made, currency, latest["kind"], latest["status"]), amount=amount)
    for measure in LATEST_MEASURES:
        deltas.add((measure, made, currency, latest[measure], ""), amount=amount)
    if latest["status"] == Incident.Status.RECOVERED and latest["resolved_at"] is not None:
        deltas.add(("recovered", local_day(latest["resolved_at"]), currency, latest["kind"],
                    ""), amount=amount)
    failures = [row for row in rows if row["kind"] in facts.AUTHENTICATION_FAILURES]
    if failures:
        failure = max(failures, key=lambda row: (row["first_seen_at"], row["pk"]))
        failed_on, failed_in = local_day(failure["intent_created_at"]), failure["currency"]
        challenged_day = local_day(challenged).isoformat() if challenged else ""
        deltas.add(("failed", failed_on, failed_in, challenged_day, ""))
        for kind in sorted({row["kind"] for row in failures}):
            deltas.add(("failed_kind", failed_on, failed_in, kind, ""))


@contextmanager
def incident_totals_kept(*, stripe_ids: Iterable[str] = (), order_id: int | None = None,
                         challenged_before: dict[str, datetime | None] | None = None
                         ) -> Iterator[list[dict]]:
    """Around a change of the incidents of ``stripe_ids`` (and of the order's, with
    ``order_id``): the totals follow it, in the same transaction. Yields the payments'
    incidents as they were before the change (``FIELDS``; locked, so they stay so)."""
    ids = set(stripe_ids)
    with transaction.atomic(savepoint=False):
        scope = Q(stripe_id__in=ids)
        if order_id is not None:
            scope |= Q(order_id=order_id)
        # One read both locks the rows and counts what they add before the change.
        rows = _payments_lock(stripe_ids=ids, incidents=Incident.objects.select_for_update(
            of=("self",)).filter(scope).order_by("pk").values(*FIELDS))
        reached = {row["stripe_id"] for row in rows} - ids  # through the order only
        if reached:  # their incidents outside the order count too
            rows += Incident.objects.filter(stripe_id__in=reached).exclude(scope).values(
                *FIELDS)
        before = _contributions(rows=rows, challenged_at=challenged_before)
        yield rows
        after = payments_contributions(stripe_ids=ids | reached)
        daily_totals_add(deltas=after.minus(before))


LOCK_SQL = ("SELECT pg_advisory_xact_lock(hashtext(name)) "
            "FROM unnest(%s::text[]) AS name ORDER BY name")


def _payments_lock(*, stripe_ids: Iterable[str], incidents: QuerySet) -> list[dict]:
    """Lock the payments, then read (and lock) ``incidents``, their rows as ``FIELDS``.

    Two writers opening the first incidents of one payment (a webhook and a scan, two
    kinds) find no row to lock: on PostgreSQL they take turns on a transaction lock named
    by the intent, so neither counts the payment from a view without the other's row.
    The lock and the read go to the server together, two statements in one round trip
    (the read's snapshot is taken after the lock, statement by statement). (SQLite lets
    one writer in at a time anyway.)"""
    names = sorted(set(stripe_ids))
    if not names or connection.vendor != "postgresql":
        return list(incidents)
    compiler = incidents.query.get_compiler(using=incidents.db)
    sql, params = compiler.as_sql()
    with connection.cursor() as cursor:
        # Two statements in one execute: psycopg's client-side binding, Django's default.
        # With OPTIONS "server_side_binding" on, PostgreSQL refuses it at once (not silently).
        cursor.execute(f"{LOCK_SQL}; {sql}", [names, *params])
        cursor.nextset()
        results = cursor.fetchall()
    return [dict(zip(FIELDS, row, strict=True))
            for row in compiler.results_iter(results=[results])]


def incident_totals_recount() -> Deltas:
    """The incidents' totals counted afresh, in a few ``GROUP BY`` queries over every
    incident (the rebuild, and the tests)."""
    tz = timezone.get_current_timezone()
    latest = Incident.objects.order_by().filter(selectors.incident_latest_of_payment()).annotate(
        made=TruncDate("intent_created_at", tzinfo=tz))
    totals = Deltas()
    for row in latest.values("made", "currency", "kind", "status").annotate(
            n=Count("pk"), total=Sum("amount")):
        totals.add(("kind", row["made"] or UNKNOWN_DAY, row["currency"], row["kind"],
                    row["status"]),
                   count=row["n"], amount=row["total"] or 0)
    for measure in LATEST_MEASURES:
        for row in latest.values("made", "currency", measure).annotate(
                n=Count("pk"), total=Sum("amount")):
            totals.add((measure, row["made"] or UNKNOWN_DAY, row["currency"], row[measure], ""),
                       count=row["n"], amount=row["total"] or 0)
    recovered = (latest.filter(status=Incident.Status.RECOVERED, resolved_at__isnull=False)
                 .annotate(on=TruncDate("resolved_at", tzinfo=tz)))
    for row in recovered.values("on", "currency", "kind").annotate(
            n=Count("pk"), total=Sum("amount")):
        totals.add(("recovered", row["on"], row["currency"], row["kind"], ""),
                   count=row["n"], amount=row["total"] or 0)
    # Failures: per payment, in Python (a few per cent of the incidents).
    failures: dict[str, list[dict]] = defaultdict(list)
    rows = (Incident.objects.order_by().filter(kind__in=facts.AUTHENTICATION_FAILURES)
            .values(*FIELDS).iterator(chunk_size=5000))
    for row in rows:
        failures[row["stripe_id"]].append(row)
    for rows_of_payment in failures.values():
        failure = max(rows_of_payment, key=lambda row: (row["first_seen_at"], row["pk"]))
        challenged = failure["attempt__requires_action_at"]
        day = local_day(failure["intent_created_at"])
        totals.add(("failed", day, failure["currency"],
                    local_day(challenged).isoformat() if challenged else "", ""))
        for kind in sorted({row["kind"] for row in rows_of_payment}):
            totals.add(("failed_kind", day, failure["currency"], kind, ""))
    return totals


def dashboard_totals_recount() -> Deltas:
    totals = incident_totals_recount()
    challenged = challenged_recount()
    for key in challenged.count:
        totals.add(key, count=challenged.count[key], amount=challenged.amount[key])
    return totals


def dashboard_totals_rebuild() -> int:
    """Count every total afresh and correct the kept ones; returns the totals corrected.

    The recount and the kept totals are read in one snapshot (REPEATABLE READ on
    PostgreSQL; SQLite's read transaction is one), and their difference is added as the
    writers add theirs. A payment written meanwhile is in neither side of the difference
    and keeps its own delta; nothing waits for the rebuild (a lock over the recount would
    hold every status write, /pay's after Stripe charged, for as long as it counts)."""
    fresh = not connection.in_atomic_block  # the isolation level only starts a transaction
    with transaction.atomic():
        if fresh and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        corrections = dashboard_totals_recount().minus(dashboard_totals_stored())
    with transaction.atomic():
        daily_totals_add(deltas=corrections)
    return len(corrections.changed())


def dashboard_totals_stored() -> Deltas:
    """The kept totals, as ``Deltas`` (to compare with a recount)."""
    totals = Deltas()
    for row in DailyTotal.objects.all():
        totals.add((row.measure, row.day, row.currency, row.value, row.status),
                   count=row.count, amount=row.amount)
    return totals


def attempt_challenge_moved(*, attempt: PaymentAttempt, before: datetime | None) -> None:
    """The attempt's ``requires_action_at`` moved (``payment_challenged``): the failure
    totals of its intent, which say whether it was challenged, follow."""
    if not attempt.stripe_id or not selectors.incident_exists(
            stripe_id=attempt.stripe_id, kinds=facts.AUTHENTICATION_FAILURES):
        return
    with incident_totals_kept(stripe_ids=[attempt.stripe_id],
                              challenged_before={attempt.stripe_id: before}):
        pass
