"""The sandbox's ASGI application: Stripe's ``/v1/`` API, the Stripe.js shim at
``/v3/`` and the test controls under ``/_sandbox/``.

This module wires the parts together and sends each request to its part:
``api.py`` (the ``/v1/`` pipeline, handlers in ``resources/``),
``control_routes.py`` (``/_sandbox/``) or the static shim. HTTP details are in
``transport.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .api import ApiPipeline
from .auth import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY
from .control_routes import ControlRoutes
from .errors import invalid_request
from .faults import Faults
from .persistence import StateSaver, load
from .rate_limits import RateLimiter
from .state import Sandbox
from .transport import (
    Request,
    cors_headers,
    read_body,
    send_answer,
    send_json,
    to_json,
    unrecognized,
)
from .webhooks import (
    FAST_RETRY_DELAYS,
    WebhookDispatcher,
    site_webhook_parse,
    site_webhook_register,
)

__all__ = ["DEFAULT_PUBLISHABLE_KEY", "DEFAULT_SECRET_KEY", "MAX_BODY_BYTES", "SandboxApp"]

SHIM_PATH = Path(__file__).with_name("static") / "stripe.js"
SHIM_CSS_PATH = SHIM_PATH.with_name("stripe.css")
# Bodies beyond this are refused before authentication and without reading the
# rest (Stripe's own limits are far below it for form bodies).
MAX_BODY_BYTES = 1 << 20


class SandboxApp:
    def __init__(self, *, secret_key: str = DEFAULT_SECRET_KEY,
                 publishable_key: str = DEFAULT_PUBLISHABLE_KEY,
                 webhook_retries: str = "fast",
                 webhook_retry_delays: tuple[float, ...] = FAST_RETRY_DELAYS,
                 state_file: str | Path | None = None, save_interval: float = 1.0,
                 webhook_url: str | None = None, webhook_secret: str | None = None,
                 rate_limits: str = "off") -> None:
        self.secret_key = secret_key
        self.publishable_key = publishable_key
        self.sandbox = Sandbox(on_event=self._on_event)
        # webhook_retries: "fast" (webhook_retry_delays, real seconds; the default for
        # tests), or Stripe's "test" / "live" schedules on the sandbox clock.
        self.dispatcher = WebhookDispatcher(clock=self.sandbox.clock, retries=webhook_retries,
                                            retry_delays=webhook_retry_delays,
                                            on_delivered=self._changed)
        self.saver: StateSaver | None = None
        if state_file is not None:
            load(Path(state_file), self.sandbox)
            self.saver = StateSaver(Path(state_file), self.sandbox, interval=save_interval)
        self.site_webhook = site_webhook_parse(webhook_url, webhook_secret)
        self._register_site_webhook()
        self.faults = Faults()
        # --rate-limits: the mode a reset returns to (the control changes it at run time).
        self.rate_limits = rate_limits
        self.limiter = RateLimiter(mode=rate_limits)
        self.api = ApiPipeline(sandbox=self.sandbox, faults=self.faults, limiter=self.limiter,
                               secret_key=secret_key, publishable_key=publishable_key,
                               on_change=self._changed)
        self.controls = ControlRoutes(sandbox=self.sandbox, faults=self.faults,
                                      limiter=self.limiter, dispatcher=self.dispatcher,
                                      reset=self.reset, on_change=self._changed)
        self.shim = SHIM_PATH.read_bytes()
        self.shim_css = SHIM_CSS_PATH.read_bytes()

    def _on_event(self, event: Any) -> None:
        self.dispatcher.enqueue(event, list(self.sandbox.webhook_endpoints.values()))

    def _changed(self) -> None:
        if self.saver is not None:
            self.saver.mark_dirty()

    def _register_site_webhook(self) -> None:
        if self.site_webhook is not None:
            site_webhook_register(self.sandbox, self.site_webhook)
            self._changed()

    def reset(self) -> None:
        """Forget everything (``POST /_sandbox/reset``) but the command line's options."""
        self.api.reset()
        self.dispatcher.reset()
        self.faults.clear()
        self.faults.latency_ms = 0
        self.limiter.set_mode(self.rate_limits)
        self.sandbox.reset()
        self._register_site_webhook()

    # --- ASGI entry point -------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        body = await read_body(receive, headers, MAX_BODY_BYTES)
        if body is None:
            error = invalid_request(f"Request body too large: the sandbox accepts at most "
                                    f"{MAX_BODY_BYTES} bytes.", status=413)
            await send_answer(send, 413, to_json(error.body()), {"connection": "close"},
                              cors=cors_headers(path))
            return
        request = Request(scope["method"], path, scope["query_string"].decode("latin-1"),
                          body, headers)
        if request.method == "OPTIONS":  # CORS preflight from Stripe.js pages
            # Controls answer it without any allow header, so browsers refuse the call.
            await send_answer(send, 204 if request.cors else 403, b"", {}, cors=request.cors)
            return
        if request.method != "GET":
            self._changed()
        if request.path.startswith("/v1/"):
            await self.api.handle(request, send)
        elif request.path.startswith("/_sandbox/"):
            await self.controls.handle(request, send)
        elif request.path.rstrip("/") == "/v3":
            await send_answer(send, 200, self.shim, {"content-type": "application/javascript"},
                              cors=request.cors)
        elif request.path == "/v3/stripe.css":
            await send_answer(send, 200, self.shim_css, {"content-type": "text/css"},
                              cors=request.cors)
        elif request.path in ("/", "/healthz"):
            await send_json(send, 200, {"object": "sandbox", "api": "/v1/", "stripe_js": "/v3/",
                                        "controls": "/_sandbox/"})
        else:
            await send_json(send, 404, unrecognized(request).body())

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.saver is not None:
                    self.saver.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.dispatcher.aclose()
                if self.saver is not None:
                    await self.saver.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
