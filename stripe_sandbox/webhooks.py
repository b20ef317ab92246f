"""Signed webhook delivery, as Stripe does it, with retries on Stripe's schedule and
delivery faults for tests.

Signature (docs: webhooks#verify-manually): ``Stripe-Signature:
t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``. The timestamp
is real wall time, not the sandbox clock, because receivers check it against
their own clock (5-minute tolerance in stripe-python's ``Webhook``).

Delivery is at least once, retried on any non-2xx answer or connection error,
and in no guaranteed order (each delivery is its own task, started after a small
random delay). Retries follow ``RETRY_MODES``: ``test`` and ``live`` are Stripe's
schedules on the sandbox clock (so a test advances the clock rather than waits),
``fast`` is a few real seconds for test suites.

Delivery faults (``POST /_sandbox/webhooks/faults``) drop or duplicate the next
deliveries; ``hold`` keeps new deliveries back until ``release`` sends them one
after another, in creation, reverse or shuffled order.
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
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import render
from .errors import invalid_request
from .records import Event, WebhookEndpoint, new_id
from .state import Clock, Sandbox

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"

RETRY_MODES = ("fast", "test", "live")
FAST_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)  # real seconds
# Stripe: "In test mode, Stripe retries three times over a few hours." The spacing
# is the sandbox's (Stripe publishes none): 30 minutes, 1 hour, 2 hours.
TEST_RETRY_DELAYS = (1800, 3600, 7200)
# Stripe: "In live mode, Stripe attempts to deliver a given event to your webhook
# endpoint for up to 3 days with an exponential back off." The spacing is the
# sandbox's: 5 minutes doubling, at most 12 hours apart, while the next attempt
# still falls within 72 hours of the first.
LIVE_FIRST_DELAY, LIVE_MAX_DELAY, LIVE_WINDOW = 300, 12 * 3600, 72 * 3600

FAULT_ACTIONS = ("drop", "duplicate")
RELEASE_ORDERS = ("created", "reverse", "shuffle")
MAX_FAULT_COUNT = 1_000_000


def live_retry_delays() -> tuple[int, ...]:
    delays: list[int] = []
    delay = LIVE_FIRST_DELAY
    while sum(delays) + delay <= LIVE_WINDOW:
        delays.append(delay)
        delay = min(delay * 2, LIVE_MAX_DELAY)
    return tuple(delays)


def signature_header(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload,
                      hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class DeliveryFault:
    action: str  # "drop" or "duplicate"
    remaining: int
    event_type: str | None = None  # None: any event

    def describe(self) -> dict[str, Any]:
        return {"action": self.action, "remaining": self.remaining,
                "event_type": self.event_type}


@dataclass
class Delivery:
    """One event to one endpoint, with every attempt made at it."""

    id: str
    event: Event
    endpoint: WebhookEndpoint
    payload: bytes
    # "pending" (being tried or waiting for a retry), "held", "delivered", "failed"
    # (retries used up) or "dropped" (a fault: never sent).
    state: str = "pending"
    fault: str | None = None  # "drop", "duplicate" (this is the copy), "hold"
    duplicate_of: str | None = None
    # The copy a duplicate fault adds leaves event.pending_webhooks to the original.
    counts: bool = True
    next_attempt_at: float | None = None  # sandbox clock
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.event.id, "event_type": self.event.type,
                "endpoint": self.endpoint.id, "url": self.endpoint.url,
                "delivered": self.state == "delivered", "state": self.state,
                "fault": self.fault, "duplicate_of": self.duplicate_of,
                "next_attempt_at": self.next_attempt_at, "attempts": self.attempts}


class WebhookDispatcher:
    def __init__(self, *, clock: Clock, retries: str = "fast",
                 retry_delays: tuple[float, ...] = FAST_RETRY_DELAYS, timeout: float = 10.0,
                 max_jitter: float = 0.02,
                 on_delivered: Callable[[], None] | None = None) -> None:
        self.clock = clock
        self.start_retries = check_retry_mode(retries)  # what a reset returns to
        self.retries = self.start_retries
        self.fast_delays = retry_delays
        self.on_delivered = on_delivered  # event.pending_webhooks changed: state to save
        self.timeout = timeout
        self.max_jitter = max_jitter
        self.deliveries: list[Delivery] = []
        self.faults: list[DeliveryFault] = []
        self.holding = False
        self.held: list[Delivery] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._client: httpx.AsyncClient | None = None
        # Set (and replaced) whenever the sandbox clock jumps, to wake waiting retries.
        self._clock_moved = asyncio.Event()

    def retry_delays(self) -> tuple[float, ...]:
        if self.retries == "test":
            return TEST_RETRY_DELAYS
        if self.retries == "live":
            return live_retry_delays()
        return self.fast_delays

    def describe(self) -> dict[str, Any]:
        return {"retries": self.retries, "retry_delays": list(self.retry_delays()),
                "holding": self.holding, "held": len(self.held),
                "faults": [fault.describe() for fault in self.faults]}

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.deliveries.clear()
        self.faults.clear()
        self.held.clear()
        self.holding = False
        self.retries = self.start_retries

    # --- controls ------------------------------------------------------------------------

    def set_retries(self, mode: Any) -> None:
        """Deliveries already waiting keep the delay they were given."""
        if mode not in RETRY_MODES:
            raise invalid_request(f"mode must be one of {', '.join(RETRY_MODES)}", param="mode")
        self.retries = mode

    def add_fault(self, *, action: Any, count: int, event_type: Any) -> DeliveryFault:
        if action not in FAULT_ACTIONS:
            raise invalid_request(f"action must be one of {', '.join(FAULT_ACTIONS)}",
                                  param="action")
        if event_type is not None and (not isinstance(event_type, str) or len(event_type) > 100):
            raise invalid_request("event_type must be an event type such as "
                                  "payment_intent.succeeded", param="event_type")
        fault = DeliveryFault(action=action, remaining=count, event_type=event_type)
        self.faults.append(fault)
        return fault

    def hold(self) -> None:
        self.holding = True

    def release(self, *, order: Any, seed: int | None) -> list[Delivery]:
        """Stop holding; send the held deliveries one after another (each waits for the
        receiver's answer before the next goes), so they arrive in ``order``."""
        if order not in RELEASE_ORDERS:
            raise invalid_request(f"order must be one of {', '.join(RELEASE_ORDERS)}",
                                  param="order")
        held, self.held, self.holding = self.held, [], False
        if order == "reverse":
            held.reverse()
        elif order == "shuffle":
            random.Random(seed).shuffle(held)
        if held:
            self._start(self._release(held, order))
        return held

    def clock_advanced(self) -> None:
        """The sandbox clock jumped: retries now due go at once."""
        self._clock_moved.set()
        self._clock_moved = asyncio.Event()

    # --- delivery ------------------------------------------------------------------------

    def enqueue(self, event: Event, endpoints: list[WebhookEndpoint]) -> None:
        wanted = [endpoint for endpoint in endpoints if endpoint.wants(event.type)]
        if not wanted:
            return
        payload = json.dumps(render.event(event), indent=2).encode()
        for endpoint in wanted:
            delivery = self._new(event, endpoint, payload)
            fault = self._take_fault(event.type)
            if fault == "drop":
                self._drop(delivery)
                continue
            copies = [delivery]
            if fault == "duplicate":
                copy = self._new(event, endpoint, payload)
                copy.fault, copy.duplicate_of, copy.counts = "duplicate", delivery.id, False
                copies.append(copy)
            for one in copies:
                if self.holding:
                    one.state, one.fault = "held", one.fault or "hold"
                    self.held.append(one)
                else:
                    self._start(self._run(one, jitter=True))

    def _new(self, event: Event, endpoint: WebhookEndpoint, payload: bytes) -> Delivery:
        delivery = Delivery(id=f"whdel_{next(self._ids)}", event=event, endpoint=endpoint,
                            payload=payload)
        self.deliveries.append(delivery)
        return delivery

    def _take_fault(self, event_type: str) -> str | None:
        for fault in self.faults:
            if fault.remaining > 0 and fault.event_type in (None, event_type):
                fault.remaining -= 1
                return fault.action
        return None

    def _drop(self, delivery: Delivery) -> None:
        """Lost on the way: Stripe saw nothing fail, so nothing is retried and the event
        counts as delivered (``pending_webhooks``), but no request is made."""
        delivery.state, delivery.fault = "dropped", "drop"
        delivery.attempts.append(self._record(delivery, fault="drop"))
        self._delivered(delivery)

    def _start(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self, held: list[Delivery], order: str) -> None:
        for delivery in held:
            delivery.state = "pending"
            if not await self._attempt(delivery, fault=f"hold, released {order}"):
                self._start(self._run(delivery, jitter=False))

    async def _run(self, delivery: Delivery, *, jitter: bool) -> None:
        """Attempts until one is answered 2xx or the schedule is used up."""
        if jitter:  # a small random head start per delivery: no ordering is promised
            await asyncio.sleep(random.uniform(0, self.max_jitter))
        on_clock, delays = self.retries != "fast", self.retry_delays()
        # A held delivery's first attempt was made on release.
        if not delivery.attempts and await self._attempt(delivery, fault=None):
            return
        while len(delivery.attempts) - 1 < len(delays):
            await self._wait(delivery, delays[len(delivery.attempts) - 1], on_clock=on_clock)
            if await self._attempt(delivery, fault=None):
                return
        delivery.state, delivery.next_attempt_at = "failed", None
        delivery.payload = b""  # no attempt is left to need it

    async def _wait(self, delivery: Delivery, delay: float, *, on_clock: bool) -> None:
        """``delay`` real seconds (fast mode), or until the sandbox clock reaches it: as
        time passes or as soon as a control advances the clock past it."""
        due = self.clock.now() + delay
        delivery.next_attempt_at = due
        if not on_clock:
            await asyncio.sleep(delay)
            return
        while (remaining := due - self.clock.now()) > 0:
            moved = self._clock_moved
            try:
                await asyncio.wait_for(moved.wait(), timeout=remaining)
            except TimeoutError:
                pass

    async def _attempt(self, delivery: Delivery, *, fault: str | None) -> bool:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        delivery.next_attempt_at = None
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   "Stripe-Signature": signature_header(delivery.endpoint.secret,
                                                        delivery.payload)}
        record = self._record(delivery, fault=fault or delivery.fault)
        try:
            response = await self._client.post(delivery.endpoint.url, content=delivery.payload,
                                               headers=headers)
            record["status"] = response.status_code
            ok = 200 <= response.status_code < 300  # a redirect is a failure too
        except httpx.HTTPError as error:
            record["error"] = f"{type(error).__name__}: {error}"
            ok = False
        delivery.attempts.append(record)
        if ok:
            delivery.state = "delivered"
            self._delivered(delivery)
        return ok

    def _record(self, delivery: Delivery, *, fault: str | None) -> dict[str, Any]:
        return {"attempt": len(delivery.attempts) + 1, "event": delivery.event.id,
                "endpoint": delivery.endpoint.id, "at": time.time(),
                "sandbox_time": self.clock.now(), "status": None, "error": None,
                "fault": fault}

    def _delivered(self, delivery: Delivery) -> None:
        delivery.payload = b""  # kept only while an attempt may need it
        if delivery.counts:
            event = delivery.event
            event.pending_webhooks = max(0, event.pending_webhooks - 1)
            if self.on_delivered is not None:
                self.on_delivered()

    async def aclose(self) -> None:
        self.reset()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def check_retry_mode(mode: Any) -> str:
    if mode not in RETRY_MODES:
        raise ValueError(f"webhook retries must be one of {', '.join(RETRY_MODES)}, "
                         f"not {mode!r}")
    return mode


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
