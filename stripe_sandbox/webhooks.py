"""Signed webhook delivery, as Stripe does it.

Signature (docs: webhooks#verify-manually): ``Stripe-Signature:
t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``. The timestamp
is real wall time, not the sandbox clock, because receivers check it against
their own clock (5-minute tolerance in stripe-python's ``Webhook``).
Delivery is at least once, retried with backoff on any non-2xx answer or
connection error, and in no guaranteed order (each delivery is its own task).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import random
import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from . import render
from .records import Event, WebhookEndpoint, new_id
from .state import Sandbox

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def signature_header(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload,
                      hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookDispatcher:
    def __init__(self, *, retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0),
                 timeout: float = 10.0, max_jitter: float = 0.02,
                 on_delivered: Callable[[], None] | None = None) -> None:
        self.retry_delays = retry_delays
        self.on_delivered = on_delivered  # event.pending_webhooks changed: state to save
        self.timeout = timeout
        self.max_jitter = max_jitter
        self.deliveries: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._client: httpx.AsyncClient | None = None

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.deliveries.clear()

    def enqueue(self, event: Event, endpoints: list[WebhookEndpoint]) -> None:
        wanted = [endpoint for endpoint in endpoints if endpoint.wants(event.type)]
        if not wanted:
            return
        payload = json.dumps(render.event(event), indent=2).encode()
        loop = asyncio.get_running_loop()
        for endpoint in wanted:
            delivery = {"id": f"whdel_{next(self._ids)}", "event": event.id,
                        "event_type": event.type, "endpoint": endpoint.id, "url": endpoint.url,
                        "delivered": False, "attempts": []}
            self.deliveries.append(delivery)
            task = loop.create_task(self._deliver(delivery, event, endpoint.secret, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: dict[str, Any], event: Event, secret: str,
                       payload: bytes) -> None:
        # A small random head start per delivery: no ordering is promised.
        await asyncio.sleep(random.uniform(0, self.max_jitter))
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        for attempt, delay in enumerate((*self.retry_delays, None)):
            headers = {"Content-Type": "application/json; charset=utf-8",
                       "User-Agent": USER_AGENT,
                       "Stripe-Signature": signature_header(secret, payload)}
            record: dict[str, Any] = {"attempt": attempt + 1, "at": time.time()}
            try:
                response = await self._client.post(delivery["url"], content=payload,
                                                   headers=headers)
                record["status"] = response.status_code
                ok = 200 <= response.status_code < 300
            except httpx.HTTPError as error:
                record["status"] = None
                record["error"] = f"{type(error).__name__}: {error}"
                ok = False
            delivery["attempts"].append(record)
            if ok:
                delivery["delivered"] = True
                event.pending_webhooks = max(0, event.pending_webhooks - 1)
                if self.on_delivered is not None:
                    self.on_delivered()
                return
            if delay is None:
                return
            await asyncio.sleep(delay)

    async def aclose(self) -> None:
        self.reset()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


# --- the --webhook-url endpoint -------------------------------------------------------------

SiteWebhook = tuple[str, str]  # (url, signing secret)


def site_webhook_parse(url: str | None, secret: str | None) -> SiteWebhook | None:
    """``--webhook-url`` and ``--webhook-secret``: both or neither."""
    if url is None and secret is None:
        return None
    if not url or not re.match(r"https?://[^\s/]+", url):
        raise ValueError(f"--webhook-url must be an http(s) URL, not {url!r}")
    if not secret or not secret.startswith("whsec_"):
        raise ValueError("--webhook-secret must be given with --webhook-url and start with "
                         "whsec_")
    return url, secret


def site_webhook_register(sandbox: Sandbox, site: SiteWebhook) -> None:
    """An endpoint for every event, signed with the given secret. One endpoint per URL:
    a restart with a state file updates it, a reset re-creates it."""
    url, secret = site
    endpoints = sandbox.webhook_endpoints
    endpoint = next((e for e in endpoints.values() if e.url == url), None)
    if endpoint is None:
        endpoint = WebhookEndpoint(id=new_id("we_"), created=sandbox.clock.now(),
                                   url=url, enabled_events=["*"], secret=secret,
                                   description="--webhook-url (python -m stripe_sandbox)")
        endpoints[endpoint.id] = endpoint
    endpoint.enabled_events, endpoint.secret = ["*"], secret
