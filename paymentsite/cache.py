"""Django's Redis cache, made to go on without Redis.

Django's ``RedisCache`` raises redis-py's errors, so a page that reads the cache answers
500 while Redis is down. Here a read that cannot reach Redis is a miss and a write that
cannot is skipped (as django-redis's ``IGNORE_EXCEPTIONS`` does), logged once a minute
and counted (``payments.telemetry.outages``); after a failure Redis is left alone for
``REDIS_RETRY_AFTER_SECONDS``, as by our other clients. ``add``, ``incr``, ``decr`` and
``clear`` still raise: their answer means something (a claim taken, a count), and a
caller that took "not added" for "someone else has it" would skip its work.

Nothing the shop must keep lives in the cache (sessions are in the database), so a
miss only costs the work the cache saves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

from payments.telemetry import counters, outages

T = TypeVar("T")


def _tolerant(call: Callable[[], T], fallback: T, doing: str) -> T:
    try:
        if counters.redis_resting():
            raise counters.RedisResting("Redis failed a moment ago: not called")
        return call()
    except redis.RedisError as error:
        if isinstance(error, (redis.ConnectionError, redis.TimeoutError)):
            counters.redis_rest()
        outages.redis_unavailable(component="cache", doing=doing)
        return fallback


class TolerantRedisCache(RedisCache):
    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        return _tolerant(lambda: super(TolerantRedisCache, self).get(key, default, version),
                         default, "read as a miss")

    def get_many(self, keys, version: int | None = None) -> dict[str, Any]:
        return _tolerant(lambda: super(TolerantRedisCache, self).get_many(keys, version),
                         {}, "read as a miss")

    def has_key(self, key: str, version: int | None = None) -> bool:
        return _tolerant(lambda: super(TolerantRedisCache, self).has_key(key, version),
                         False, "read as a miss")

    def set(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT,
            version: int | None = None) -> None:
        _tolerant(lambda: super(TolerantRedisCache, self).set(key, value, timeout, version),
                  None, "write skipped")

    def set_many(self, data: dict[str, Any], timeout: Any = DEFAULT_TIMEOUT,
                 version: int | None = None) -> list[str]:
        return _tolerant(
            lambda: super(TolerantRedisCache, self).set_many(data, timeout, version),
            list(data), "write skipped")

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT,
              version: int | None = None) -> bool:
        return _tolerant(lambda: super(TolerantRedisCache, self).touch(key, timeout, version),
                         False, "write skipped")

    def delete(self, key: str, version: int | None = None) -> bool:
        return _tolerant(lambda: super(TolerantRedisCache, self).delete(key, version),
                         False, "delete skipped")

    def delete_many(self, keys, version: int | None = None) -> None:
        _tolerant(lambda: super(TolerantRedisCache, self).delete_many(keys, version),
                  None, "delete skipped")
