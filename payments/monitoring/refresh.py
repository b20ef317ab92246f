"""One intent read fresh from Stripe and recorded: after a webhook said it changed, or
when ops ask for it."""

from __future__ import annotations

from payments.monitoring import observe
from payments.stripe import gateway


def intent_refresh(*, intent_id: str, source: str, actor: str) -> observe.Observation:
    """Read one intent from Stripe and record it (after a webhook said it changed)."""
    intent = gateway.payment_intent_retrieve(intent_id=intent_id)
    return observe.intent_observe(intent=intent, source=source, actor=actor)
