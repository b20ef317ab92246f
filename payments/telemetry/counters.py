"""Counters every process adds to and one place reads: in Redis (a hash, so gunicorn's
workers, Celery's and every machine add to the same numbers), or in this process without
Redis. Prometheus scrapes them through ``paymentsite.metrics``.

A counter is a name and labels (``count(name="stripe_calls", source="shopper", ...)``);
``observe`` adds a duration to a histogram (its buckets, sum and count are counters
too). Counting makes no round trip: the count is added in this process, and a thread of
the process sends what it holds to Redis in one pipeline every ``SEND_EVERY_SECONDS``
and at its exit; ``counters_read`` sends this process's counts first, so a process reads
what it counted and /metrics shows every other process's within that period. (Sent with
each count, a /pay's counters were 18 of its 23 Redis commands and 2 of its 4 round
trips.)
Counting must never break what it counts: if Redis does not answer, this process keeps
the numbers and adds them with a later send that reaches it (a process that dies
meanwhile, or is killed without its exit, loses them), and says so in the log once a
minute at most.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import TypeVar

import redis
from django.conf import settings
from kombu.exceptions import OperationalError
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

T = TypeVar("T")

HASH = "payments:metrics"
# Seconds: a webhook's lag, a wait for the Stripe budget.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# Well under a scrape interval (15 s or more); a busy process sends one pipeline a
# second instead of one per request.
SEND_EVERY_SECONDS = 1.0

_local: Counter[str] = Counter()
# Counted in this process and not in Redis yet (also while Redis does not answer).
_unsent: Counter[str] = Counter()
PENDING_FIELDS_MAX = 10_000  # a long outage keeps the counters it has, adds no new ones
_lock = threading.Lock()
_send_lock = threading.Lock()  # one send at a time, so a failed one puts back its counts
_sender: threading.Thread | None = None
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


def counters_read() -> dict[str, float] | None:
    """Every counter, by field; None when Redis does not answer (unknown, not zero).
    This process's counts are sent first."""
    if not settings.REDIS_URL:
        with _lock:
            return dict(_local)
    if not counters_send():
        return None
    try:
        raw = _client(settings.REDIS_URL).hgetall(HASH)
    except redis.RedisError:
        _warn()
        return None
    return {key.decode(): float(value) for key, value in raw.items()}


def counters_clear() -> None:
    """For tests and benches: start from zero."""
    counters_forget()
    if settings.REDIS_URL:
        _client(settings.REDIS_URL).delete(HASH)


def counters_forget() -> None:
    """For tests: drop what this process counted and has not sent (an earlier test's),
    without calling Redis. A send the thread has begun ends first: failing, it would put
    its counts back (and start Redis's rest) after this."""
    with _send_lock, _lock:
        _local.clear()
        _unsent.clear()


def counters_send() -> bool:
    """Send this process's counts to Redis now, in one pipeline (its thread does it every
    ``SEND_EVERY_SECONDS``). False when Redis did not answer: the counts are kept."""
    if not settings.REDIS_URL:
        return True
    with _send_lock:
        with _lock:
            if not _unsent:
                return True
            sending = Counter(_unsent)
            _unsent.clear()
        try:
            pipeline = _client(settings.REDIS_URL).pipeline(transaction=False)
            for key, amount in sending.items():
                if float(amount).is_integer():
                    pipeline.hincrby(HASH, key, int(amount))
                else:
                    pipeline.hincrbyfloat(HASH, key, amount)
            pipeline.execute()
        except redis.RedisError:
            with _lock:
                for key, amount in sending.items():
                    if key in _unsent or len(_unsent) < PENDING_FIELDS_MAX:
                        _unsent[key] += amount
            _warn()
            return False
    return True


