"""One lock per order, held while anything talks to Stripe about that order's payment.

The checkout, the monitoring scans and the admin's ops actions take it, so a shopper's
confirm, an automatic finalization and an ops confirm of the same order happen one at a
time, on any number of servers.

On PostgreSQL it is a session-level advisory lock, not a row lock inside a transaction:
our writes must commit *before* each Stripe call (a server killed mid-call must leave on
disk what Stripe may have done), and a row lock would tie them to one long transaction.
The database releases the lock by itself when a killed process's connection drops.
SQLite has no such lock; there, idempotency keys and the attempts' unique (order, number)
keep a double submit from charging twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import OperationalError, connection, transaction


class OrderLockTimeout(Exception):
    """Another process held the order's lock for longer than the caller would wait."""


@contextmanager
def order_lock(*, order_reference: str, timeout_seconds: float) -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield
        return
    key = f"payments.order:{order_reference}"
    with connection.cursor() as cursor:
        # Nearly always free: one statement. Only a contended lock pays for the timed wait.
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        acquired = cursor.fetchone()[0]
    if not acquired:
        _wait_for(key, order_reference=order_reference, timeout_seconds=timeout_seconds)
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
        except Exception:  # a broken connection has released it already
            connection.close()


def _wait_for(key: str, *, order_reference: str, timeout_seconds: float) -> None:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # SET LOCAL ends with this short transaction; the lock itself is session-level
            # and outlives it.
            cursor.execute("SELECT set_config('lock_timeout', %s, true)",
                           [f"{max(1, int(timeout_seconds * 1000))}ms"])
            cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])
    except OperationalError as error:  # lock_timeout: 55P03 lock_not_available
        raise OrderLockTimeout(order_reference) from error
