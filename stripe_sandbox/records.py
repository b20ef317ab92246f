"""The sandbox's stored objects: only the state that matters, kept small.

Full Stripe JSON is built on demand by ``render.py``, so 100,000 seeded
PaymentIntents fit in a few dozen megabytes.
"""

from __future__ import annotations

import secrets
import string
import threading
from dataclasses import dataclass, field
from typing import Any

from .cards import TestCard

_ALPHABET = string.ascii_letters + string.digits
# Each random byte as a letter or digit (byte % 62: the bias is irrelevant for test ids).
_LETTERS = bytes(ord(_ALPHABET[byte % 62]) for byte in range(256))
_POOL_BYTES = 1 << 16
_pool_lock = threading.Lock()
_pool, _pool_at = "", 0


def new_id(prefix: str, length: int = 24) -> str:
    """``prefix`` and ``length`` random letters and digits, cut from a pool drawn 64 kB at
    a time (a million seeded intents and their events need about five million ids: one
    system call and a Python loop per id was most of the seeding)."""
    global _pool, _pool_at
    with _pool_lock:
        if _pool_at + length > len(_pool):
            _pool = secrets.token_bytes(max(_POOL_BYTES, length)).translate(_LETTERS) \
                .decode("ascii")
            _pool_at = 0
        start = _pool_at
        _pool_at += length
        return prefix + _pool[start:_pool_at]


@dataclass(slots=True)
class Customer:
    id: str
    created: int
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class PaymentMethod:
    id: str
    created: int
    card: TestCard
    exp_month: int
    exp_year: int
    billing_details: dict[str, Any]
    metadata: dict[str, str]
    customer: str | None = None

    @property
    def last4(self) -> str:
        return self.card.number[-4:]


@dataclass(slots=True)
class Charge:
    id: str
    created: int
    amount: int
    currency: str
    payment_intent: str
    payment_method: str
    succeeded: bool
    captured: bool
    three_d_secure: bool
    customer: str | None = None
    description: str | None = None
    receipt_email: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    failure_code: str | None = None
    failure_message: str | None = None
    decline_code: str | None = None


@dataclass(slots=True, frozen=True)
class BalanceTransaction:
    """The funds a captured charge moved into the balance: a view of the charge."""

    charge: Charge

    @property
    def id(self) -> str:
        return balance_transaction_id(self.charge.id)


def balance_transaction_id(charge_id: str) -> str:
    return "txn_" + charge_id[3:]


@dataclass(slots=True)
class PaymentIntent:
    id: str
    seq: int
    created: int
    amount: int
    currency: str
    status: str
    client_secret: str
    confirmation_method: str = "automatic"
    capture_method: str = "automatic"
    payment_method_types: list[str] = field(default_factory=lambda: ["card"])
    payment_method: str | None = None
    customer: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    receipt_email: str | None = None
    statement_descriptor_suffix: str | None = None
    setup_future_usage: str | None = None
    last_payment_error: dict[str, Any] | None = None
    latest_charge: str | None = None
    canceled_at: int | None = None
    cancellation_reason: str | None = None
    amount_received: int = 0
    # The current attempt: did its 3-D Secure challenge pass, and since when
    # has the intent been in its status (drives the one-hour expiry).
    authenticated: bool = False
    status_since: int = 0


@dataclass(slots=True)
class Event:
    id: str
    seq: int
    created: int
    type: str
    # The object as it was when the event happened: rendered JSON for live
    # events; for seeded history a record copy (PaymentIntent or Charge),
    # rendered on demand so 100,000 seeded intents stay small.
    object: Any
    request_id: str | None
    idempotency_key: str | None
    pending_webhooks: int = 0


@dataclass(slots=True)
class WebhookEndpoint:
    id: str
    created: int
    url: str
    enabled_events: list[str]
    secret: str
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    api_version: str | None = None

    def wants(self, event_type: str) -> bool:
        return "*" in self.enabled_events or event_type in self.enabled_events
