"""Django's Redis cache, made to go on without Redis.

Django's ``RedisCache`` raises redis-py's errors, so a page that reads the cache answers
500 while Redis is down. Here a read that cannot reach Redis is a miss and a write that
cannot is skipped (as django-redis's ``IGNORE_EXCEPTIONS`` does), logged once a minute
and counted (``payments.telemetry.outages``). ``add``, ``incr``, ``decr`` and ``clear``
still raise: their answer means something (a claim taken, a count), and a caller that
took "not added" for "someone else has it" would skip its work.

Nothing the shop must keep lives in the cache (sessions are in the database), so a
miss only costs the work the cache saves.
"""

from __future__ import annotations

from typing import Any

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

from payments.telemetry import outages


def _skipped(doing: str) -> None:
    outages.redis_unavailable(component="cache", doing=doing)


class TolerantRedisCache(RedisCache):
    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except redis.RedisError:
            _skipped("read as a miss")
            return default

    def get_many(self, keys, version: int | None = None) -> dict[str, Any]:
        try:
            return super().get_many(keys, version)
        except redis.RedisError:
            _skipped("read as a miss")
            return {}

    def has_key(self, key: str, version: int | None = None) -> bool:
        try:
            return super().has_key(key, version)
        except redis.RedisError:
            _skipped("read as a miss")
            return False

    def set(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
            ) -> None:
        try:
            super().set(key, value, timeout,
                        version)
        except redis.RedisError:
            _skipped("write skipped")

    def set_many(self, data: dict[str, Any], timeout: Any = DEFAULT_TIMEOUT,
                 version: int | None = None) -> list[str]:
        try:
            return super().set_many(
                data, timeout, version)
        except redis.RedisError:
            _skipped("write skipped")
            return list(data)

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            return super().touch(key, timeout,
                                 version)
        except redis.RedisError:
            _skipped("write skipped")
            return False

    def delete(self, key: str, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except redis.RedisError:
            _skipped("delete skipped")
            return False

    def delete_many(self, keys, version: int | None = None) -> None:
        try:
            super().delete_many(keys, version)
        except redis.RedisError:
            _skipped("delete skipped")
