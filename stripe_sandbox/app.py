"""The sandbox's ASGI application: Stripe's ``/v1/`` API, the Stripe.js shim
at ``/v3/`` and the test controls under ``/_sandbox/``.

Raw ASGI rather than a framework: the sandbox must be able to delay a request,
drop its connection, and replay stored answers byte for byte, all of which sit
below what a framework exposes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from . import render
from .errors import SandboxError, invalid_request, resource_missing
from .faults import Faults
from .idempotency import StoredAnswer
from .params import SCHEMAS, decode_form, validate
from .persistence import StateSaver, load
from .queries import check_limit, created_filter, page_key, page_token, paginate, search_parse
from .records import BalanceTransaction, Charge, PaymentIntent, WebhookEndpoint, new_id
from .seed import seed
from .state import Sandbox
from .webhooks import WebhookDispatcher

log = logging.getLogger("stripe_sandbox")

DEFAULT_SECRET_KEY = "sk_test_sandboxSecretKey000000000000000"
DEFAULT_PUBLISHABLE_KEY = "pk_test_sandboxPublishableKey0000000000"
SHIM_PATH = Path(__file__).with_name("static") / "stripe.js"
SHIM_CSS_PATH = SHIM_PATH.with_name("stripe.css")
# Bodies beyond this are refused before authentication and without reading the
# rest (Stripe's own limits are far below it for form bodies).
MAX_BODY_BYTES = 1 << 20
# The largest clock advance a control accepts: beyond it a typo, not a test.
MAX_CLOCK_ADVANCE_SECONDS = 10 * 366 * 86400
MAX_EVENT_TYPES = 20
_ASCII_DIGITS = re.compile(r"[0-9]{1,12}", re.ASCII)
# The one control a browser page may call: the bank modal's buttons (stripe.js).
_AUTHENTICATE_PATH = re.compile(r"/_sandbox/payment_intents/[^/]+/authenticate/?$")

Handler = Callable[["Request"], Any]


class Request:
    __slots__ = ("method", "path", "query", "body", "headers", "params", "match", "api_key",
                 "publishable", "cors", "_raw_params")

    def __init__(self, method: str, path: str, query: str, body: bytes,
                 headers: dict[str, str]) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.headers = headers
        self.params: dict[str, Any] = {}
        self.match: re.Match[str] | None = None
        self.api_key = ""
        self.publishable = False
        self.cors = _cors_headers(path)
        self._raw_params: dict[str, Any] | None = None

    def raw_params(self) -> dict[str, Any]:
        """The decoded form body (POST) or query string, decoded once."""
        if self._raw_params is None:
            raw = self.body.decode("utf-8", "replace") if self.method == "POST" else self.query
            self._raw_params = decode_form(raw)
        return self._raw_params

    def control_params(self) -> dict[str, Any]:
        """Test-control bodies: JSON or form, plus the query string."""
        params: dict[str, Any] = dict(parse_qsl(self.query))
        if self.body:
            if self.headers.get("content-type", "").startswith("application/json"):
                try:
                    body = json.loads(self.body)
                except (ValueError, RecursionError):  # RecursionError: absurdly deep JSON
                    raise invalid_request("Body is not valid JSON (or nests too deeply).") \
                        from None
                if not isinstance(body, dict):
                    raise invalid_request("Body must be a JSON object.")
                params.update(body)
            else:
                params.update(decode_form(self.body.decode("utf-8", "replace")))
        return params


class Route:
    def __init__(self, method: str, pattern: str, handler: Handler, schema: str | None,
                 publishable: bool = False) -> None:
        self.method = method
        self.regex = re.compile(pattern + r"/?$")
        self.handler = handler
        self.schema = SCHEMAS[schema] if schema else None
        self.publishable = publishable


class SandboxApp:
    def __init__(self, *, secret_key: str = DEFAULT_SECRET_KEY,
                 publishable_key: str = DEFAULT_PUBLISHABLE_KEY,
                 webhook_retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0),
                 state_file: str | Path | None = None, save_interval: float = 1.0,
                 webhook_url: str | None = None, webhook_secret: str | None = None) -> None:
        self.secret_key = secret_key
        self.publishable_key = publishable_key
        self.dispatcher = WebhookDispatcher(retry_delays=webhook_retry_delays,
                                            on_delivered=self._changed)
        self.sandbox = Sandbox(on_event=self._on_event)
        self.saver: StateSaver | None = None
        if state_file is not None:
            load(Path(state_file), self.sandbox)
            self.saver = StateSaver(Path(state_file), self.sandbox, interval=save_interval)
        self.site_webhook = _site_webhook(webhook_url, webhook_secret)
        self._register_site_webhook()
        self.faults = Faults()
        # Bumped by reset: a request still waiting out a delay from before the
        # reset must not write into the fresh state (it would leak across tests).
        self.generation = 0
        self.shim = SHIM_PATH.read_bytes()
        self.shim_css = SHIM_CSS_PATH.read_bytes()
        self.api_routes = self._api_routes()
        self.control_routes = self._control_routes()

    def _on_event(self, event: Any) -> None:
        self.dispatcher.enqueue(event, list(self.sandbox.webhook_endpoints.values()))

    def _changed(self) -> None:
        if self.saver is not None:
            self.saver.mark_dirty()

    def _register_site_webhook(self) -> None:
        """The ``--webhook-url`` endpoint: every event, signed with ``--webhook-secret``.
        Kept across restarts (one endpoint per URL) and re-created by a reset."""
        if self.site_webhook is None:
            return
        url, secret = self.site_webhook
        endpoints = self.sandbox.webhook_endpoints
        endpoint = next((e for e in endpoints.values() if e.url == url), None)
        if endpoint is None:
            endpoint = WebhookEndpoint(id=new_id("we_"), created=self.sandbox.clock.now(),
                                       url=url, enabled_events=["*"], secret=secret,
                                       description="--webhook-url (python -m stripe_sandbox)")
            endpoints[endpoint.id] = endpoint
        endpoint.enabled_events, endpoint.secret = ["*"], secret
        self._changed()

    # --- ASGI entry point -------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        body = await _read_body(receive, headers, MAX_BODY_BYTES)
        if body is None:
            error = invalid_request(f"Request body too large: the sandbox accepts at most "
                                    f"{MAX_BODY_BYTES} bytes.", status=413)
            await _send(send, 413, _json(error.body()), {"connection": "close"},
                        cors=_cors_headers(path))
            return
        request = Request(scope["method"], path, scope["query_string"].decode("latin-1"),
                          body, headers)
        if request.method == "OPTIONS":  # CORS preflight from Stripe.js pages
            # Controls answer it without any allow header, so browsers refuse the call.
            await _send(send, 204 if request.cors else 403, b"", {}, cors=request.cors)
            return
        if request.method != "GET":
            self._changed()
        if request.path.startswith("/v1/"):
            await self._api(request, send)
        elif request.path.startswith("/_sandbox/"):
            await self._control(request, send)
        elif request.path.rstrip("/") == "/v3":
            await _send(send, 200, self.shim, {"content-type": "application/javascript"},
                        cors=request.cors)
        elif request.path == "/v3/stripe.css":
            await _send(send, 200, self.shim_css, {"content-type": "text/css"},
                        cors=request.cors)
        elif request.path in ("/", "/healthz"):
            await _send_json(send, 200, {"object": "sandbox", "api": "/v1/", "stripe_js": "/v3/",
                                         "controls": "/_sandbox/"})
        else:
            await _send_json(send, 404, _unrecognized(request).body())

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

    # --- /v1/ ---------------------------------------------------------------------------

    async def _api(self, request: Request, send: Any) -> None:
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
            await _send(send, 503, _json(error.body()), {"request-id": request_id},
                        cors=request.cors)
            return
        status, payload, extra = self._api_handle(request, request_id, idempotency_key)
        self._log(request, status, request_id, idempotency_key)
        if fault:  # "after": the work is done, the answer is lost
            await self._fault(request, send, fault, request_id, idempotency_key, log=False)
            return
        headers = {"request-id": request_id, "stripe-version":
                   request.headers.get("stripe-version", render.API_VERSION), **extra}
        if idempotency_key:
            headers["idempotency-key"] = idempotency_key
        await _send(send, status, payload, headers, cors=request.cors)

    def _api_handle(self, request: Request, request_id: str, idempotency_key: str | None
                    ) -> tuple[int, bytes, dict[str, str]]:
        sandbox = self.sandbox
        sandbox.request_id, sandbox.idempotency_key = request_id, idempotency_key
        fingerprint = ""
        try:
            route = self._route(self.api_routes, request)
            self._authenticate(request, route)
            if sandbox.expire_due():
                self._changed()
            if idempotency_key and request.method == "POST":
                fingerprint = hashlib.sha256(
                    f"{request.method} {request.path} ".encode() + request.body).hexdigest()
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
            result = route.handler(request)
            status, payload = 200, _json(self._expand(result, request.params.get("expand")))
        except SandboxError as error:
            status, payload = error.status, _json(error.body(render=self._render))
            if not (error.replayable and fingerprint):
                return status, payload, error.headers
        except Exception:  # a bug must not take the sandbox down
            log.exception("sandbox error on %s %s", request.method, request.path)
            error = SandboxError(500, "api_error", "An unknown error occurred in the sandbox.")
            return 500, _json(error.body()), {}
        finally:
            sandbox.request_id = sandbox.idempotency_key = None
        if fingerprint:
            sandbox.idempotency.put((request.api_key, idempotency_key or ""), StoredAnswer(
                fingerprint, status, payload, sandbox.clock.now()))
        return status, payload, {}

    async def _fault(self, request: Request, send: Any, fault: Any, request_id: str,
                     idempotency_key: str | None, log: bool = True) -> None:
        if fault.action == "drop":
            if log:
                self._log(request, 0, request_id, idempotency_key)
            await _drop(send)
            return
        error = fault.error()
        if log:
            self._log(request, error.status, request_id, idempotency_key)
        headers = {"request-id": request_id}
        if error.status == 429:
            headers["stripe-should-retry"] = "false"
        await _send(send, error.status, _json(error.body()), headers, cors=request.cors)

    def _log(self, request: Request, status: int, request_id: str, key: str | None) -> None:
        try:
            params = request.raw_params()
        except Exception:  # noqa: BLE001 - the log must never fail a request
            params = {}
        self.sandbox.request_log.append({
            "id": request_id, "method": request.method, "path": request.path, "params": params,
            "idempotency_key": key, "status": status, "at": time.time(),
            # Stripe.js calls (publishable key) apart from the server's (secret key).
            "publishable": request.publishable})

    def _route(self, routes: list[Route], request: Request) -> Route:
        path_matched = False
        for route in routes:
            match = route.regex.match(request.path)
            if match:
                path_matched = True
                if route.method == request.method:
                    request.match = match
                    return route
        if path_matched:
            raise invalid_request(
                f"Unrecognized request URL ({request.method}: {request.path}): that method is "
                "not allowed here.", status=405)
        raise _unrecognized(request)

    def _authenticate(self, request: Request, route: Route) -> None:
        header = request.headers.get("authorization", "")
        key = ""
        if header.startswith("Bearer "):
            key = header[7:].strip()
        elif header.startswith("Basic "):
            try:
                key = base64.b64decode(header[6:]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise SandboxError(
                401, "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                "or we can help at https://support.stripe.com/.", replayable=False)
        if key == self.publishable_key and route.publishable:
            request.publishable = True
        elif key != self.secret_key:
            if key == self.publishable_key:
                raise SandboxError(
                    401, "invalid_request_error", "This API call cannot be made with a "
                    "publishable API key. Please use a secret API key. You can find a list of "
                    "your API keys at https://dashboard.stripe.com/account/apikeys.",
                    code="secret_key_required", replayable=False)
            raise SandboxError(401, "invalid_request_error",
                               f"Invalid API Key provided: {key[:8]}{'*' * 12}{key[-4:]}",
                               replayable=False)
        request.api_key = key

    # --- rendering and expand[] -----------------------------------------------------------

    def _render(self, obj: Any) -> Any:
        return render.any_object(obj, self.sandbox)

    def _expand(self, result: Any, paths: list[str] | None) -> Any:
        body = self._render(result)
        if isinstance(body, dict) and body.get("object") in ("list", "search_result"):
            body["data"] = [self._render(item) for item in body["data"]]
        for path in paths or []:
            self._expand_path(body, path.split("."), path)
        return body

    def _expand_path(self, node: Any, parts: list[str], full: str) -> None:
        if not parts or node is None:
            return
        head, rest = parts[0], parts[1:]
        if not isinstance(node, dict) or head not in node:
            raise invalid_request(f"This property cannot be expanded ({full}).", param="expand")
        value = node[head]
        if head == "data" and isinstance(value, list):
            for item in value:
                self._expand_path(item, rest, full)
            return
        if isinstance(value, str):
            target = self.sandbox.object_get(value)
            if target is None:
                raise invalid_request(f"This property cannot be expanded ({full}).",
                                      param="expand")
            node[head] = value = self._render(target)
        self._expand_path(value, rest, full)

    # --- /v1/ handlers ---------------------------------------------------------------------

    def _api_routes(self) -> list[Route]:
        pi = r"/v1/payment_intents/(?P<id>[^/]+)"
        return [
            Route("GET", r"/v1/account", lambda r: render.account(), "account.retrieve"),
            Route("POST", r"/v1/customers", self.customer_create, "customer.create"),
            Route("GET", r"/v1/customers/(?P<id>[^/]+)", self.customer_retrieve,
                  "customer.retrieve"),
            Route("POST", r"/v1/payment_methods", self.payment_method_create,
                  "payment_method.create", publishable=True),
            Route("GET", r"/v1/payment_methods/(?P<id>[^/]+)", self.payment_method_retrieve,
                  "payment_method.retrieve"),
            Route("GET", r"/v1/payment_intents/search", self.payment_intent_search,
                  "payment_intent.search"),
            Route("POST", r"/v1/payment_intents", self.payment_intent_create,
                  "payment_intent.create"),
            Route("GET", r"/v1/payment_intents", self.payment_intent_list, "payment_intent.list"),
            Route("GET", pi, self.payment_intent_retrieve, "payment_intent.retrieve",
                  publishable=True),
            Route("POST", pi, self.payment_intent_update, "payment_intent.update"),
            Route("POST", pi + "/confirm", self.payment_intent_confirm, "payment_intent.confirm",
                  publishable=True),
            Route("POST", pi + "/cancel", self.payment_intent_cancel, "payment_intent.cancel"),
            Route("GET", r"/v1/charges", self.charge_list, "charge.list"),
            Route("GET", r"/v1/charges/(?P<id>[^/]+)", self.charge_retrieve, "charge.retrieve"),
            Route("GET", r"/v1/balance_transactions", self.balance_transaction_list,
                  "balance_transaction.list"),
            Route("GET", r"/v1/balance_transactions/(?P<id>[^/]+)",
                  self.balance_transaction_retrieve, "balance_transaction.retrieve"),
            Route("GET", r"/v1/events", self.event_list, "event.list"),
            Route("GET", r"/v1/events/(?P<id>[^/]+)", self.event_retrieve, "event.retrieve"),
            Route("POST", r"/v1/webhook_endpoints", self.webhook_endpoint_create,
                  "webhook_endpoint.create"),
            Route("GET", r"/v1/webhook_endpoints", self.webhook_endpoint_list,
                  "webhook_endpoint.list"),
            Route("GET", r"/v1/webhook_endpoints/(?P<id>[^/]+)", self.webhook_endpoint_retrieve,
                  "webhook_endpoint.retrieve"),
            Route("DELETE", r"/v1/webhook_endpoints/(?P<id>[^/]+)",
                  self.webhook_endpoint_delete, "webhook_endpoint.delete"),
        ]

    @staticmethod
    def _id(request: Request) -> str:
        assert request.match is not None
        return request.match["id"]

    def customer_create(self, request: Request) -> Any:
        return self.sandbox.customer_create(request.params)

    def customer_retrieve(self, request: Request) -> Any:
        return self.sandbox.customer_get(self._id(request))

    def payment_method_create(self, request: Request) -> Any:
        return self.sandbox.payment_method_create(request.params)

    def payment_method_retrieve(self, request: Request) -> Any:
        return self.sandbox.payment_method_get(self._id(request))

    def _intent(self, request: Request) -> PaymentIntent:
        intent = self.sandbox.payment_intent_get(self._id(request))
        if request.publishable and request.params.get("client_secret") != intent.client_secret:
            raise invalid_request("The client_secret provided does not match the client_secret "
                                  "associated with the PaymentIntent.", param="client_secret")
        return intent

    def payment_intent_create(self, request: Request) -> Any:
        return self.sandbox.payment_intent_create(request.params)

    def payment_intent_retrieve(self, request: Request) -> Any:
        return self._intent(request)

    def payment_intent_update(self, request: Request) -> Any:
        return self.sandbox.payment_intent_update(self._intent(request), request.params)

    def payment_intent_confirm(self, request: Request) -> Any:
        return self.sandbox.payment_intent_confirm(self._intent(request), request.params,
                                                   publishable=request.publishable)

    def payment_intent_cancel(self, request: Request) -> Any:
        return self.sandbox.payment_intent_cancel(self._intent(request), request.params)

    def payment_intent_list(self, request: Request) -> Any:
        params = request.params
        items = self.sandbox.intents_by_created
        start, stop = _created_slice(items, params.get("created"))
        keep = None
        if params.get("customer"):
            customer = params["customer"]
            keep = lambda intent: intent.customer == customer  # noqa: E731
        data, has_more = paginate(items, params=params, keep=keep, start=start, stop=stop,
                                  position=self._intent_position)
        return _list(data, has_more, "/v1/payment_intents")

    def _intent_position(self, intent_id: str) -> int:
        intent = self.sandbox.payment_intents.get(intent_id)
        if intent is None:
            raise _cursor_missing("payment_intent", intent_id)
        return self.sandbox.intents_by_created.index(intent)

    def payment_intent_search(self, request: Request) -> Any:
        params = request.params
        limit = check_limit(params)
        test = search_parse(params["query"])
        items = self.sandbox.intents_by_created
        index = items.bisect_key_right(page_key(params["page"])) if params.get("page") else 0
        data: list[PaymentIntent] = []
        while index < len(items) and len(data) <= limit:
            if test(items[index]):
                data.append(items[index])
            index += 1
        has_more = len(data) > limit
        data = data[:limit]
        return {"object": "search_result", "data": data, "has_more": has_more,
                "next_page": page_token(data[-1]) if has_more else None,
                "url": "/v1/payment_intents/search"}

    def charge_retrieve(self, request: Request) -> Any:
        charge = self.sandbox.charges.get(self._id(request))
        if charge is None:
            raise self.sandbox.not_found("charge", self._id(request), None)
        return charge

    def charge_list(self, request: Request) -> Any:
        params = request.params
        sandbox = self.sandbox
        if params.get("payment_intent"):
            ids = sandbox.charges_by_intent.get(params["payment_intent"], [])
        else:
            ids = list(sandbox.charges)
        charges = [sandbox.charges[i] for i in reversed(ids)]
        created = created_filter(params)
        customer = params.get("customer")

        def keep(charge: Charge) -> bool:
            return ((created is None or created(charge.created))
                    and (customer is None or charge.customer == customer))

        positions = {charge.id: index for index, charge in enumerate(charges)}
        data, has_more = paginate(charges, params=params, keep=keep,
                                  position=lambda cid: _position(positions, cid, "charge"))
        return _list(data, has_more, "/v1/charges")

    def balance_transaction_retrieve(self, request: Request) -> Any:
        txn = self.sandbox.balance_transaction_get(self._id(request))
        if txn is None:
            raise self.sandbox.not_found("balance_transaction", self._id(request), None)
        return txn

    def balance_transaction_list(self, request: Request) -> Any:
        params = request.params
        sandbox = self.sandbox
        if params.get("source"):
            ids = [params["source"]] if params["source"] in sandbox.charges else []
        else:
            ids = list(sandbox.charges)
        txns = [BalanceTransaction(sandbox.charges[i]) for i in reversed(ids)
                if sandbox.charges[i].captured]
        created = created_filter(params)
        currency, kind = params.get("currency"), params.get("type")

        def keep(txn: BalanceTransaction) -> bool:
            return ((created is None or created(txn.charge.created))
                    and (currency is None or txn.charge.currency == currency.lower())
                    and (kind is None or kind == "charge"))

        positions = {txn.id: index for index, txn in enumerate(txns)}
        data, has_more = paginate(txns, params=params, keep=keep, position=lambda tid:
                                  _position(positions, tid, "balance_transaction"))
        return _list(data, has_more, "/v1/balance_transactions")

    def event_retrieve(self, request: Request) -> Any:
        event = self.sandbox.event_index.get(self._id(request))
        if event is None:
            raise self.sandbox.not_found("event", self._id(request), None)
        return render.event(event, self.sandbox)

    def event_list(self, request: Request) -> Any:
        """Stripe's ``GET /v1/events`` (stripe-python ``EventListParams``): ``type`` exact or
        with ``*`` wildcards, or ``types[]`` (up to 20 exact names), not both; ``created``
        ranges; ``delivery_success``; newest first with cursors."""
        params = request.params
        events = self.sandbox.events
        if params.get("type") and params.get("types"):
            raise invalid_request("You may only specify one of these parameters: type, types.",
                                  param="types")
        keep_type: Callable[[str], bool] | None = None
        if params.get("type"):
            pattern = re.compile(re.escape(params["type"]).replace(r"\*", ".*"))
            keep_type = lambda kind: pattern.fullmatch(kind) is not None  # noqa: E731
        elif params.get("types"):
            if len(params["types"]) > MAX_EVENT_TYPES:
                raise invalid_request(f"types accepts at most {MAX_EVENT_TYPES} event types.",
                                      param="types")
            wanted = frozenset(params["types"])
            keep_type = wanted.__contains__
        delivered = params.get("delivery_success")
        start, stop = _created_slice(events, params.get("created"))

        def keep(event: Any) -> bool:
            return ((keep_type is None or keep_type(event.type))
                    and (delivered is None or (event.pending_webhooks == 0) == delivered))

        def position(event_id: str) -> int:
            event = self.sandbox.event_index.get(event_id)
            if event is None:
                raise _cursor_missing("event", event_id)
            return events.index(event)

        filtered = keep_type is not None or delivered is not None
        data, has_more = paginate(events, params=params, keep=keep if filtered else None,
                                  start=start, stop=stop, position=position)
        return _list([render.event(e, self.sandbox) for e in data], has_more, "/v1/events")

    def webhook_endpoint_create(self, request: Request) -> Any:
        params = request.params
        url = params["url"]
        if not re.match(r"https?://[^\s/]+", url):
            raise invalid_request("Invalid URL: must be an http or https URL.", param="url",
                                  code="url_invalid")
        if not params["enabled_events"]:
            raise invalid_request("enabled_events must list at least one event type.",
                                  param="enabled_events")
        endpoint = WebhookEndpoint(
            id=new_id("we_"), created=self.sandbox.clock.now(), url=url,
            enabled_events=list(params["enabled_events"]), secret=new_id("whsec_", 32),
            description=params.get("description"), metadata=params.get("metadata", {}),
            api_version=params.get("api_version"))
        self.sandbox.webhook_endpoints[endpoint.id] = endpoint
        return render.webhook_endpoint(endpoint, with_secret=True)

    def _endpoint(self, request: Request) -> WebhookEndpoint:
        endpoint = self.sandbox.webhook_endpoints.get(self._id(request))
        if endpoint is None:
            raise self.sandbox.not_found("webhook_endpoint", self._id(request), None)
        return endpoint

    def webhook_endpoint_retrieve(self, request: Request) -> Any:
        return self._endpoint(request)

    def webhook_endpoint_delete(self, request: Request) -> Any:
        endpoint = self._endpoint(request)
        del self.sandbox.webhook_endpoints[endpoint.id]
        return {"id": endpoint.id, "object": "webhook_endpoint", "deleted": True}

    def webhook_endpoint_list(self, request: Request) -> Any:
        endpoints = list(reversed(self.sandbox.webhook_endpoints.values()))
        positions = {endpoint.id: index for index, endpoint in enumerate(endpoints)}
        data, has_more = paginate(endpoints, params=request.params,
                                  position=lambda eid: _position(positions, eid,
                                                                 "webhook_endpoint"))
        return _list(data, has_more, "/v1/webhook_endpoints")

    # --- /_sandbox/ controls ----------------------------------------------------------------

    def _control_routes(self) -> list[Route]:
        def route(method: str, pattern: str, handler: Handler) -> Route:
            return Route(method, pattern, handler, None)

        return [
            route("POST", r"/_sandbox/reset", self.control_reset),
            route("POST", r"/_sandbox/payment_intents/(?P<id>[^/]+)/authenticate",
                  self.control_authenticate),
            route("GET", r"/_sandbox/clock", self.control_clock),
            route("POST", r"/_sandbox/clock/advance", self.control_clock_advance),
            route("GET", r"/_sandbox/faults", self.control_faults),
            route("POST", r"/_sandbox/faults", self.control_fault_add),
            route("DELETE", r"/_sandbox/faults", self.control_faults_clear),
            route("GET", r"/_sandbox/latency", self.control_latency),
            route("POST", r"/_sandbox/latency", self.control_latency),
            route("GET", r"/_sandbox/requests", self.control_requests),
            route("DELETE", r"/_sandbox/requests", self.control_requests_clear),
            route("GET", r"/_sandbox/webhooks/deliveries", self.control_deliveries),
            route("POST", r"/_sandbox/seed", self.control_seed),
        ]

    async def _control(self, request: Request, send: Any) -> None:
        try:
            if not request.cors and not _same_origin(request):
                # A page elsewhere must not drive the controls: without CORS it
                # cannot read the answer, but a plain form POST would still act.
                raise SandboxError(403, "invalid_request_error", "The sandbox's test controls "
                                   "do not accept requests from web pages of another origin.")
            route = self._route(self.control_routes, request)
            request.params = request.control_params()
            if self.sandbox.expire_due():
                self._changed()
            status, body = 200, route.handler(request)
        except SandboxError as error:
            status, body = error.status, error.body(render=self._render)
        except Exception:  # noqa: BLE001 - controls must not take the sandbox down either
            log.exception("sandbox control error on %s %s", request.method, request.path)
            status, body = 500, SandboxError(500, "api_error", "Sandbox control failed.").body()
        await _send(send, status, _json(self._render(body)), {}, cors=request.cors)

    def control_reset(self, request: Request) -> Any:
        self.generation += 1
        self.dispatcher.reset()
        self.faults.clear()
        self.faults.latency_ms = 0
        self.sandbox.reset()
        self._register_site_webhook()
        return {"reset": True}

    def control_authenticate(self, request: Request) -> Any:
        outcome = request.params.get("outcome")
        if outcome not in ("complete", "fail"):
            raise invalid_request("outcome must be complete or fail", param="outcome")
        intent = self.sandbox.payment_intent_get(self._id(request))
        secret = request.params.get("client_secret")
        if secret is None and "origin" in request.headers:
            # From a browser (the shim's modal) the intent's secret proves the page may act.
            raise invalid_request("client_secret is required when called from a web page.",
                                  param="client_secret")
        if secret is not None and secret != intent.client_secret:
            raise invalid_request("The client_secret provided does not match the PaymentIntent.",
                                  param="client_secret")
        return self.sandbox.payment_intent_authenticate(intent, complete=outcome == "complete")

    def control_clock(self, request: Request) -> Any:
        clock = self.sandbox.clock
        return {"now": clock.now(), "offset": clock.offset}

    def control_clock_advance(self, request: Request) -> Any:
        seconds = _control_int(request.params.get("seconds"), "seconds",
                               maximum=MAX_CLOCK_ADVANCE_SECONDS,
                               hint="a non-negative integer of at most ten years")
        self.sandbox.clock.advance(seconds)
        expired = self.sandbox.expire_due()
        return {**self.control_clock(request), "expired": expired}

    def control_faults(self, request: Request) -> Any:
        return {"data": [fault.describe() for fault in self.faults.rules],
                "latency_ms": self.faults.latency_ms}

    def control_fault_add(self, request: Request) -> Any:
        return self.faults.add(request.params).describe()

    def control_faults_clear(self, request: Request) -> Any:
        self.faults.clear()
        return self.control_faults(request)

    def control_latency(self, request: Request) -> Any:
        if request.method == "POST":
            self.faults.latency_ms = _control_int(request.params.get("ms"), "ms", maximum=60_000,
                                                  hint="an integer from 0 to 60000")
        return {"latency_ms": self.faults.latency_ms}

    def control_requests(self, request: Request) -> Any:
        log_ = self.sandbox.request_log
        prefix = request.params.get("path")
        if prefix is not None and not isinstance(prefix, str):
            raise invalid_request("path must be a string", param="path")
        data = [entry for entry in log_ if not prefix or entry["path"].startswith(prefix)]
        return {"data": data, "count": len(data)}

    def control_requests_clear(self, request: Request) -> Any:
        self.sandbox.request_log.clear()
        return {"data": [], "count": 0}

    def control_deliveries(self, request: Request) -> Any:
        return {"data": self.dispatcher.deliveries, "count": len(self.dispatcher.deliveries)}

    def control_seed(self, request: Request) -> Any:
        return seed(self.sandbox, request.params)


# --- helpers -------------------------------------------------------------------------------


def _created_slice(items: Any, created: dict[str, int] | None) -> tuple[int, int | None]:
    """``created`` bounds as a slice of a list sorted by ``(-created, -seq)``."""
    if not created:
        return 0, None
    low = created.get("gte", created.get("eq"))
    if "gt" in created:
        low = max(low or 0, created["gt"] + 1)
    high = created.get("lte", created.get("eq"))
    if "lt" in created:
        high = min(high if high is not None else created["lt"] - 1, created["lt"] - 1)
    start, stop = 0, None
    if high is not None:
        start = items.bisect_key_left((-high, float("-inf")))
    if low is not None:
        stop = items.bisect_key_right((-low, float("inf")))
    return start, stop


def _control_int(value: Any, name: str, *, maximum: int, hint: str) -> int:
    """A control's integer: ASCII digits only ("²".isdigit() is true, int("²") fails)."""
    raw = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not _ASCII_DIGITS.fullmatch(raw) or int(raw) > maximum:
        raise invalid_request(f"{name} must be {hint}", param=name)
    return int(raw)


