"""The real services behind the suite. Without DATABASE_URL / REDIS_URL these skip
(SQLite and no Redis is the zero-setup default); under ``.ci/run`` they must pass."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from .conftest import need


@pytest.mark.django_db
def test_database_is_postgresql_when_configured():
    url = os.environ.get("DATABASE_URL", "")
    need(url.startswith("postgres"), "DATABASE_URL does not name a PostgreSQL database")
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("select 1")
        assert cursor.fetchone() == (1,)


def test_redis_answers_when_configured():
    import redis

    url = os.environ.get("REDIS_URL", "")
    need(bool(url), "REDIS_URL is not set")
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    key = "paymentsite:test:ping"
    client.set(key, "pong", ex=10)
    assert client.get(key) == b"pong"
    client.delete(key)