def _add(adds: dict[str, float]) -> None:
    global _sender
    with _lock:
        if not settings.REDIS_URL:
            _local.update(adds)
            return
        for key, amount in adds.items():
            if key in _unsent or len(_unsent) < PENDING_FIELDS_MAX:
                _unsent[key] += amount
        if _sender is None:  # the first count of this process (a forked child's too)
            _sender = threading.Thread(target=_send_forever, name="counters-send",
                                       daemon=True)
            _sender.start()


def _send_forever() -> None:
    while True:
        time.sleep(SEND_EVERY_SECONDS)
        try:
            counters_send()
        except Exception:  # the thread must not die: this process's counts would stop
            log.exception("metrics could not be sent")


def _after_fork_in_child() -> None:
    # What the parent counted is the parent's to send; the child starts from nothing,
    # with locks no parent thread can be holding and a sender thread of its own.
    global _lock, _send_lock, _sender
    _lock, _send_lock, _sender = threading.Lock(), threading.Lock(), None
    _unsent.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
# A gunicorn worker's graceful exit and a command's end; Celery's pool processes leave
# by os._exit, so paymentsite.celery sends theirs on worker_process_shutdown.
atexit.register(lambda: counters_send())


def _warn() -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 60:
        _last_warning = time.monotonic()
        log.warning("metrics kept in this process until Redis answers again", exc_info=True)


@cache
def _client(url: str) -> redis.Redis:
    return redis_client(url=url)


# --- Redis as a helper: bounded, never retried, left alone a moment after a failure -----

class RedisResting(redis.ConnectionError):
    """Redis was not called: it failed a moment ago (``REDIS_RETRY_AFTER_SECONDS``)."""


_resting_until = 0.0
_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


def redis_resting() -> bool:
    """Whether this process leaves Redis alone for now: it failed within
    ``REDIS_RETRY_AFTER_SECONDS``. A hung Redis then costs one timeout per that period,
    not one per call (a /pay touches Redis several times)."""
    return time.monotonic() < _resting_until


def redis_rest() -> None:
    global _resting_until
    _resting_until = time.monotonic() + settings.REDIS_RETRY_AFTER_SECONDS


def redis_rest_end() -> None:
    """For tests: call Redis again at once."""
    global _resting_until
    _resting_until = 0.0


def redis_guard(call: Callable[[], T]) -> T:
    """``call()``, which reaches Redis by a client of its own (Celery's publish), under
    the same rest as ours: raises ``RedisResting`` without calling while Redis rests, and
    a failure to reach it (redis-py's or kombu's, or the socket's) starts a rest."""
    if redis_resting():
        raise RedisResting("Redis failed a moment ago: not called")
    try:
        return call()
    except (*_UNREACHABLE, OperationalError, OSError):
        redis_rest()
        raise


class _HelperRedis(redis.Redis):
    def execute_command(self, *args, **options):
        if redis_resting():
            raise RedisResting("Redis failed a moment ago: not called")
        try:
            return super().execute_command(*args, **options)
        except _UNREACHABLE:
            redis_rest()
            raise

    def pipeline(self, transaction: bool = True, shard_hint=None) -> redis.client.Pipeline:
        return _HelperPipeline(self.connection_pool, self.response_callbacks, transaction,
                               shard_hint)


class _HelperPipeline(redis.client.Pipeline):
    def execute(self, raise_on_error: bool = True):
        if redis_resting():
            self.reset()
            raise RedisResting("Redis failed a moment ago: not called")
        try:
            return super().execute(raise_on_error)
        except _UNREACHABLE:
            redis_rest()
            raise


def redis_client(*, url: str) -> redis.Redis:
    """A client for Redis used as a helper (counters, the /pay throttle, the Stripe
    budget, the drain flag): it answers within ``REDIS_TIMEOUT_SECONDS`` or raises, never
    retries, and after a failure raises at once for ``REDIS_RETRY_AFTER_SECONDS``, since
    every caller goes on without Redis."""
    timeout = settings.REDIS_TIMEOUT_SECONDS
    return _HelperRedis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                 retry=Retry(NoBackoff(), 0))
