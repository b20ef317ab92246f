"""The server side of the test controls under ``/_sandbox/`` (the client that calls
them is ``client.SandboxControls``).

Controls answer JSON, take JSON or form bodies, and are refused to web pages of
another origin, save the bank modal's ``authenticate`` (see ``transport.cors_headers``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from . import render
from .errors import SandboxError, invalid_request
from .faults import Faults
from .rate_limits import MODES, RateLimiter
from .seed import seed
from .state import Sandbox
from .transport import Request, Route, route_for, send_answer, to_json
from .webhooks import MAX_FAULT_COUNT, WebhookDispatcher

log = logging.getLogger("stripe_sandbox")

# The largest clock advance a control accepts: beyond it a typo, not a test.
MAX_CLOCK_ADVANCE_SECONDS = 10 * 366 * 86400
_ASCII_DIGITS = re.compile(r"[0-9]{1,12}", re.ASCII)


class ControlRoutes:
    def __init__(self, *, sandbox: Sandbox, faults: Faults, limiter: RateLimiter,
                 dispatcher: WebhookDispatcher, reset: Callable[[], None],
                 on_change: Callable[[], None]) -> None:
        self.sandbox = sandbox
        self.faults = faults
        self.limiter = limiter
        self.dispatcher = dispatcher
        self._reset = reset  # the app's: every part of the sandbox, not only the state
        self.on_change = on_change
        self.routes = [
            Route("POST", r"/_sandbox/reset", self.reset),
            Route("POST", r"/_sandbox/payment_intents/(?P<id>[^/]+)/authenticate",
                  self.authenticate),
            Route("GET", r"/_sandbox/clock", self.clock),
            Route("POST", r"/_sandbox/clock/advance", self.clock_advance),
            Route("GET", r"/_sandbox/faults", self.faults_list),
            Route("POST", r"/_sandbox/faults", self.fault_add),
            Route("DELETE", r"/_sandbox/faults", self.faults_clear),
            Route("GET", r"/_sandbox/latency", self.latency),
            Route("POST", r"/_sandbox/latency", self.latency),
            Route("GET", r"/_sandbox/rate_limits", self.rate_limits),
            Route("POST", r"/_sandbox/rate_limits", self.rate_limits),
            Route("GET", r"/_sandbox/requests", self.requests),
            Route("DELETE", r"/_sandbox/requests", self.requests_clear),
            Route("GET", r"/_sandbox/webhooks/deliveries", self.deliveries),
            Route("GET", r"/_sandbox/webhooks", self.webhooks),
            Route("POST", r"/_sandbox/webhooks/retries", self.webhook_retries),
            Route("GET", r"/_sandbox/webhooks/faults", self.webhook_faults),
            Route("POST", r"/_sandbox/webhooks/faults", self.webhook_fault_add),
            Route("DELETE", r"/_sandbox/webhooks/faults", self.webhook_faults_clear),
            Route("POST", r"/_sandbox/webhooks/hold", self.webhooks_hold),
            Route("POST", r"/_sandbox/webhooks/release", self.webhooks_release),
            Route("POST", r"/_sandbox/seed", self.seed),
        ]

    async def handle(self, request: Request, send: Any) -> None:
        try:
            if not request.cors and not _same_origin(request):
                # A page elsewhere must not drive the controls: without CORS it
                # cannot read the answer, but a plain form POST would still act.
                raise SandboxError(403, "invalid_request_error", "The sandbox's test controls "
                                   "do not accept requests from web pages of another origin.")
            route = route_for(self.routes, request)
            request.params = request.control_params()
            if self.sandbox.expire_due():
                self.on_change()
            status, body = 200, route.handler(request)
        except SandboxError as error:
            status, body = error.status, error.body(render=self._render)
        except Exception:  # noqa: BLE001 - controls must not take the sandbox down either
            log.exception("sandbox control error on %s %s", request.method, request.path)
            status, body = 500, SandboxError(500, "api_error", "Sandbox control failed.").body()
        await send_answer(send, status, to_json(self._render(body)), {}, cors=request.cors)

    def _render(self, obj: Any) -> Any:
        return render.any_object(obj, self.sandbox)

    # --- the controls, one per route ------------------------------------------------------

    def reset(self, request: Request) -> Any:
        self._reset()
        return {"reset": True}

    def authenticate(self, request: Request) -> Any:
        outcome = request.params.get("outcome")
        if outcome not in ("complete", "fail"):
            raise invalid_request("outcome must be complete or fail", param="outcome")
        intent = self.sandbox.payment_intent_get(request.path_id())
        secret = request.params.get("client_secret")
        if secret is None and "origin" in request.headers:
            # From a browser (the shim's modal) the intent's secret proves the page may act.
            raise invalid_request("client_secret is required when called from a web page.",
                                  param="client_secret")
        if secret is not None and secret != intent.client_secret:
            raise invalid_request("The client_secret provided does not match the PaymentIntent.",
                                  param="client_secret")
        return self.sandbox.payment_intent_authenticate(intent, complete=outcome == "complete")

    def clock(self, request: Request) -> Any:
        clock = self.sandbox.clock
        return {"now": clock.now(), "offset": clock.offset}

    def clock_advance(self, request: Request) -> Any:
        seconds = control_int(request.params.get("seconds"), "seconds",
                              maximum=MAX_CLOCK_ADVANCE_SECONDS,
                              hint="a non-negative integer of at most ten years")
        self.sandbox.clock.advance(seconds)
        self.dispatcher.clock_advanced()  # webhook retries now due go at once
        expired = self.sandbox.expire_due()
        return {**self.clock(request), "expired": expired}

    def faults_list(self, request: Request) -> Any:
        return {"data": [fault.describe() for fault in self.faults.rules],
                "latency_ms": self.faults.latency_ms}

    def fault_add(self, request: Request) -> Any:
        return self.faults.add(request.params).describe()

    def faults_clear(self, request: Request) -> Any:
        self.faults.clear()
        return self.faults_list(request)

    def latency(self, request: Request) -> Any:
        if request.method == "POST":
            self.faults.latency_ms = control_int(request.params.get("ms"), "ms", maximum=60_000,
                                                 hint="an integer from 0 to 60000")
        return {"latency_ms": self.faults.latency_ms}

    def rate_limits(self, request: Request) -> Any:
        """``GET``: the mode, its limits and the 429s given since it was set; ``POST
        {mode}``: switch (``off``, ``test``, ``live``), starting with empty windows and
        counters."""
        if request.method == "POST":
            mode = request.params.get("mode")
            if mode not in MODES:
                raise invalid_request(f"mode must be one of {', '.join(MODES)}", param="mode")
            self.limiter.set_mode(mode)
        return self.limiter.describe()

    def requests(self, request: Request) -> Any:
        log_ = self.sandbox.request_log
        prefix = request.params.get("path")
        if prefix is not None and not isinstance(prefix, str):
            raise invalid_request("path must be a string", param="path")
        data = [entry for entry in log_ if not prefix or entry["path"].startswith(prefix)]
        return {"data": data, "count": len(data)}

    def requests_clear(self, request: Request) -> Any:
        self.sandbox.request_log.clear()
        return {"data": [], "count": 0}

    def deliveries(self, request: Request) -> Any:
        data = [delivery.describe() for delivery in self.dispatcher.deliveries]
        return {"data": data, "count": len(data)}

    def webhooks(self, request: Request) -> Any:
        """The retry mode and its delays, whether deliveries are held, the delivery faults."""
        return self.dispatcher.describe()

    def webhook_retries(self, request: Request) -> Any:
        self.dispatcher.set_retries(request.params.get("mode"))
        return self.dispatcher.describe()

    def webhook_faults(self, request: Request) -> Any:
        return {"data": [fault.describe() for fault in self.dispatcher.faults]}

    def webhook_fault_add(self, request: Request) -> Any:
        hint = f"an integer from 1 to {MAX_FAULT_COUNT}"
        count = control_int(request.params.get("count", 1), "count", maximum=MAX_FAULT_COUNT,
                            hint=hint)
        if count < 1:
            raise invalid_request(f"count must be {hint}", param="count")
        return self.dispatcher.add_fault(action=request.params.get("action"), count=count,
                                         event_type=request.params.get("event_type")).describe()

    def webhook_faults_clear(self, request: Request) -> Any:
        self.dispatcher.faults.clear()
        return {"data": []}

    def webhooks_hold(self, request: Request) -> Any:
        self.dispatcher.hold()
        return self.dispatcher.describe()

    def webhooks_release(self, request: Request) -> Any:
        seed = request.params.get("seed")
        released = self.dispatcher.release(
            order=request.params.get("order", "created"),
            seed=None if seed is None else control_int(seed, "seed", maximum=2**31,
                                                       hint="a non-negative integer"))
        return {"released": [delivery.id for delivery in released],
                **self.dispatcher.describe()}

    def seed(self, request: Request) -> Any:
        return seed(self.sandbox, request.params)


def control_int(value: Any, name: str, *, maximum: int, hint: str) -> int:
    """A control's integer: ASCII digits only ("²".isdigit() is true, int("²") fails)."""
    raw = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not _ASCII_DIGITS.fullmatch(raw) or int(raw) > maximum:
        raise invalid_request(f"{name} must be {hint}", param=name)
    return int(raw)


def _same_origin(request: Request) -> bool:
    """No ``Origin`` (curl, tests, the site's server) or the sandbox's own origin."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")
