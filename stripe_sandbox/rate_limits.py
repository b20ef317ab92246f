"""Stripe's API rate limits, off unless asked for (``--rate-limits live|test``).

Stripe (docs: rate-limits): limits are "API requests per second, per Stripe
account"; a global limit of 100 requests/s in live mode and 25 in a sandbox,
and each endpoint 25/s unless noted (the Search API 20 reads/s). An endpoint is
a named operation: every ``GET /v1/payment_intents/{id}`` counts against one
limit whatever the id. Over a limit Stripe answers 429 with ``code:
rate_limit``; stripe-python raises ``RateLimitError`` for any 429 and retries
it only when the answer says ``Stripe-Should-Retry: true``.

Counting: a sliding window of one second of monotonic wall time per limit; a
request is let through when fewer than the limit were let through in the second
before it. Wall time, not the sandbox clock: the limits are about load per real
second, and the sandbox clock counts whole seconds and jumps when a test
advances it. A sliding window, not a fixed one: a burst of N + k requests
within a second gets exactly k 429s wherever the second boundary falls, so a
test or a bench sees the same thing each run. A refused request does not
count (it used no capacity), so a client that backs off gets through again.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from .errors import SandboxError

MODES = ("off", "test", "live")
GLOBAL_PER_SECOND = {"live": 100, "test": 25}
ENDPOINT_PER_SECOND = 25
# Endpoints with a limit of their own (still counted in the global limit too).
ENDPOINT_OVERRIDES = {"GET /v1/payment_intents/search": 20}
WINDOW_SECONDS = 1.0

MESSAGE = ("Request rate limit exceeded. Learn more about rate limits here "
           "https://stripe.com/docs/rate-limits.")


def rate_limit_error(reason: str) -> SandboxError:
    """Stripe's 429: ``invalid_request_error`` with ``code: rate_limit``; not to be
    retried by the client libraries, with the limit that was hit named."""
    return SandboxError(429, "invalid_request_error", MESSAGE, code="rate_limit",
                        replayable=False, headers={"stripe-should-retry": "false",
                                                   "stripe-rate-limited-reason": reason})


def check_mode(mode: Any) -> str:
    if mode not in MODES:
        raise ValueError(f"rate limits must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


class RateLimiter:
    def __init__(self, *, mode: str = "off",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.mode = check_mode(mode)
        self._clock = clock
        self._global: deque[float] = deque()
        self._endpoints: dict[str, deque[float]] = {}
        self.limited_by_endpoint: Counter[str] = Counter()
        self.limited_by_reason: Counter[str] = Counter()

    def set_mode(self, mode: str) -> None:
        """A new mode starts afresh: empty windows, counters at zero."""
        self.mode = check_mode(mode)
        self._global.clear()
        self._endpoints.clear()
        self.limited_by_endpoint.clear()
        self.limited_by_reason.clear()

    def limits(self) -> dict[str, Any]:
        if self.mode == "off":
            return {"global_per_second": None, "endpoint_per_second": None, "endpoints": {}}
        return {"global_per_second": GLOBAL_PER_SECOND[self.mode],
                "endpoint_per_second": ENDPOINT_PER_SECOND,
                "endpoints": dict(ENDPOINT_OVERRIDES)}

    def take(self, endpoint: str) -> str | None:
        """Count one request to ``endpoint`` (``"GET /v1/payment_intents/{id}"``); None
        when it may go on, else the limit it hit (``global-rate`` or ``endpoint-rate``),
        in which case nothing is counted against either window."""
        if self.mode == "off":
            return None
        now = self._clock()
        cutoff = now - WINDOW_SECONDS
        window = self._endpoints.setdefault(endpoint, deque())
        for times in (self._global, window):
            while times and times[0] <= cutoff:
                times.popleft()
        reason = None
        if len(self._global) >= GLOBAL_PER_SECOND[self.mode]:
            reason = "global-rate"
        elif len(window) >= ENDPOINT_OVERRIDES.get(endpoint, ENDPOINT_PER_SECOND):
            reason = "endpoint-rate"
        if reason is not None:
            self.limited_by_endpoint[endpoint] += 1
            self.limited_by_reason[reason] += 1
            return reason
        self._global.append(now)
        window.append(now)
        return None

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, **self.limits(),
                "limited": {"total": sum(self.limited_by_reason.values()),
                            "by_endpoint": dict(self.limited_by_endpoint),
                            "by_reason": dict(self.limited_by_reason)}}
