"""The one way a payment's status changes.

The /pay endpoint, webhooks, monitoring scans and admin actions all report what Stripe
said about an intent through ``payment_status_record``. It may hear the same fact many
times and in any order: a repeated fact changes nothing and writes no ledger row, and a
finished attempt (succeeded, canceled, or missing at Stripe) never moves back.

On PostgreSQL the record is first tried as one statement (``_status_write_guarded``):
the attempt is updated only where it still is what the caller read, and the ledger row,
the order paid and the challenged totals ride in the same statement. When the caller's
copy is stale, or the fact is ignored, it takes the locking read (``SELECT … FOR UPDATE``)
instead, as it does on other databases.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from payments.checkout.models import DailyTotal, PaymentAttempt, PaymentEvent
from payments.checkout.signals import payment_challenged, payment_settled
from payments.checkout.totals import Deltas, attempt_challenged_deltas, daily_totals_add
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
        if connection.vendor == "postgresql":
            written = _status_write_guarded(attempt=attempt, intent=intent, source=source,
                                            actor=actor, observed_at=observed_at,
                                            confirmed=confirmed)
            if written is not None:
                return written
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
        if changed:
            error = (intent.last_error_code or "", intent.last_decline_code or "")
            PaymentEvent.objects.create(
                attempt=attempt, from_status=previous, to_status=intent.status,
                error_code=error[0], decline_code=error[1], source=source, actor=actor,
                observed_at=observed_at)
            if intent.status == Status.SUCCEEDED:
                _order_mark_paid(attempt=attempt, intent=intent)
        _settled_announce(attempt=attempt, intent=intent, previous=previous, changed=changed,
                          source=source, confirmed=confirmed)
        return attempt


def _ignored_why(attempt: PaymentAttempt, intent: IntentData, observed_at: datetime
                 ) -> str | None:
    """Why ``intent`` must not change ``attempt`` (it holds a finished or newer fact)."""
    if attempt.status in PaymentAttempt.FINAL and intent.status != attempt.status:
        return f"already {attempt.status}"
    if attempt.status_observed_at and observed_at < attempt.status_observed_at:
        return "older than what we hold"
    return None


def _apply(attempt: PaymentAttempt, intent: IntentData, observed_at: datetime) -> bool:
    """Copy ``intent`` onto ``attempt`` unless the attempt holds a finished or newer fact;
    True when its status or error changed (a ledger row is due)."""
    why = _ignored_why(attempt, intent, observed_at)
    if why:
        log.info("ignoring %s for %s: %s", intent.status, intent.id, why)
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


def _status_write_guarded(*, attempt: PaymentAttempt, intent: IntentData, source: str,
                          actor: str, observed_at: datetime | None, confirmed: bool
                          ) -> PaymentAttempt | None:
    """The record in one SQL statement, for PostgreSQL, inside the caller's transaction:
    the changes are worked out from the caller's ``attempt``; one statement updates the
    attempt where every recorded column still holds what the caller read (so a report
    written meanwhile makes it match nothing: PostgreSQL rechecks the condition on the
    row it waited for), and in the same statement inserts the ledger row, marks the order
    paid and adds to the challenged totals. Returns the attempt as stored, with the
    signals sent as the locking path sends them; None (nothing written) when the copy is
    stale, the fact is ignored or nothing would change: the caller takes the locking
    path, which decides those cases under the row's lock."""
    now = timezone.now()
    observed_at = observed_at or now
    if attempt.stripe_id not in (None, intent.id) or _ignored_why(attempt, intent, observed_at):
        return None
    stored = {name: getattr(attempt, name) for name in RECORDED_FIELDS}
    new = PaymentAttempt(**{name: value for name, value in stored.items()})
    if confirmed:
        new.confirmations += 1
    changed = _apply(new, intent, observed_at)
    columns = [name for name in RECORDED_FIELDS if getattr(new, name) != stored[name]]
    if not columns:
        return None
    table, fields = PaymentAttempt._meta.db_table, PaymentAttempt._meta.concrete_fields
    params: list[object] = [getattr(new, name) for name in columns] + [now, attempt.pk]
    params += [stored[name] for name in RECORDED_FIELDS]
    sets = ", ".join(f'"{name}" = %s' for name in columns)
    guard = " AND ".join(f'"{name}" IS NOT DISTINCT FROM %s' for name in RECORDED_FIELDS)
    returned = ", ".join(f'"{field.column}"' for field in fields)
    parts = [f'upd AS (UPDATE "{table}" SET {sets}, "updated_at" = %s '
             f'WHERE "id" = %s AND {guard} RETURNING {returned})']
    if changed:
        error = (intent.last_error_code or "", intent.last_decline_code or "")
        parts.append(
            f'ev AS (INSERT INTO "{PaymentEvent._meta.db_table}" ("attempt_id", '
            '"from_status", "to_status", "error_code", "decline_code", "source", "actor", '
            '"observed_at", "applied", "note", "created_at") SELECT "id", %s, %s, %s, %s, '
            "%s, %s, %s, true, '', %s FROM upd RETURNING 1)")
        params += [stored["status"], intent.status, *error, source, actor, observed_at, now]
    paying = changed and intent.status == Status.SUCCEEDED
    if paying:
        # Paid only for the order's own amount and currency; paid and without
        # receipt_sent_at, the order is the receipt due (the outbox).
        parts.append(
            f'paid AS (UPDATE "{Order._meta.db_table}" SET "status" = %s, "paid_at" = %s '
            'WHERE "id" = (SELECT "order_id" FROM upd) AND "amount" = %s '
            'AND "currency" = %s AND "status" <> %s RETURNING 1)')
        params += [Order.Status.PAID, now, intent.amount, intent.currency, Order.Status.PAID]
    challenged = new.requires_action_at != stored["requires_action_at"]
    totals = attempt_challenged_deltas(attempt=new, before=stored["requires_action_at"]) \
        if challenged else Deltas()
    if totals.changed():
        rows = ", ".join(["(%s, %s::date, %s, %s, %s, %s::integer, %s::bigint)"]
                         * len(totals.changed()))
        total_table = DailyTotal._meta.db_table
        parts.append(
            f'tot AS (INSERT INTO "{total_table}" (measure, day, currency, value, status, '
            f'count, amount) SELECT v.* FROM (VALUES {rows}) AS v (measure, day, currency, '
            'value, status, count, amount) WHERE EXISTS (SELECT 1 FROM upd) '
            'ON CONFLICT (measure, day, currency, value, status) DO UPDATE SET '
            f'count = "{total_table}".count + excluded.count, '
            f'amount = "{total_table}".amount + excluded.amount RETURNING 1)')
        for key, count, amount in totals.changed():
            params += [*key, count, amount]
    paid_count = "(SELECT count(*) FROM paid)" if paying else "0"
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT {paid_count}, upd.* FROM upd", params)
        row = cursor.fetchone()
    if row is None:
        return None  # the copy was stale: nothing was written
    written = PaymentAttempt.from_db(connection.alias, [field.attname for field in fields],
                                     row[1:])
    if challenged:
        payment_challenged.send(sender=PaymentAttempt, attempt=written,
                                before=stored["requires_action_at"])
    if paying and not row[0]:
        _order_paid_refused(attempt=written, intent=intent)
    _settled_announce(attempt=written, intent=intent, previous=stored["status"],
                      changed=changed, source=source, confirmed=confirmed)
    return written


