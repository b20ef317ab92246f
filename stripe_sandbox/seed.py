"""Bulk creation of PaymentIntents in chosen states and ages, for scans and benchmarks.

Seeded objects get no events (they stand for history that happened before
the sandbox started). A manual intent seeded in ``requires_confirmation`` more
than an hour ago reverts on the next request, exactly as a live one would.
"""

from __future__ import annotations

import random
from typing import Any

from .cards import card_for
from .errors import invalid_request
from .records import Charge, PaymentIntent, new_id
from .state import AUTH_FAILED_MESSAGE, AUTH_NOT_HANDLED_MESSAGE, Sandbox

# kind -> (status, card number used, last_payment_error kind)
KINDS = {
    "succeeded": ("succeeded", "4242424242424242"),
    "requires_payment_method": ("requires_payment_method", None),
    "requires_confirmation": ("requires_confirmation", "4000002500003155"),
    "requires_action": ("requires_action", "4000002500003155"),
    "canceled": ("canceled", None),
    "card_declined": ("requires_payment_method", "4000000000009995"),
    "authentication_not_handled": ("requires_payment_method", "4000002500003155"),
    "authentication_failed": ("requires_payment_method", "4000002500003155"),
}
MAX_SEED = 200_000


def seed(sandbox: Sandbox, spec: dict[str, Any]) -> dict[str, Any]:
    """``spec``: ``{"count": N, "kind": K, "age_seconds": A, "spread_seconds": S,
    "amount": 2000, "currency": "usd", "confirmation_method": "manual",
    "metadata": {...}}`` or ``{"batches": [spec, …]}``."""
    batches = spec.get("batches") or [spec]
    if not isinstance(batches, list) or not all(isinstance(b, dict) for b in batches):
        raise invalid_request("batches must be a list of objects", param="batches")
    created: dict[str, int] = {}
    total = sum(_int(batch, "count", 1) for batch in batches)
    if total > MAX_SEED:
        raise invalid_request(f"at most {MAX_SEED} intents per seed", param="count")
    methods: dict[str, str] = {}
    intents: list[PaymentIntent] = []
    now = sandbox.clock.now()
    for batch in batches:
        kind = batch.get("kind", "succeeded")
        if kind not in KINDS:
            raise invalid_request(f"kind must be one of {', '.join(KINDS)}", param="kind")
        status, number = KINDS[kind]
        count = _int(batch, "count", 1)
        age = _int(batch, "age_seconds", 0)
        spread = _int(batch, "spread_seconds", 0)
        amount = _int(batch, "amount", 2000)
        currency = str(batch.get("currency", "usd")).lower()
        confirmation = batch.get("confirmation_method",
                                 "manual" if kind.startswith("requires_") else "automatic")
        if confirmation not in ("automatic", "manual"):
            raise invalid_request("confirmation_method must be automatic or manual",
                                  param="confirmation_method")
        metadata = batch.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise invalid_request("metadata must be an object", param="metadata")
        method_id = None
        if number:
            if number not in methods:
                methods[number] = sandbox.payment_method_store(
                    card_for(number), 12, 2034, {}, {}).id
            method_id = methods[number]
        for _ in range(count):
            when = now - age - (random.randint(0, spread) if spread else 0)
            intent_id = new_id("pi_")
            intent = PaymentIntent(
                id=intent_id, seq=next(sandbox._seq), created=when, amount=amount,
                currency=currency, status=status,
                client_secret=f"{intent_id}_secret_{new_id('', 25)}",
                confirmation_method=confirmation, payment_method=method_id,
                metadata=dict(metadata), status_since=when)
            _finish(sandbox, intent, kind)
            intents.append(intent)
        created[kind] = created.get(kind, 0) + count
    for intent in intents:
        sandbox.payment_intents[intent.id] = intent
    sandbox.intents_by_created.update(intents)
    expired = sandbox.expire_due()
    return {"created": created, "total": len(intents), "expired_on_arrival": expired}


def _finish(sandbox: Sandbox, intent: PaymentIntent, kind: str) -> None:
    if kind == "succeeded":
        charge = Charge(id=new_id("ch_"), created=intent.created, amount=intent.amount,
                        currency=intent.currency, payment_intent=intent.id,
                        payment_method=intent.payment_method or "", succeeded=True,
                        captured=True, three_d_secure=False)
        sandbox.charges[charge.id] = charge
        sandbox.charges_by_intent[intent.id] = [charge.id]
        intent.latest_charge = charge.id
        intent.amount_received = intent.amount
    elif kind == "canceled":
        intent.canceled_at = intent.created
        intent.cancellation_reason = "abandoned"
    elif kind == "requires_confirmation":
        intent.authenticated = True
        if intent.confirmation_method == "manual":
            sandbox.set_status(intent, "requires_confirmation", since=intent.created)
    elif kind == "card_declined":
        intent.last_payment_error = {"type": "card_error", "code": "card_declined",
                                     "decline_code": "insufficient_funds",
                                     "message": "Your card has insufficient funds."}
    elif kind == "authentication_not_handled":
        intent.last_payment_error = {"type": "card_error", "code": "authentication_required",
                                     "decline_code": "authentication_not_handled",
                                     "message": AUTH_NOT_HANDLED_MESSAGE}
    elif kind == "authentication_failed":
        intent.last_payment_error = {"type": "invalid_request_error",
                                     "code": "payment_intent_authentication_failure",
                                     "message": AUTH_FAILED_MESSAGE}


def _int(spec: dict[str, Any], name: str, default: int) -> int:
    value = spec.get(name, default)
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise invalid_request(f"{name} must be an integer", param=name) from None
    if value < 0:
        raise invalid_request(f"{name} must not be negative", param=name)
    return value
