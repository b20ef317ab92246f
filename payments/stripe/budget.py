"""One budget of Stripe calls for the whole account, shared by every process.

Stripe limits an account to 100 requests a second in live mode and 25 in a sandbox, and
each endpoint (a named operation: every ``GET /v1/payment_intents/{id}`` is one) to 25
unless noted (``facts.ENDPOINT_RATE_LIMITS``); over a limit it answers 429. The checkout,
ops actions, scans and webhook refreshes all spend from one budget sized from settings,
so the product stays under the account's limits whoever is busy:

- *foreground* calls (a shopper's /pay, an ops person's action) may use the whole budget;
  over it they wait up to ``STRIPE_BUDGET_MAX_WAIT_SECONDS`` and are then refused
  (``BudgetExhausted``: the shopper is asked to try again; nothing reached Stripe);
- *background* calls (scans, webhook refreshes, commands) are paced to
  ``PAYMENTS_BACKGROUND_CALLS_PER_SECOND`` and yield whenever the account's calls come
  within ``STRIPE_BUDGET_FOREGROUND_RESERVE`` of the budget; they wait and do not fail,
  unless the caller has other work to do meanwhile (``background_patience``: a webhook
  drain must not stop every event behind one that needs a read).

Who is calling is set by the entry point (``stripe_calls_for("shopper")``), not passed
down: the gateway reads it. Counting is an exact sliding one-second window (the times of
the calls let through in the last second), so no second, however it is cut, holds more
than the budget: in Redis (a sorted set per limit, one script per call, dated by Redis's
own clock, so every process on every machine counts alike) or, without Redis, in this
process. If Redis does not answer, each process counts its own calls against the whole
budget until Redis answers again (logged once a minute, counted at /metrics as
``redis_unavailable``): a shopper's call still goes out at once, background calls keep
their pace within the process, and an outage of the cache never stops payments.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings

from payments.stripe import facts
from payments.telemetry import counters, outages

log = logging.getLogger(__name__)

FOREGROUND = frozenset({"shopper", "ops"})
SOURCES = ("shopper", "ops", "scan", "webhook", "command", "other")
POLL_SECONDS = 0.02

_source: ContextVar[str] = ContextVar("stripe_call_source", default="other")
_background_patience: ContextVar[float | None] = ContextVar("stripe_background_patience",
                                                            default=None)


class BudgetExhausted(Exception):
    """The account's budget stayed spent for longer than a foreground call may wait."""


@contextmanager
def stripe_calls_for(source: str) -> Iterator[None]:
    """Stripe calls made inside count as ``source``'s (one of ``SOURCES``)."""
    if source not in SOURCES:
        raise ValueError(f"unknown Stripe call source {source!r}")
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


def current_source() -> str:
    return _source.get()


@contextmanager
def background_patience(*, seconds: float) -> Iterator[None]:
    """Background calls made inside wait for the budget at most ``seconds``, then are
    refused (``BudgetExhausted``) so the caller can put the work off and go on."""
    token = _background_patience.set(seconds)
    try:
        yield
    finally:
        _background_patience.reset(token)


@dataclass(frozen=True)
class Limits:
    total: int  # calls per second the product may make on the account (0: no budget)
    endpoint: int  # per endpoint, unless the endpoint has its own (facts)
    foreground_reserve: int  # kept free for foreground calls while background works
    background: int  # background calls per second (0: no cap of their own)


def limits_get() -> Limits:
    """The budget from settings: the account's limits times ``STRIPE_BUDGET_SHARE``."""
    share = settings.STRIPE_BUDGET_SHARE
    total = int(settings.STRIPE_RATE_LIMIT_PER_SECOND * share)
    return Limits(total=total,
                  endpoint=int(settings.STRIPE_RATE_LIMIT_PER_ENDPOINT * share),
                  foreground_reserve=min(settings.STRIPE_BUDGET_FOREGROUND_RESERVE, total),
                  background=settings.PAYMENTS_BACKGROUND_CALLS_PER_SECOND)


