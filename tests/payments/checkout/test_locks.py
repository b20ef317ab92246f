"""payments/locks.py on PostgreSQL: the free lock taken at once, a held one waited for
until its timeout, and released at the end either way; held while the request's own
connection commits; and held through a real PgBouncer in transaction pooling, where a
session-level lock is not."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.db import connection, transaction

from payments.checkout.locks import OrderLockTimeout, order_lock, order_lock_connection_close
from tests.conftest import need
from tests.pgbouncer import django_through_pgbouncer

KEY = "payments.order:{}"
LOCK = "SELECT pg_advisory_lock(hashtextextended(%s, 0))"
UNLOCK = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"


@pytest.fixture
def other_session(transactional_db):
    """A second PostgreSQL connection, as another server process would hold the lock."""
    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    settings = connection.settings_dict
    with psycopg.connect(host=settings["HOST"], port=settings["PORT"] or 5432,
                         user=settings["USER"], password=settings["PASSWORD"],
                         dbname=settings["NAME"], autocommit=True) as other:
        yield other


def held_elsewhere(other: psycopg.Connection, reference: str) -> bool:
    row = other.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                        [KEY.format(reference)]).fetchone()
    if row[0]:
        other.execute(UNLOCK, [KEY.format(reference)])
    return not row[0]


def test_a_free_lock_is_held_inside_and_released_after(other_session):
    with order_lock(order_reference="ord_free", timeout_seconds=5):
        assert held_elsewhere(other_session, "ord_free")
    assert not held_elsewhere(other_session, "ord_free")


def test_a_held_lock_times_out_and_is_not_left_taken(other_session):
    other_session.execute(LOCK, [KEY.format("ord_busy")])
    started = time.monotonic()
    with pytest.raises(OrderLockTimeout), order_lock(order_reference="ord_busy",
                                                     timeout_seconds=0.3):
        pytest.fail("entered a lock another session holds")
    assert 0.25 <= time.monotonic() - started < 5
    other_session.execute(UNLOCK, [KEY.format("ord_busy")])
    with order_lock(order_reference="ord_busy", timeout_seconds=1):
        pass  # this connection's timeout setting ended with its wait, the lock is free


def test_a_held_lock_is_waited_for_until_released(other_session):
    other_session.execute(LOCK, [KEY.format("ord_wait")])
    threading.Timer(0.3, lambda: other_session.execute(UNLOCK, [KEY.format("ord_wait")])).start()
    started = time.monotonic()
    with order_lock(order_reference="ord_wait", timeout_seconds=5):
        waited = time.monotonic() - started
        assert held_elsewhere(other_session, "ord_wait")  # now ours
    assert waited >= 0.25


def test_the_lock_outlives_the_request_connections_commits(other_session):
    """The writes under the lock commit one by one (before each Stripe call); the lock
    must not end with any of them."""
    with order_lock(order_reference="ord_commits", timeout_seconds=5):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # autocommit: its own transaction
        with transaction.atomic():
            connection.cursor().execute("SELECT 1")
        assert held_elsewhere(other_session, "ord_commits")
    assert not held_elsewhere(other_session, "ord_commits")


def test_a_lock_inside_another_orders_lock_holds_both_until_the_outer_end(other_session):
    other_session.execute(LOCK, [KEY.format("ord_inner_busy")])
    with order_lock(order_reference="ord_outer", timeout_seconds=5):
        with order_lock(order_reference="ord_inner", timeout_seconds=5):
            assert held_elsewhere(other_session, "ord_inner")
        with pytest.raises(OrderLockTimeout), order_lock(order_reference="ord_inner_busy",
                                                         timeout_seconds=0.2):
            pytest.fail("entered a lock another session holds")
        assert held_elsewhere(other_session, "ord_outer")  # the timeout kept the outer one
    assert not held_elsewhere(other_session, "ord_outer")
    assert not held_elsewhere(other_session, "ord_inner")
    other_session.execute(UNLOCK, [KEY.format("ord_inner_busy")])


def pooled(port: int) -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(host="127.0.0.1", port=port, user=settings["USER"],
                           dbname=settings["NAME"], autocommit=True)


def test_through_pgbouncer_a_session_lock_is_not_held_and_ours_is(other_session):
    with django_through_pgbouncer(pool_size=2) as port, pooled(port) as first, \
            pooled(port) as second:
        # The trap: two clients handed one server session both "take" a session lock.
        try_lock = "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))"
        assert first.execute(try_lock, [KEY.format("ord_trap")]).fetchone()[0]
        assert second.execute(try_lock, [KEY.format("ord_trap")]).fetchone()[0]
        other_session.execute("SELECT pg_advisory_unlock_all()")
        first.execute("SELECT pg_advisory_unlock_all()")

        with order_lock(order_reference="ord_pooled", timeout_seconds=5):
            connection.cursor().execute("SELECT 1")  # the request's statements meanwhile
            assert not second.execute("SELECT pg_try_advisory_xact_lock("
                                      "hashtextextended(%s, 0))",
                                      [KEY.format("ord_pooled")]).fetchone()[0]
            assert held_elsewhere(other_session, "ord_pooled")
            assert lock_times_out_in_another_thread("ord_pooled")
        assert not held_elsewhere(other_session, "ord_pooled")


def lock_times_out_in_another_thread(reference: str) -> bool:
    timed_out = []

    def take() -> None:
        try:
            with order_lock(order_reference=reference, timeout_seconds=0.2):
                pass
        except OrderLockTimeout:
            timed_out.append(True)
        finally:
            order_lock_connection_close()

    thread = threading.Thread(target=take)
    thread.start()
    thread.join()
    return bool(timed_out)
