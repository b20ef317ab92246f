"""A client for the sandbox's ``/_sandbox/`` test controls (tests and benchmarks); the
server side is ``control_routes.py``."""

from __future__ import annotations

from typing import Any

import httpx


class SandboxControls:
    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=30)

    def _call(self, method: str, path: str, json: Any = None,
              timeout: float | None = 30) -> Any:
        response = self._http.request(method, "/_sandbox/" + path, json=json, timeout=timeout)
        if response.status_code >= 400:
            raise RuntimeError(f"sandbox control {method} {path}: {response.status_code} "
                               f"{response.text}")
        return response.json()

    def reset(self) -> None:
        self._call("POST", "reset")

    def authenticate(self, intent_id: str, outcome: str) -> dict[str, Any]:
        return self._call("POST", f"payment_intents/{intent_id}/authenticate",
                          {"outcome": outcome})

    def advance_clock(self, seconds: int) -> dict[str, Any]:
        return self._call("POST", "clock/advance", {"seconds": seconds})

    def clock(self) -> dict[str, Any]:
        return self._call("GET", "clock")

    def add_fault(self, **fault: Any) -> dict[str, Any]:
        return self._call("POST", "faults", fault)

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules, each with how many matching requests it still waits for."""
        return self._call("GET", "faults")["data"]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def set_latency(self, ms: int) -> None:
        self._call("POST", "latency", {"ms": ms})

    def set_rate_limits(self, mode: str) -> dict[str, Any]:
        """``off``, ``test`` or ``live``; empties the windows and the 429 counters."""
        return self._call("POST", "rate_limits", {"mode": mode})

    def rate_limits(self) -> dict[str, Any]:
        """The mode, its limits, and ``limited``: the 429s given, ``total``,
        ``by_endpoint`` (``"GET /v1/payment_intents/{id}"``) and ``by_reason``."""
        return self._call("GET", "rate_limits")

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "requests" + (f"?path={path}" if path else ""))["data"]

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def deliveries(self) -> list[dict[str, Any]]:
        """Each delivery (one event to one endpoint) with its ``state`` and ``attempts``."""
        return self._call("GET", "webhooks/deliveries")["data"]

    def webhooks(self) -> dict[str, Any]:
        """The retry mode and delays, ``holding``, ``held`` and the delivery faults."""
        return self._call("GET", "webhooks")

    def set_webhook_retries(self, mode: str) -> dict[str, Any]:
        """``fast``, ``test`` or ``live``, for deliveries from now on."""
        return self._call("POST", "webhooks/retries", {"mode": mode})

    def add_webhook_fault(self, action: str, count: int = 1,
                          event_type: str | None = None) -> dict[str, Any]:
        """``drop`` or ``duplicate`` the next ``count`` deliveries (of ``event_type``)."""
        return self._call("POST", "webhooks/faults",
                          {"action": action, "count": count, "event_type": event_type})

    def webhook_faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "webhooks/faults")["data"]

    def clear_webhook_faults(self) -> None:
        self._call("DELETE", "webhooks/faults")

    def hold_webhooks(self) -> dict[str, Any]:
        """Keep new deliveries back until ``release_webhooks``."""
        return self._call("POST", "webhooks/hold")

    def release_webhooks(self, order: str = "created", seed: int | None = None) -> list[str]:
        """Send the held deliveries one after another in ``order`` (``created``,
        ``reverse``, ``shuffle``); the delivery ids in the order they are sent."""
        body: dict[str, Any] = {"order": order}
        if seed is not None:
            body["seed"] = seed
        return self._call("POST", "webhooks/release", body)["released"]

    def seed(self, **spec: Any) -> dict[str, Any]:
        # 200,000 intents with their events take 5-10 s, a minute on a loaded machine.
        return self._call("POST", "seed", spec, timeout=600)

    def close(self) -> None:
        self._http.close()
