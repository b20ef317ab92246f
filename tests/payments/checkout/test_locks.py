"""payments/locks.py on PostgreSQL: the free lock taken at once, a held one waited for
until its timeout, and released at the end either way."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from django.db import connection

from payments.checkout.locks import OrderLockTimeout, order_lock
from tests.conftest import need

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