def _settled_announce(*, attempt: PaymentAttempt, intent: IntentData, previous: str,
                      changed: bool, source: str, confirmed: bool) -> None:
    """``payment_settled`` when this record paid or canceled the attempt, or when our
    confirm paid it though a read (a webhook's, a scan's) recorded the payment a moment
    before its answer came: who paid is news all the same."""
    settled = intent.status in (Status.SUCCEEDED, Status.CANCELED) if changed else \
        confirmed and previous == intent.status == Status.SUCCEEDED
    if settled:
        payment_settled.send(sender=PaymentAttempt, attempt=attempt, previous=previous,
                             source=source, confirmed=confirmed, replayed=intent.replayed)


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


def payment_status_record_missing(*, attempt: PaymentAttempt, source: str, actor: str,
                                  message: str = "") -> PaymentAttempt:
    """Stripe answered that it has no such intent (keys, account or sandbox changed), or
    made none for a create (``message`` says which): the attempt is closed as
    ``missing``, kept in the ledger, and the order may pay anew."""
    with transaction.atomic(savepoint=False):
        read = attempt
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        # Final already, or bound meanwhile to an intent (an event) Stripe does have.
        if attempt.status in PaymentAttempt.FINAL or attempt.stripe_id != read.stripe_id:
            return attempt
        previous = attempt.status
        attempt.status, attempt.final_at = Status.MISSING, timezone.now()
        attempt.last_error_code, attempt.last_decline_code = "resource_missing", ""
        attempt.last_error_message = message or f"Stripe has no PaymentIntent {attempt.stripe_id}."
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
    if not updated:
        _order_paid_refused(attempt=attempt, intent=intent)


def _order_paid_refused(*, attempt: PaymentAttempt, intent: IntentData) -> None:
    """The order was not marked paid: paid already, or (logged) not this amount."""
    if not Order.objects.filter(pk=attempt.order_id, amount=intent.amount,
                                currency=intent.currency).exists():
        # Never the case for intents we created; refuse to call a wrong amount paid.
        log.error("intent %s paid %s %s, which is not the amount of order %s", intent.id,
                  intent.amount, intent.currency, attempt.order_id)

