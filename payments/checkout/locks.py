"""One lock per order, held while anything talks to Stripe about that order's payment.

The checkout, the monitoring scans and the admin's ops actions take it, so a shopper's
confirm, an automatic finalization and an ops confirm of the same order happen one at a
time, on any number of servers.

On PostgreSQL it is a transaction-level advisory lock (``pg_advisory_xact_lock``) taken
by a transaction left open, for the length of the block, on a connection of its own that
does nothing else. Not the request's connection: our writes must commit *before* each
Stripe call (a server killed mid-call must leave on disk what Stripe may have done), so
they cannot share one long transaction with the lock. Not a session-level lock (what this
was until issue 18): behind PgBouncer in transaction pooling each transaction may run on
another server session, so the statements after ``pg_advisory_lock`` do not hold it, and
another client handed the same server session takes it again (advisory locks are
re-entrant per session). An open transaction keeps its server session, through PgBouncer
or not, until its COMMIT; a killed process's connection drops and the lock with it.

Each thread keeps its lock connection open between requests (one more connection per web
thread or worker; behind PgBouncer a server connection is held only while a lock is).
SQLite has no such lock; there, idempotency keys and the attempts' unique (order, number)
keep a double submit from charging twice.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection
from psycopg import sql

log = logging.getLogger(__name__)


class OrderLockTimeout(Exception):
    """Another process held the order's lock for longer than the caller would wait."""


_local = threading.local()  # .connection, .pid, .depth (locks held by this thread)
_opened: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()  # every thread's


@contextmanager
def order_lock(*, order_reference: str, timeout_seconds: float) -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield
        return
    key = sql.Literal(f"payments.order:{order_reference}")
    depth = getattr(_local, "depth", 0)
    if depth:  # a lock inside a lock: the same open transaction holds both until its end
        _acquire(_lock_connection(), key, order_reference, timeout_seconds, begin=False)
    else:
        _acquire_fresh(key, order_reference, timeout_seconds)
    _local.depth = depth + 1
    try:
        yield
    finally:
        _local.depth = depth
        if not depth:
            _release(order_reference)


def _acquire_fresh(key: sql.Literal, order_reference: str, timeout_seconds: float) -> None:
    lock_connection = _lock_connection()
    try:
        _acquire(lock_connection, key, order_reference, timeout_seconds, begin=True)
    except OrderLockTimeout:
        raise
    except psycopg.OperationalError:
        stale = lock_connection.closed or lock_connection.broken
        order_lock_connection_close()  # closing it ends whatever it had begun
        if not stale:
            raise
        # A kept connection the server or pooler closed meanwhile: it held nothing.
        _acquire(_lock_connection(), key, order_reference, timeout_seconds, begin=True)
    except BaseException:
        order_lock_connection_close()
        raise


def _acquire(lock_connection: psycopg.Connection, key: sql.Literal, order_reference: str,
             timeout_seconds: float, *, begin: bool) -> None:
    # Without parameters psycopg sends the statements as one simple query: one round trip.
    nearly_always_free = sql.SQL("SELECT pg_try_advisory_xact_lock(hashtextextended({}, 0))"
                                 ).format(key)
    if begin:
        nearly_always_free = sql.SQL("BEGIN; ") + nearly_always_free
    cursor = lock_connection.execute(nearly_always_free)
    while cursor.pgresult.status != psycopg.pq.ExecStatus.TUPLES_OK and cursor.nextset():
        pass  # past the BEGIN's result to the SELECT's
    if cursor.fetchone()[0]:
        return
    # Only a contended lock pays for the timed wait. In a savepoint: a timeout inside an
    # outer order's lock must not end the transaction that holds that one.
    timeout = f"{max(1, int(timeout_seconds * 1000))}ms"
    wait = sql.SQL("SAVEPOINT order_lock_wait; SET LOCAL lock_timeout = {}; "
                   "SELECT pg_advisory_xact_lock(hashtextextended({}, 0)); "
                   "RELEASE SAVEPOINT order_lock_wait").format(sql.Literal(timeout), key)
    try:
        lock_connection.execute(wait)
    except psycopg.errors.LockNotAvailable as error:
        lock_connection.execute("ROLLBACK" if begin else "ROLLBACK TO SAVEPOINT order_lock_wait")
        raise OrderLockTimeout(order_reference) from error


def _release(order_reference: str) -> None:
    try:
        _lock_connection().execute("COMMIT")
    except psycopg.Error:
        # The connection broke while the block ran, and the lock with it: the block's
        # Stripe calls were made with idempotency keys, which is what still protects them.
        log.warning("order lock of %s was lost before its end", order_reference,
                    exc_info=True)
        order_lock_connection_close()


def _lock_connection() -> psycopg.Connection:
    """This thread's lock connection (a forked child makes its own), opened on first use
    with the settings of Django's default database."""
    lock_connection = getattr(_local, "connection", None)
    if lock_connection is None or _local.pid != os.getpid() or lock_connection.closed:
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.setdefault("application_name", "paymentsite order lock")
        lock_connection = psycopg.connect(**params, autocommit=True)
        _opened.add(lock_connection)
        _local.connection, _local.pid = lock_connection, os.getpid()
    return lock_connection


def order_lock_connection_close() -> None:
    """Close this thread's lock connection; the next lock opens another."""
    lock_connection = getattr(_local, "connection", None)
    _local.connection = None
    if lock_connection is not None and _local.pid == os.getpid():
        lock_connection.close()


def order_lock_connections_close_all() -> None:
    """Close every thread's lock connection, which ends any lock it holds: for the end
    of a process's work (before a test database is dropped)."""
    for lock_connection in list(_opened):
        lock_connection.close()
