"""The one way a payment's status changes.

The /pay endpoint, webhooks, monitoring scans and admin actions all report what Stripe
said about an intent through ``payment_status_record``. It may hear the same fact many
times and in any order: a repeated fact changes nothing and writes no ledger row, and a
finished attempt (succeeded or canceled) never moves back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.checkout.signals import payment_challenged, payment_settled
from payments.checkout.totals import attempt_challenged_deltas, daily_totals_add
from payments.shop.models import Order
from payments.stripe.gateway import IntentData

log = logging.getLogger(__name__)

Status = PaymentAttempt.Status

# What payment_status_record may change on an attempt.
RECORDED_FIELDS = ("stripe_id", "status", "amount", "currency", "confirmation_method",
                   "confirmations", "last_error_code", "last_decline_code",
                   "last_error_message", "card_brand", "card_last4", "card_country",
                   "latest_charge", "requires_action_at", "requires_confirmation_at",
                   "final_at", "status_observed_at")

# A webhook's fact and our own record of it carry clocks a little apart.
HISTORY_SAME_FACT = timedelta(minutes=2)


def payment_status_record(*, attempt: PaymentAttempt, intent: IntentData, source: str,
                          actor: str, observed_at: datetime | None = None,
                          confirmed: bool = False) -> PaymentAttempt:
    """Bring ``attempt`` and its order up to ``intent``, which Stripe stated at
    ``observed_at`` (default: now, for the answer of a call just made); returns the attempt
    as stored. A fact older than the one the attempt holds changes nothing.
    ``confirmed``: ``intent`` is the answer to a confirm call, which is counted whatever
    the answer says (the next confirm needs a new idempotency key)."""
    # savepoint=False: inside a caller's transaction a failure here fails it as a whole.
    with transaction.atomic(savepoint=False):
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        # A call's answer (no time given) counts as stated now, once we hold the row: a
        # scan's report written while we waited must not make our answer look older.
        observed_at = observed_at or timezone.now()
        if attempt.stripe_id not in (None, intent.id):
            raise ValueError(f"{intent.id} is not the intent of attempt {attempt.pk}")
        stored = {name: getattr(attempt, name) for name in RECORDED_FIELDS}
        if confirmed:
            attempt.confirmations += 1
        previous = attempt.status
        changed = _apply(attempt, intent, observed_at)
        _save_changes(attempt, stored)
        if attempt.requires_action_at != stored["requires_action_at"]:
            _challenge_moved(attempt=attempt, before=stored["requires_action_at"])
        if not changed:
            if confirmed and previous == intent.status == Status.SUCCEEDED:
                # Our confirm paid it, though a read (a webhook's, a scan's) recorded the
                # payment a moment before its answer came: who paid is news all the same.
                payment_settled.send(sender=PaymentAttempt, attempt=attempt,
                                     previous=previous, source=source, confirmed=True)
            return attempt
        error = (intent.last_error_code or "", intent.last_decline_code or "")
        PaymentEvent.objects.create(
            attempt=attempt, from_status=previous, to_status=intent.status,
            error_code=error[0], decline_code=error[1], source=source, actor=actor,
            observed_at=observed_at)
        if intent.status == Status.SUCCEEDED:
            _order_mark_paid(attempt=attempt, intent=intent)
        if intent.status in (Status.SUCCEEDED, Status.CANCELED):
            payment_settled.send(sender=PaymentAttempt, attempt=attempt, previous=previous,
                                 source=source, confirmed=confirmed)
        return attempt


def _apply(attempt: PaymentAttempt, intent: IntentData, observed_at: datetime) -> bool:
    """Copy ``intent`` onto ``attempt`` unless the attempt holds a finished or newer fact;
    True when its status or error changed (a ledger row is due)."""
    if attempt.status in PaymentAttempt.FINAL and intent.status != attempt.status:
        log.info("ignoring %s for %s: already %s", intent.status, intent.id, attempt.status)
        return False
    if attempt.status_observed_at and observed_at < attempt.status_observed_at:
        log.info("ignoring %s for %s: older than what we hold", intent.status, intent.id)
        return False
    attempt.status_observed_at = observed_at
    changed = (attempt.status, attempt.last_error_code, attempt.last_decline_code) != \
        (intent.status, intent.last_error_code or "", intent.last_decline_code or "")
    _copy_intent(attempt, intent)
    if changed:
        now = timezone.now()
        if intent.status == Status.REQUIRES_ACTION:
            attempt.requires_action_at = now
        elif intent.status == Status.REQUIRES_CONFIRMATION:
            attempt.requires_confirmation_at = now
        elif intent.status in PaymentAttempt.FINAL:
            attempt.final_at = now
    return changed


def _challenge_moved(*, attempt: PaymentAttempt, before) -> None:
    """The attempt was sent to the bank's challenge (again): the dashboard's daily total
    of challenged attempts follows, and monitoring's failure totals (``payment_challenged``)."""
    daily_totals_add(deltas=attempt_challenged_deltas(attempt=attempt, before=before))
    payment_challenged.send(sender=PaymentAttempt, attempt=attempt, before=before)