def budget_spend(*, endpoint: str) -> float:
    """Take one call to ``endpoint`` (``"GET /v1/payment_intents/{id}"``) from the budget,
    waiting as the caller's source may; returns the seconds waited. Raises
    ``BudgetExhausted`` for a foreground call that waited its longest, and for a
    background call that waited its ``background_patience``."""
    limits = limits_get()
    if limits.total <= 0:
        return 0.0
    foreground = current_source() in FOREGROUND
    endpoint_limit = limits.endpoint
    if endpoint in facts.ENDPOINT_RATE_LIMITS:  # an endpoint with a limit of its own
        endpoint_limit = int(facts.ENDPOINT_RATE_LIMITS[endpoint] * settings.STRIPE_BUDGET_SHARE)
    started = time.monotonic()
    patience = settings.STRIPE_BUDGET_MAX_WAIT_SECONDS if foreground \
        else _background_patience.get()
    deadline = None if patience is None else started + patience
    while not _take(endpoint=endpoint, endpoint_limit=endpoint_limit, limits=limits,
                    foreground=foreground):
        if deadline is not None and time.monotonic() >= deadline:
            raise BudgetExhausted(f"{endpoint}: the account's Stripe budget is spent")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - started


def _take(*, endpoint: str, endpoint_limit: int, limits: Limits, foreground: bool) -> bool:
    total_ceiling = limits.total if foreground else limits.total - limits.foreground_reserve
    background = 0 if foreground else (limits.background or limits.total)
    if not settings.REDIS_URL:
        return _local.take(endpoint=endpoint, total=total_ceiling, endpoint_limit=endpoint_limit,
                           background=background)
    try:
        return _redis_take(endpoint=endpoint, total=total_ceiling, endpoint_limit=endpoint_limit,
                           background=background)
    except redis.RedisError:
        outages.redis_unavailable(component="stripe_budget",
                                  doing="Stripe calls counted in this process only")
    return _local.take(endpoint=endpoint, total=total_ceiling, endpoint_limit=endpoint_limit,
                       background=background)


# --- in Redis: every process on every machine --------------------------------------------

# KEYS: the total, endpoint and background windows (sorted sets of call times). ARGV: a
# unique member for this call, the total ceiling, the endpoint limit, the background limit
# (0: a foreground call). 1 when the call may go (recorded), 0 when it must wait.
_TAKE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local background = tonumber(ARGV[4])
local last = background > 0 and 3 or 2
for i = 1, last do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - 1) end
if redis.call('ZCARD', KEYS[1]) + 1 > tonumber(ARGV[2]) then return 0 end
if redis.call('ZCARD', KEYS[2]) + 1 > tonumber(ARGV[3]) then return 0 end
if background > 0 and redis.call('ZCARD', KEYS[3]) + 1 > background then return 0 end
for i = 1, last do
  redis.call('ZADD', KEYS[i], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], 2000)
end
return 1
"""


@cache
def _redis_client(url: str) -> redis.Redis:
    return counters.redis_client(url=url)


@cache
def _script(url: str):
    return _redis_client(url).register_script(_TAKE_SCRIPT)


def _redis_take(*, endpoint: str, total: int, endpoint_limit: int, background: int) -> bool:
    # One hash tag: the keys stay in one slot of a Redis cluster.
    keys = [f"{{payments:budget}}:{name}" for name in ("total", f"endpoint:{endpoint}",
                                                       "background")]
    return bool(_script(settings.REDIS_URL)(
        keys=keys, args=[secrets.token_hex(8), total, endpoint_limit, background]))


# --- without Redis: this process only (one process: python3 dev.py run) ------------------

class _LocalWindows:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[str, list[float]] = {}

    def _count(self, name: str, now: float) -> int:
        times = [t for t in self._times.get(name, []) if t > now - 1.0]
        self._times[name] = times
        return len(times)

    def take(self, *, endpoint: str, total: int, endpoint_limit: int, background: int
             ) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._count("total", now) + 1 > total or \
                    self._count(endpoint, now) + 1 > endpoint_limit:
                return False
            if background and self._count("background", now) + 1 > background:
                return False
            for name in ("total", endpoint, *(("background",) if background else ())):
                self._times[name].append(now)
            return True


_local = _LocalWindows()
