"""The sandbox's state in a JSON file, so a restart (or a crash) keeps it.

``python -m stripe_sandbox --state-file PATH`` loads PATH at start, saves it at
most once a second while requests change something, and once more at
shutdown, so a ``kill -9`` loses at most about a second of writes. Each save
writes a temporary file beside PATH and ``os.replace``s it: a reader (or the
next start) sees the old file or the new one, never half of one.

Saved: customers, payment methods, payment intents, charges, events,
idempotency keys, webhook endpoints, the clock offset and pending expiries.
Not saved: the request log, faults, latency and webhook deliveries in flight.
Records are stored as field lists (not Stripe JSON), which keeps 100,000
intents to a few tens of megabytes and a save to well under a second.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import itertools
import json
import logging
import os
import tempfile
import threading
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import Any

from .cards import card_for
from .idempotency import StoredAnswer
from .records import Charge, Customer, Event, PaymentIntent, PaymentMethod, WebhookEndpoint
from .state import Sandbox

log = logging.getLogger("stripe_sandbox")

FORMAT_VERSION = 1
_RECORDS = {cls.__name__: cls for cls in (Customer, PaymentMethod, PaymentIntent, Charge,
                                          WebhookEndpoint)}
_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in _RECORDS.values()}
_GETTERS = {cls: attrgetter(*names) for cls, names in _NAMES.items()}


class StateFileError(Exception):
    """The state file exists but cannot be read back; the sandbox refuses to start
    rather than silently overwrite it."""


def _dump(record: Any) -> list[Any]:
    values = list(_GETTERS[type(record)](record))
    if isinstance(record, PaymentMethod):  # the test card is rebuilt from its number
        values[_NAMES[PaymentMethod].index("card")] = record.card.number
    return values


def _load(cls: type, values: list[Any]) -> Any:
    record = cls(*values)
    if cls is PaymentMethod:
        record.card = card_for(record.card)
    return record


def _event_dump(event: Event) -> list[Any]:
    obj = event.object
    saved = obj if isinstance(obj, dict) else {"__record__": type(obj).__name__,
                                               "fields": _dump(obj)}
    return [event.id, event.seq, event.created, event.type, saved, event.request_id,
            event.idempotency_key, event.pending_webhooks]


def _event_load(values: list[Any]) -> Event:
    event = Event(*values)
    obj = event.object
    if isinstance(obj, dict) and "__record__" in obj:
        event.object = _load(_RECORDS[obj["__record__"]], obj["fields"])
    return event


def snapshot(sandbox: Sandbox) -> dict[str, Any]:
    """Everything worth keeping, as JSON-ready lists; taken on the event-loop thread so
    it is consistent (records are copied field by field here)."""
    return {
        "version": FORMAT_VERSION,
        "clock_offset": sandbox.clock.offset,
        "customers": [_dump(r) for r in sandbox.customers.values()],
        "payment_methods": [_dump(r) for r in sandbox.payment_methods.values()],
        "payment_intents": [_dump(r) for r in sandbox.payment_intents.values()],
        "charges": [_dump(r) for r in sandbox.charges.values()],
        "events": [_event_dump(e) for e in sandbox.events],
        "webhook_endpoints": [_dump(r) for r in sandbox.webhook_endpoints.values()],
        "idempotency": [[api_key, key, a.fingerprint, a.status,
                         base64.b64encode(a.payload).decode(), a.created]
                        for (api_key, key), a in sandbox.idempotency],
        "expiries": [list(item) for item in sandbox._expiries],
    }


def restore(sandbox: Sandbox, data: dict[str, Any]) -> None:
    if data.get("version") != FORMAT_VERSION:
        raise StateFileError(f"unknown state file version {data.get('version')!r}")
    sandbox.reset()
    sandbox.clock.offset = int(data["clock_offset"])
    for r in data["customers"]:
        customer = _load(Customer, r)
        sandbox.customers[customer.id] = customer
    for r in data["payment_methods"]:
        method = _load(PaymentMethod, r)
        sandbox.payment_methods[method.id] = method
    intents = [_load(PaymentIntent, r) for r in data["payment_intents"]]
    for intent in intents:
        sandbox.payment_intents[intent.id] = intent
    sandbox.intents_by_created.update(intents)
    for r in data["charges"]:
        charge = _load(Charge, r)
        sandbox.charges[charge.id] = charge
        sandbox.charges_by_intent.setdefault(charge.payment_intent, []).append(charge.id)
    events = [_event_load(r) for r in data["events"]]
    sandbox.add_history(events)
    for r in data["webhook_endpoints"]:
        endpoint = _load(WebhookEndpoint, r)
        sandbox.webhook_endpoints[endpoint.id] = endpoint
    for api_key, key, fingerprint, status, payload, created in data["idempotency"]:
        sandbox.idempotency.put((api_key, key), StoredAnswer(
            fingerprint, status, base64.b64decode(payload), created))
    sandbox._expiries = [tuple(item) for item in data["expiries"]]
    heapq.heapify(sandbox._expiries)
    last_seq = max(itertools.chain((i.seq for i in intents), (e.seq for e in events)),
                   default=0)
    sandbox._seq = itertools.count(last_seq + 1)


def load(path: Path, sandbox: Sandbox) -> bool:
    """Restore ``sandbox`` from ``path``; False when there is no file yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return False
    try:
        restore(sandbox, json.loads(raw))
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise StateFileError(f"cannot read the sandbox state file {path}: {error!r} "
                             "(move it away to start empty)") from error
    return True


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    """JSON to a temporary file in the same directory, flushed, then renamed over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(data, file, separators=(",", ":"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class StateSaver:
    """Debounced saving: ``mark_dirty()`` after a change; a background task writes at
    most once per ``interval`` seconds; ``save_now()`` at shutdown."""

    def __init__(self, path: Path, sandbox: Sandbox, *, interval: float = 1.0) -> None:
        self.path = path
        self.sandbox = sandbox
        self.interval = interval
        self.dirty = False
        self._task: asyncio.Task[None] | None = None
        # A write still running in its thread when shutdown saves again must not
        # replace the newer file with its older snapshot.
        self._lock = threading.Lock()
        self._taken = itertools.count(1)
        self._written = 0

    def mark_dirty(self) -> None:
        self.dirty = True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.dirty:
                continue
            self.dirty = False
            number, data = next(self._taken), snapshot(self.sandbox)
            try:  # serialising and writing happen off the event loop
                await asyncio.to_thread(self._write, number, data)
            except OSError:
                log.exception("could not save the sandbox state to %s", self.path)
                self.dirty = True

    def _write(self, number: int, data: dict[str, Any]) -> None:
        with self._lock:
            if number > self._written:
                write_atomically(self.path, data)
                self._written = number

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self.save_now()

    def save_now(self) -> None:
        self.dirty = False
        self._write(next(self._taken), snapshot(self.sandbox))
