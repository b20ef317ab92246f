"""HTTP below the routes: the request, the route table, reading bodies and sending answers.

Raw ASGI rather than a framework: the sandbox must be able to delay a request,
drop its connection, and replay stored answers byte for byte, all of which sit
below what a framework exposes.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from .errors import SandboxError, invalid_request
from .params import SCHEMAS, Endpoint, decode_form

# The one control a browser page may call: the bank modal's buttons (stripe.js).
_AUTHENTICATE_PATH = re.compile(r"/_sandbox/payment_intents/[^/]+/authenticate/?$")
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


class Request:
    __slots__ = ("method", "path", "query", "body", "headers", "params", "match", "api_key",
                 "publishable", "cors", "endpoint", "rate_limited", "_raw_params")

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
        self.cors = cors_headers(path)
        self.endpoint: str | None = None  # the matched route's Route.endpoint
        self.rate_limited: str | None = None  # the limit that refused it (rate_limits.py)
        self._raw_params: dict[str, Any] | None = None

    def path_id(self) -> str:
        """The ``{id}`` of the matched route's path."""
        assert self.match is not None
        return self.match["id"]

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
    """One method and path pattern. ``/v1/`` routes name their parameter schema and are
    called ``handler(sandbox, request)``; control routes have none and are called
    ``handler(request)``."""

    def __init__(self, method: str, pattern: str, handler: Callable[..., Any],
                 schema: str | None = None, *, publishable: bool = False) -> None:
        self.method = method
        self.pattern = pattern
        # The operation as Stripe's rate limits name it: "GET /v1/payment_intents/{id}".
        self.endpoint = method + " " + _NAMED_GROUP.sub(r"{\1}", pattern)
        self.regex = re.compile(pattern + r"/?$")
        self.handler = handler
        self.schema: Endpoint | None = SCHEMAS[schema] if schema else None
        self.publishable = publishable


def route_for(routes: list[Route], request: Request) -> Route:
    """The route for the request (setting ``request.match``), or Stripe's 404 / 405."""
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
    raise unrecognized(request)


def unrecognized(request: Request) -> SandboxError:
    return invalid_request(
        f"Unrecognized request URL ({request.method}: {request.path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/.", status=404)


async def read_body(receive: Any, headers: dict[str, str], limit: int) -> bytes | None:
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


def cors_headers(path: str) -> list[tuple[bytes, bytes]]:
    """CORS only where a browser page must call: the API and Stripe.js (as Stripe allows),
    and the bank modal's authenticate control (POST only). Other controls get none."""
    if path.startswith(("/v1/", "/v3/")) or path == "/v3":
        return _API_CORS
    if _AUTHENTICATE_PATH.match(path):
        return _AUTHENTICATE_CORS
    return []


_API_CORS = [(b"access-control-allow-origin", b"*"),
             (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
             (b"access-control-allow-headers",
              b"Authorization, Content-Type, Idempotency-Key, Stripe-Version"),
             (b"access-control-expose-headers", b"Request-Id, Idempotent-Replayed")]
_AUTHENTICATE_CORS = [(b"access-control-allow-origin", b"*"),
                      (b"access-control-allow-methods", b"POST"),
                      (b"access-control-allow-headers", b"Content-Type")]


def to_json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


async def send_answer(send: Any, status: int, body: bytes, headers: dict[str, str], *,
                      cors: list[tuple[bytes, bytes]] | None = None) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw = [h for h in raw if h[0].decode() not in headers] + [
        (k.encode(), v.encode()) for k, v in headers.items()] + (cors or [])
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Any, status: int, body: Any) -> None:
    await send_answer(send, status, to_json(body), {})


async def drop_connection(send: Any) -> None:
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