async def _read_body(receive: Any, headers: dict[str, str], limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to exceed ``limit`` (the rest is
    never read). Chunks go into one bytearray: no quadratic concatenation."""
    declared = headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            return bytes(body)


def _cors_headers(path: str) -> list[tuple[bytes, bytes]]:
    """CORS only where a browser page must call: the API and Stripe.js (as Stripe allows),
    and the bank modal's authenticate control (POST only). Other controls get none."""
    if path.startswith(("/v1/", "/v3/")) or path == "/v3":
        return _API_CORS
    if _AUTHENTICATE_PATH.match(path):
        return _AUTHENTICATE_CORS
    return []


def _same_origin(request: Request) -> bool:
    """No ``Origin`` (curl, tests, the site's server) or the sandbox's own origin."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def _site_webhook(url: str | None, secret: str | None) -> tuple[str, str] | None:
    if url is None and secret is None:
        return None
    if not url or not re.match(r"https?://[^\s/]+", url):
        raise ValueError(f"--webhook-url must be an http(s) URL, not {url!r}")
    if not secret or not secret.startswith("whsec_"):
        raise ValueError("--webhook-secret must be given with --webhook-url and start with "
                         "whsec_")
    return url, secret


def _position(positions: dict[str, int], object_id: str, kind: str) -> int:
    if object_id not in positions:
        raise _cursor_missing(kind, object_id)
    return positions[object_id]


def _cursor_missing(kind: str, object_id: str) -> SandboxError:
    return resource_missing(kind, object_id, param="starting_after", status=400)


def _list(data: list[Any], has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _unrecognized(request: Request) -> SandboxError:
    return invalid_request(
        f"Unrecognized request URL ({request.method}: {request.path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/.", status=404)


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


_API_CORS = [(b"access-control-allow-origin", b"*"),
             (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
             (b"access-control-allow-headers",
              b"Authorization, Content-Type, Idempotency-Key, Stripe-Version"),
             (b"access-control-expose-headers", b"Request-Id, Idempotent-Replayed")]
_AUTHENTICATE_CORS = [(b"access-control-allow-origin", b"*"),
                      (b"access-control-allow-methods", b"POST"),
                      (b"access-control-allow-headers", b"Content-Type")]


async def _send(send: Any, status: int, body: bytes, headers: dict[str, str], *,
                cors: list[tuple[bytes, bytes]] | None = None) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw = [h for h in raw if h[0].decode() not in headers] + [
        (k.encode(), v.encode()) for k, v in headers.items()] + (cors or [])
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Any, status: int, body: Any) -> None:
    await _send(send, status, _json(body), {})


async def _drop(send: Any) -> None:
    """Close the connection without a byte of answer, as a network failure would."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        await asyncio.sleep(0)  # let the server see the disconnect before we return
        return
    # Not under uvicorn: start an answer and break it off.
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-length", b"1000")]})
    raise ConnectionAbortedError("sandbox fault: connection dropped")

