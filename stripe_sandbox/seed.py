"""Bulk creation of PaymentIntents in chosen states and ages, for scans and benchmarks.

By default seeded objects get no events (they stand for history that happened
before the sandbox started). With ``events: true`` each seeded intent also
gets the events its state implies, dated at its age, as history: listed by
``GET /v1/events`` but never delivered to webhook endpoints. A manual intent
seeded in ``requires_confirmation`` more than an hour ago reverts on the next
request, exactly as a live one would.
"""

from __future__ import annotations

import random
from dataclasses import fields
from operator import attrgetter
from typing import Any

from .cards import card_for
from .errors import invalid_request
from .params import MAXIMUM_AMOUNT
from .records import Charge, Event, PaymentIntent, new_id
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
MAX_AGE_SECONDS = 10 * 366 * 86400

# The events a live intent emits on its way to each kind (state.py emits the
# same ones): (event type, the intent's status at that moment). "final" is
# the seeded state itself; None after "created" is the status at creation.
# charge.failed is left out for declines: seeding stores no failed charge.
_CREATED = ("payment_intent.created", None)
EVENTS_BY_KIND: dict[str, tuple[tuple[str, str | None], ...]] = {
    "succeeded": (_CREATED, ("charge.succeeded", "charge"), ("payment_intent.succeeded", "final")),
    "requires_payment_method": (_CREATED,),
    "requires_confirmation": (_CREATED, ("payment_intent.requires_action", "requires_action")),
    "requires_action": (_CREATED, ("payment_intent.requires_action", "final")),
    "canceled": (_CREATED, ("payment_intent.canceled", "final")),
    "card_declined": (_CREATED, ("payment_intent.payment_failed", "final")),
    "authentication_not_handled": (_CREATED, ("payment_intent.payment_failed", "final")),
    "authentication_failed": (_CREATED, ("payment_intent.requires_action", "requires_action"),
                              ("payment_intent.payment_failed", "final")),
}
_TERMINAL = ("succeeded", "canceled")  # these records never change again: share, not copy
_INTENT_FIELDS = attrgetter(*(f.name for f in fields(PaymentIntent)))


def seed(sandbox: Sandbox, spec: dict[str, Any]) -> dict[str, Any]:
    """``spec``: ``{"count": N, "kind": K, "age_seconds": A, "spread_seconds": S,
    "amount": 2000, "currency": "usd", "confirmation_method": "manual",
    "metadata": {...}}`` or ``{"batches": [spec, …]}``."""
    batches = spec.get("batches") or [spec]
    if not isinstance(batches, list) or not all(isinstance(b, dict) for b in batches):
        raise invalid_request("batches must be a list of objects", param="batches")
    with_events = _bool(spec, "events", False)
    created: dict[str, int] = {}
    total = sum(_int(batch, "count", 1) for batch in batches)
    if total > MAX_SEED:
        raise invalid_request(f"at most {MAX_SEED} intents per seed", param="count")
    methods: dict[str, str] = {}
    intents: list[PaymentIntent] = []
    events: list[Event] = []
    now = sandbox.clock.now()
    for batch in batches:
        kind = batch.get("kind", "succeeded")
        if not isinstance(kind, str) or kind not in KINDS:
            raise invalid_request(f"kind must be one of {', '.join(KINDS)}", param="kind")
        status, number = KINDS[kind]
        batch_events = _bool(batch, "events", with_events)
        count = _int(batch, "count", 1)
        age = _int(batch, "age_seconds", 0, maximum=MAX_AGE_SECONDS)
        spread = _int(batch, "spread_seconds", 0, maximum=MAX_AGE_SECONDS)
        amount = _int(batch, "amount", 2000, maximum=MAXIMUM_AMOUNT)
        currency = str(batch.get("currency", "usd")).lower()
        confirmation = batch.get("confirmation_method",
                                 "manual" if kind.startswith("requires_") else "automatic")
        if confirmation not in ("automatic", "manual"):
            raise invalid_request("confirmation_method must be automatic or manual",
                                  param="confirmation_method")
        metadata = batch.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(
                isinstance(v, str) and len(k) <= 40 and len(v) <= 500
                for k, v in metadata.items()):
            raise invalid_request("metadata must be an object of strings", param="metadata")
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
            if batch_events:
                events += _history(sandbox, intent, kind)
        created[kind] = created.get(kind, 0) + count
    for intent in intents:
        sandbox.payment_intents[intent.id] = intent
    sandbox.intents_by_created.update(intents)
    sandbox.add_history(events)
    expired = sandbox.expire_due()
    return {"created": created, "total": len(intents), "expired_on_arrival": expired,
            "events": len(events)}


def _history(sandbox: Sandbox, intent: PaymentIntent, kind: str) -> list[Event]:
    """The events a live intent of this kind would have emitted, dated at its creation
    and holding the object as it was at each step (copied, since the intent may change)."""
    out = []
    for event_type, moment in EVENTS_BY_KIND[kind]:
        if moment == "charge":
            snapshot: Any = sandbox.charges[intent.latest_charge or ""]
        elif moment == "final":
            snapshot = intent if intent.status in _TERMINAL else _copy(intent)
        else:
            snapshot = _copy(intent)
            snapshot.status = moment or ("requires_confirmation" if intent.payment_method
                                         else "requires_payment_method")
            snapshot.last_payment_error = snapshot.latest_charge = None
            snapshot.amount_received = 0
            snapshot.canceled_at = snapshot.cancellation_reason = None
        out.append(Event(id=new_id("evt_"), seq=next(sandbox._seq), created=intent.created,
                         type=event_type, object=snapshot, request_id=None,
                         idempotency_key=None))
    return out


def _copy(intent: PaymentIntent) -> PaymentIntent:
    return PaymentIntent(*_INTENT_FIELDS(intent))


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


def _int(spec: dict[str, Any], name: str, default: int, *, maximum: int | None = None) -> int:
    value = spec.get(name, default)
    if isinstance(value, str) and not value.isascii():  # "²".isdigit(), but not for int()
        raise invalid_request(f"{name} must be an integer", param=name)
    try:
        value = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON Infinity
        raise invalid_request(f"{name} must be an integer", param=name) from None
    if value < 0:
        raise invalid_request(f"{name} must not be negative", param=name)
    if maximum is not None and value > maximum:
        raise invalid_request(f"{name} must be at most {maximum}", param=name)
    return value


def _bool(spec: dict[str, Any], name: str, default: bool) -> bool:
    value = spec.get(name, default)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):  # form bodies
        return value == "true"
    raise invalid_request(f"{name} must be true or false", param=name)
