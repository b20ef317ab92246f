"""Fault injection and added latency for ``/v1/`` requests (test controls only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import SandboxError, invalid_request

ACTIONS = ("status", "rate_limit", "delay", "drop")
WHEN = ("before", "after", "stored", "stored_after")
STORED = ("stored", "stored_after")

_DEFAULT_ERRORS = {
    400: ("invalid_request_error", "The sandbox was told to fail this request."),
    402: ("card_error", "Your card was declined."),
    409: ("idempotency_error", "The sandbox was told to fail this request with a conflict."),
    500: ("api_error", "An unknown error occurred while processing your request."),
    502: ("api_error", "Bad gateway."),
    503: ("api_error", "Stripe is temporarily unavailable. Please try again."),
}


@dataclass
class Fault:
    action: str
    path_prefix: str
    remaining: int
    method: str | None = None
    status: int = 500
    error_type: str | None = None
    message: str | None = None
    delay_ms: int = 0
    # "after": Stripe did the work, the answer was lost. "stored" (nothing done) and
    # "stored_after" (the work done): a 5xx Stripe keeps under the request's idempotency
    # key and replays to every retry with it (the idempotency docs' "including 500
    # errors"), sent with Stripe-Should-Retry: false.
    when: str = "before"

    def matches(self, method: str, path: str) -> bool:
        return (self.remaining > 0 and path.startswith(self.path_prefix)
                and (self.method is None or self.method == method))

    def error(self) -> SandboxError:
        if self.action == "rate_limit":
            return SandboxError(429, "invalid_request_error",
                                "Request rate limit exceeded. Learn more about rate limits "
                                "here https://stripe.com/docs/rate-limits.", code="rate_limit")
        kind, message = _DEFAULT_ERRORS.get(self.status, ("api_error", "Injected failure."))
        return SandboxError(self.status, self.error_type or kind, self.message or message)

    def describe(self) -> dict[str, Any]:
        return {"action": self.action, "method": self.method, "path_prefix": self.path_prefix,
                "remaining": self.remaining, "status": self.status, "delay_ms": self.delay_ms,
                "when": self.when}


class Faults:
    def __init__(self) -> None:
        self.rules: list[Fault] = []
        self.latency_ms = 0

    def clear(self) -> None:
        self.rules.clear()

    def add(self, params: dict[str, Any]) -> Fault:
        action = params.get("action", "status")
        if action not in ACTIONS:
            raise invalid_request(f"action must be one of {', '.join(ACTIONS)}", param="action")
        when = params.get("when", "before")
        if when not in WHEN:
            raise invalid_request(f"when must be one of {', '.join(WHEN)}", param="when")
        method = _str(params, "method")
        fault = Fault(
            action=action, path_prefix=_str(params, "path") or "/v1/",
            remaining=_int(params, "count", 1, minimum=1, maximum=1_000_000),
            method=method.upper() if method else None,
            status=_int(params, "status", 500, minimum=400, maximum=599),
            error_type=_str(params, "error_type"), message=_str(params, "message"),
            delay_ms=_int(params, "delay_ms", 0, minimum=0, maximum=600_000), when=when)
        if not fault.path_prefix.startswith("/v1/"):
            raise invalid_request("path must start with /v1/", param="path")
        if when in STORED and (action != "status" or fault.status < 500):
            raise invalid_request("a stored fault is a status of 500 or more", param="when")
        self.rules.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.rules:
            if fault.matches(method, path):
                fault.remaining -= 1
                return fault
        return None


def _int(params: dict[str, Any], name: str, default: int, *, minimum: int,
         maximum: int | None = None) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if isinstance(raw, bool) or (isinstance(raw, str) and not raw.isascii()):
        raise invalid_request(f"{name} must be an integer", param=name)
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON Infinity
        raise invalid_request(f"{name} must be an integer", param=name) from None
    if value < minimum or (maximum is not None and value > maximum):
        raise invalid_request(f"{name} must be between {minimum} and {maximum}", param=name)
    return value


def _str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > 1000):
        raise invalid_request(f"{name} must be a string", param=name)
    return value
