"""The ``/v1/`` pipeline: every API request passes here on its way to a handler.

In order: added latency and injected faults (``faults.py``), the check that no
reset happened while the request waited, routing, authentication (``auth.py``),
rate limits (``rate_limits.py``), due expiries, idempotency
(``idempotency.py``), parameter validation (``params.py``), the handler
(``resources/``), rendering with ``expand[]`` (``expand.py``), the request log,
and the answer with Stripe's headers.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from . import render
from .auth import authenticate, bearer_key
from .errors import SandboxError
from .expand import expanded
from .faults import STORED, Fault, Faults
from .idempotency import StoredAnswer
from .params import validate
from .rate_limits import RateLimiter, rate_limit_error
from .records import new_id
from .resources import api_routes
from .state import Sandbox
from .transport import Request, drop_connection, route_for, send_answer, to_json

log = logging.getLogger("stripe_sandbox")


class ApiPipeline:
    def __init__(self, *, sandbox: Sandbox, faults: Faults, limiter: RateLimiter,
                 secret_key: str, publishable_key: str, on_change: Callable[[], None]) -> None:
        self.sandbox = sandbox
        self.faults = faults
        self.limiter = limiter
        self.secret_key = secret_key
        self.publishable_key = publishable_key
        self.on_change = on_change  # state changed: the saver should write
        self.routes = api_routes()
        # Bumped by reset: a request still waiting out a delay from before the
        # reset must not write into the fresh state (it would leak across tests).
        self.generation = 0

    def reset(self) -> None:
        self.generation += 1

    async def handle(self, request: Request, send: Any) -> None:
        request_id = new_id("req_", 14)
        idempotency_key = request.headers.get("idempotency-key")
        generation = self.generation
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        fault = self.faults.take(request.method, request.path)
        if fault and fault.action == "delay":
            await asyncio.sleep(fault.delay_ms / 1000)
            fault = None
        if fault and fault.when == "before":
            await self._fault(request, send, fault, request_id, idempotency_key)
            return
        if generation != self.generation:
            error = SandboxError(503, "api_error", "The sandbox was reset while this request "
                                 "waited; it was not processed.")
            await send_answer(send, 503, to_json(error.body()), {"request-id": request_id},
                              cors=request.cors)
            return
        if fault and fault.when in STORED and idempotency_key and request.method == "POST":
            await self._fault_stored(request, send, fault, request_id, idempotency_key)
            return
        status, payload, extra = self._answer(request, request_id, idempotency_key)
        self._log(request, status, request_id, idempotency_key)
        if fault:  # "after" (or stored, with no key to keep it under): the answer is lost
            await self._fault(request, send, fault, request_id, idempotency_key, log=False)
            return
        headers = {"request-id": request_id, "stripe-version":
                   request.headers.get("stripe-version", render.API_VERSION), **extra}
        if idempotency_key:
            headers["idempotency-key"] = idempotency_key
        await send_answer(send, status, payload, headers, cors=request.cors)

    def _answer(self, request: Request, request_id: str, idempotency_key: str | None
                ) -> tuple[int, bytes, dict[str, str]]:
        """Status, body and extra headers; a stored answer when the key was seen."""
        sandbox = self.sandbox
        sandbox.request_id, sandbox.idempotency_key = request_id, idempotency_key
        fingerprint = ""
        try:
            route = route_for(self.routes, request)
            request.endpoint = route.endpoint
            authenticate(request, route, secret_key=self.secret_key,
                         publishable_key=self.publishable_key)
            # Limits are per account, on the account's own (secret-key) calls; Stripe.js's
            # calls from shoppers' browsers are not counted (README, Rate limits). A
            # refused call goes no further: nothing expires, nothing is stored under
            # its idempotency key.
            if not request.publishable:
                request.rate_limited = self.limiter.take(route.endpoint)
                if request.rate_limited:
                    raise rate_limit_error(request.rate_limited)
            if sandbox.expire_due():
                self.on_change()
            if idempotency_key and request.method == "POST":
                fingerprint = _fingerprint(request)
                cached = sandbox.idempotency.get((request.api_key, idempotency_key),
                                                 now=sandbox.clock.now())
                if cached is not None:
                    if cached.fingerprint != fingerprint:
                        raise SandboxError(
                            400, "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{idempotency_key}' if you meant to execute a different request.",
                            replayable=False)
                    return cached.status, cached.payload, {"idempotent-replayed": "true"}
            assert route.schema is not None
            request.params = validate(route.schema, request.raw_params(),
                                      publishable=request.publishable)
            result = route.handler(sandbox, request)
            status, payload = 200, to_json(expanded(result, request.params.get("expand"),
                                                    sandbox))
        except SandboxError as error:
            status, payload = error.status, to_json(error.body(render=self.render))
            if not (error.replayable and fingerprint):
                return status, payload, error.headers
        except Exception:  # a bug must not take the sandbox down
            log.exception("sandbox error on %s %s", request.method, request.path)
            error = SandboxError(500, "api_error", "An unknown error occurred in the sandbox.")
            return 500, to_json(error.body()), {}
        finally:
            sandbox.request_id = sandbox.idempotency_key = None
        if fingerprint:
            sandbox.idempotency.put((request.api_key, idempotency_key or ""), StoredAnswer(
                fingerprint, status, payload, sandbox.clock.now()))
        return status, payload, {}

    async def _fault_stored(self, request: Request, send: Any, fault: Fault, request_id: str,
                            idempotency_key: str) -> None:
        """A 5xx kept under the key: after the work (``stored_after``) or instead of it
        (``stored``); a key already answered replays its answer as usual."""
        key = (bearer_key(request), idempotency_key)
        if fault.when == "stored_after" or self.sandbox.idempotency.get(
                key, now=self.sandbox.clock.now()) is not None:
            status, payload, extra = self._answer(request, request_id, idempotency_key)
            if extra.get("idempotent-replayed") or status >= 400:
                self._log(request, status, request_id, idempotency_key)
                await send_answer(send, status, payload, {
                    "request-id": request_id, "idempotency-key": idempotency_key, **extra},
                    cors=request.cors)
                return
        error = fault.error()
        self.sandbox.idempotency.put(key, StoredAnswer(
            _fingerprint(request), error.status, to_json(error.body()),
            self.sandbox.clock.now()))
        self._log(request, error.status, request_id, idempotency_key)
        await send_answer(send, error.status, to_json(error.body()), {
            "request-id": request_id, "idempotency-key": idempotency_key,
            "stripe-should-retry": "false"}, cors=request.cors)

    def render(self, obj: Any) -> Any:
        return render.any_object(obj, self.sandbox)

    async def _fault(self, request: Request, send: Any, fault: Fault, request_id: str,
                     idempotency_key: str | None, log: bool = True) -> None:
        if fault.action == "drop":
            if log:
                self._log(request, 0, request_id, idempotency_key)
            await drop_connection(send)
            return
        error = fault.error()
        if log:
            self._log(request, error.status, request_id, idempotency_key)
        headers = {"request-id": request_id}
        if error.status == 429:
            headers["stripe-should-retry"] = "false"
        await send_answer(send, error.status, to_json(error.body()), headers,
                          cors=request.cors)

    def _log(self, request: Request, status: int, request_id: str, key: str | None) -> None:
        try:
            params = request.raw_params()
        except Exception:  # noqa: BLE001 - the log must never fail a request
            params = {}
        self.sandbox.request_log.append({
            "id": request_id, "method": request.method, "path": request.path, "params": params,
            "idempotency_key": key, "status": status, "at": time.time(),
            # Stripe.js calls (publishable key) apart from the server's (secret key).
            "publishable": request.publishable,
            # "GET /v1/payment_intents/{id}" (None when no route matched), and the
            # limit that refused the call ("global-rate", "endpoint-rate") or None.
            "endpoint": request.endpoint, "rate_limited": request.rate_limited})


def _fingerprint(request: Request) -> str:
    """What a key's later requests must repeat: the method, the path and the body."""
    return hashlib.sha256(f"{request.method} {request.path} ".encode() + request.body
                          ).hexdigest()
