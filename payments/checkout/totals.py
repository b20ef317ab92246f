"""The dashboard's daily totals (``DailyTotal``): adding to them, and the one total the
status record keeps, attempts sent to the bank's challenge.

A total is a key (``measure``, ``day``, ``currency``, ``value``, ``status``) with a count
and an amount; writers add differences (``daily_totals_add``) in their own transaction,
so the totals change exactly when the rows they count do. ``day`` is a day of the site's
time zone: a change of ``TIME_ZONE`` needs ``manage.py dashboard_totals_rebuild``.

Measure kept here: ``challenged`` (value and status empty), attempts by the day they
entered ``requires_action`` (``PaymentAttempt.requires_action_at``), each attempt once, by
its currency (amount: its amount). The incidents' measures are kept by
``payments.monitoring.totals``.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from payments.checkout.models import DailyTotal, PaymentAttempt

CHALLENGED = "challenged"

# (measure, day, currency, value, status) -> (count, amount)
Key = tuple[str, date, str, str, str]


class Deltas:
    """Differences to add to the totals: counts and amounts per key."""

    def __init__(self) -> None:
        self.count: Counter[Key] = Counter()
        self.amount: Counter[Key] = Counter()

    def add(self, key: Key, *, count: int = 1, amount: int = 0) -> None:
        self.count[key] += count
        self.amount[key] += amount

    def minus(self, other: Deltas) -> Deltas:
        difference = Deltas()
        for key in set(self.count) | set(other.count):
            difference.add(key, count=self.count[key] - other.count[key],
                           amount=self.amount[key] - other.amount[key])
        return difference

    def changed(self) -> list[tuple[Key, int, int]]:
        return [(key, self.count[key], self.amount[key]) for key in sorted(self.count)
                if self.count[key] or self.amount[key]]


# The day of a payment whose date is not known (a row loaded without it): counted where
# no period applies (the money open now), never in a period.
UNKNOWN_DAY = date.min


def local_day(moment: datetime | None) -> date:
    """The day of the site's time zone a moment falls on (the dashboard's days)."""
    return timezone.localtime(moment).date() if moment is not None else UNKNOWN_DAY


def daily_totals_add(*, deltas: Deltas) -> None:
    """Add ``deltas`` to the totals: one upsert per changed key (PostgreSQL and SQLite
    both take ``ON CONFLICT ... DO UPDATE``), in the caller's transaction."""
    changed = deltas.changed()
    if not changed:
        return
    table = DailyTotal._meta.db_table
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(changed))
    params: list[object] = []
    for (measure, day, currency, value, status), count, amount in changed:
        params += [measure, day, currency, value, status, count, amount]
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" (measure, day, currency, value, status, count, amount) '
            f"VALUES {rows} ON CONFLICT (measure, day, currency, value, status) DO UPDATE "
            f'SET count = "{table}".count + excluded.count, '
            f'amount = "{table}".amount + excluded.amount', params)


def attempt_challenged_deltas(*, attempt: PaymentAttempt, before: datetime | None) -> Deltas:
    """What moving ``attempt``'s ``requires_action_at`` from ``before`` changes."""
    deltas = Deltas()
    if before == attempt.requires_action_at:
        return deltas
    if before is not None:
        deltas.add((CHALLENGED, local_day(before), attempt.currency, "", ""), count=-1,
                   amount=-attempt.amount)
    if attempt.requires_action_at is not None:
        deltas.add((CHALLENGED, local_day(attempt.requires_action_at), attempt.currency, "",
                    ""), amount=attempt.amount)
    return deltas


def challenged_recount() -> Deltas:
    """The ``challenged`` totals counted from the attempts, in one ``GROUP BY`` (the
    rebuild, and the tests that the kept totals equal a recount)."""
    totals = Deltas()
    rows = (PaymentAttempt.objects.order_by().filter(requires_action_at__isnull=False)
            .annotate(day=TruncDate("requires_action_at", tzinfo=timezone.get_current_timezone()))
            .values("day", "currency").annotate(n=Count("pk"), total=Sum("amount")))
    for row in rows:
        totals.add((CHALLENGED, row["day"], row["currency"], "", ""), count=row["n"],
                   amount=row["total"] or 0)
    return totals
