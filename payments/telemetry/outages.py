"""Redis is a helper here, never a dependency: when it does not answer, whatever asked
(the /pay throttle, the Stripe budget, the cache, the webhook drain flag) goes on
without it and says so here. A warning per component at most once a minute per process,
so an outage does not flood the log, and a count (``redis_unavailable`` at /metrics) of
every operation that went without Redis; counted while Redis is down, it reaches /metrics
once Redis is back (``payments.telemetry.counters`` keeps it until then).
"""

from __future__ import annotations

import logging
import threading
import time

from payments.telemetry import counters

log = logging.getLogger(__name__)

WARN_EVERY_SECONDS = 60.0

_lock = threading.Lock()
_last_warning: dict[str, float] = {}
_missed: dict[str, int] = {}  # operations since the last warning, by component


def redis_unavailable(*, component: str, doing: str) -> None:
    """Record that ``component`` went on without Redis (``doing``: what it did instead).
    Call it from an ``except redis.RedisError`` block: the first warning carries the
    error."""
    counters.count(name="redis_unavailable", component=component)
    now = time.monotonic()
    with _lock:
        last = _last_warning.get(component)
        if last is not None and now - last < WARN_EVERY_SECONDS:
            _missed[component] = _missed.get(component, 0) + 1
            return
        _last_warning[component] = now
        missed = _missed.pop(component, 0)
    log.warning("Redis did not answer the %s: %s (%d more times since the last warning)",
                component, doing, missed, exc_info=True)


def outages_forget() -> None:
    """For tests: the next outage warns at once."""
    with _lock:
        _last_warning.clear()
        _missed.clear()
