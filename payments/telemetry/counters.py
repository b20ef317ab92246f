"""Counters every process adds to and one place reads: in Redis (a hash, so gunicorn's
workers, Celery's and every machine add to the same numbers), or in this process without
Redis. Prometheus scrapes them through ``paymentsite.metrics``.

A counter is a name and labels (``count(name="stripe_calls", source="shopper", ...)``);
``observe`` adds a duration to a histogram (its buckets, sum and count are counters
too). Counting must never break what it counts: if Redis does not answer, the number is
lost and logged, once a minute at most.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from functools import cache

import redis
from django.conf import settings

log = logging.getLogger(__name__)

HASH = "payments:metrics"
# Seconds: a webhook's lag, a wait for the Stripe budget.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

_local: Counter[str] = Counter()
_lock = threading.Lock()
_last_warning = 0.0


def field(name: str, labels: dict[str, str]) -> str:
    """``stripe_calls|endpoint=GET /v1/…,source=scan,status=200``: labels sorted."""
    return name + "|" + ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def count(*, name: str, amount: float = 1, **labels: str) -> None:
    _add({field(name, labels): amount})


def observe(*, name: str, seconds: float, **labels: str) -> None:
    """One duration into the histogram ``name``: cumulative buckets, sum and count."""
    adds = {field(f"{name}_bucket", {**labels, "le": str(bound)}): 1
            for bound in BUCKETS if seconds <= bound}
    adds[field(f"{name}_bucket", {**labels, "le": "+Inf"})] = 1
    adds[field(f"{name}_sum", labels)] = seconds
    adds[field(f"{name}_count", labels)] = 1
    _add(adds)


def counters_read() -> dict[str, float]:
    """Every counter, by field. Empty when Redis does not answer."""
    if not settings.REDIS_URL:
        with _lock:
            return dict(_local)
    try:
        raw = _client(settings.REDIS_URL).hgetall(HASH)
    except redis.RedisError:
        _warn()
        return {}
    return {key.decode(): float(value) for key, value in raw.items()}


def counters_clear() -> None:
    """For tests and benches: start from zero."""
    with _lock:
        _local.clear()
    if settings.REDIS_URL:
        _client(settings.REDIS_URL).delete(HASH)


def _add(adds: dict[str, float]) -> None:
    if not settings.REDIS_URL:
        with _lock:
            _local.update(adds)
        return
    try:
        pipeline = _client(settings.REDIS_URL).pipeline(transaction=False)
        for key, amount in adds.items():
            if float(amount).is_integer():
                pipeline.hincrby(HASH, key, int(amount))
            else:
                pipeline.hincrbyfloat(HASH, key, amount)
        pipeline.execute()
    except redis.RedisError:
        _warn()


def _warn() -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 60:
        _last_warning = time.monotonic()
        log.warning("metrics not counted: Redis did not answer", exc_info=True)


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