def _save_changes(attempt: PaymentAttempt, stored: dict[str, object]) -> None:
    # Only the columns that changed: /pay writes this row on every call.
    changed = [name for name, value in stored.items() if getattr(attempt, name) != value]
    if changed:
        attempt.save(update_fields=[*changed, "updated_at"])


def payment_status_history_record(*, attempt: PaymentAttempt, intent: IntentData,
                                  source: str, actor: str, observed_at: datetime) -> bool:
    """Keep a failure Stripe reported (a webhook) that the attempt has moved past, such as a
    failed bank challenge before another card paid: a ledger row marked not applied, so
    the history is complete. Returns whether a row was written (once per fact)."""
    error = (intent.last_error_code or "", intent.last_decline_code or "")
    if not error[0]:
        return False
    with transaction.atomic(savepoint=False):
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        if (attempt.status, attempt.last_error_code, attempt.last_decline_code) == \
                (intent.status, *error):
            return False  # it is the current state, recorded already
        window = (observed_at - HISTORY_SAME_FACT, observed_at + HISTORY_SAME_FACT)
        known = attempt.events.filter(to_status=intent.status, error_code=error[0],
                                      decline_code=error[1])
        if known.filter(actor=actor).exists() or known.filter(observed_at__range=window).exists():
            return False
        PaymentEvent.objects.create(
            attempt=attempt, from_status=attempt.status, to_status=intent.status,
            error_code=error[0], decline_code=error[1], source=source, actor=actor,
            observed_at=observed_at, applied=False)
        return True


def payment_attempt_superseded_record(*, attempt: PaymentAttempt, by_number: int,
                                      source: str, actor: str, why: str) -> None:
    """The order pays on a new attempt (``by_number``) instead of this one, which keeps
    Stripe's status: a ledger row says why."""
    PaymentEvent.objects.create(
        attempt=attempt, from_status=attempt.status, to_status=attempt.status, source=source,
        actor=actor, note=f"Superseded by attempt {by_number}: {why}"[:255])


def payment_status_record_missing(*, attempt: PaymentAttempt, source: str, actor: str
                                  ) -> PaymentAttempt:
    """Stripe answered that it has no such intent (keys, account or sandbox changed): the
    attempt is closed as ``missing``, kept in the ledger, and the order may pay anew."""
    with transaction.atomic(savepoint=False):
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        if attempt.status in PaymentAttempt.FINAL:
            return attempt
        previous = attempt.status
        attempt.status, attempt.final_at = Status.MISSING, timezone.now()
        attempt.last_error_code, attempt.last_decline_code = "resource_missing", ""
        attempt.last_error_message = f"Stripe has no PaymentIntent {attempt.stripe_id}."
        attempt.save()
        PaymentEvent.objects.create(
            attempt=attempt, from_status=previous, to_status=Status.MISSING,
            error_code="resource_missing", source=source, actor=actor)
        return attempt


def _copy_intent(attempt: PaymentAttempt, intent: IntentData) -> None:
    attempt.stripe_id = intent.id
    attempt.status = intent.status
    attempt.amount, attempt.currency = intent.amount, intent.currency
    attempt.confirmation_method = intent.confirmation_method
    attempt.last_error_code = intent.last_error_code or ""
    attempt.last_decline_code = intent.last_decline_code or ""
    attempt.last_error_message = intent.last_error_message or ""
    # Card details stay once known: a later report may not carry the expanded method.
    attempt.card_brand = intent.card_brand or attempt.card_brand
    attempt.card_last4 = intent.card_last4 or attempt.card_last4
    attempt.card_country = intent.card_country or attempt.card_country
    attempt.latest_charge = intent.latest_charge or attempt.latest_charge


def _order_mark_paid(*, attempt: PaymentAttempt, intent: IntentData) -> None:
    # One conditional UPDATE: paid only for the order's own amount and currency. Paid and
    # without receipt_sent_at, the order is a receipt due (the outbox), in this transaction.
    same_amount = Order.objects.filter(pk=attempt.order_id, amount=intent.amount,
                                       currency=intent.currency)
    updated = same_amount.exclude(status=Order.Status.PAID).update(
        status=Order.Status.PAID, paid_at=timezone.now())
    if not updated and not same_amount.exists():
        # Never the case for intents we created; refuse to call a wrong amount paid.
        log.error("intent %s paid %s %s, which is not the amount of order %s", intent.id,
                  intent.amount, intent.currency, attempt.order_id)

