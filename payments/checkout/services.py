"""The two steps of Stripe's "Migrate your basic card integration" flow, as services.

``checkout_pay`` takes a PaymentMethod from the browser: it creates and confirms the
order's PaymentIntent, or, after a decline, confirms the same intent with the new card.
``checkout_confirm`` confirms again after the bank modal. Both answer with a
``PayOutcome`` or raise a ``CheckoutError`` whose message is fit for the shopper.

Nothing is charged twice: an order has one live intent; its lock is held while a call is
in flight (PostgreSQL); the attempt is committed *before* its create call, so whatever
Stripe may have done is on disk even if this process dies mid-call; every write carries
an idempotency key derived from the order, the attempt and the card; a create whose
answer was lost is replayed with its key while Stripe still remembers it (24 hours) and
looked up by its metadata after that; a paid order answers without calling Stripe.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from payments.checkout.errors import (
    IntentNotFound,
    OrderAmbiguous,
    OrderAmountRefused,
    OrderMismatch,
    OrderNotFound,
    OrderNotPayable,
    PaymentDeclined,
    PaymentInProgress,
    PaymentIntentMissing,
    PaymentInvalid,
    PaymentNeedsCard,
    PaymentRateLimited,
    PaymentRefusedForShop,
    PaymentUnavailable,
    decline_in_words,
)
from payments.checkout.locks import OrderLockTimeout, order_lock
from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.checkout.status import (
    RECORDED_FIELDS,
    payment_attempt_superseded_record,
    payment_status_record,
    payment_status_record_missing,
)
from payments.shop.limits import currency_refused_note, order_refusal_words
from payments.shop.models import Order
from payments.stripe import facts, gateway
from payments.stripe.gateway import IntentData

log = logging.getLogger(__name__)

Status = PaymentAttempt.Status

# Stripe prunes idempotency keys once they are 24 hours old; replaying an older create
# would create (and charge) a second intent, so past this age we search by metadata.
CREATE_REPLAY_MAX_AGE = facts.IDEMPOTENCY_KEY_LIFETIME - timedelta(hours=1)


@dataclass(frozen=True)
class PayOutcome:
    # "succeeded" or "requires_action" (with the client secret) for the shopper's steps;
    # finalize also answers "already_paid", cancel "canceled" or "already_canceled".
    status: str
    client_secret: str | None = None


def checkout_order_reference(*, owned: Sequence[str], order_reference: str | None,
                             payment_intent_id: str | None) -> str:
    """Which of the session's orders (``owned``) a /pay call pays.

    The order page names its order, so the amount charged is the one the shopper saw. The
    guide's unmodified client names none: its intent then names the order, and a first
    payment goes to the session's one order awaiting payment, or is refused when there
    are several (two tabs), never guessed."""
    if order_reference is not None:
        if order_reference not in owned:
            raise OrderNotFound(_("This order is not in your session. Please check out again."))
        return order_reference  # checkout_confirm checks the intent is this order's
    if payment_intent_id is not None:
        owner = _intent_owner(payment_intent_id, owned)
        if owner is None:
            raise IntentNotFound(_("No such payment for your order."))
        return owner
    awaiting = list(Order.objects.filter(reference__in=owned, status=Order.Status.OPEN)
                    .values_list("reference", flat=True)[:2])
    if len(awaiting) > 1:
        raise OrderAmbiguous(_("You have more than one order awaiting payment. Please pay "
                               "from the page of the order you want to pay."))
    if awaiting:
        return awaiting[0]
    if owned:  # paid or canceled: checkout_pay answers for it without calling Stripe
        return owned[-1]
    raise OrderNotFound(_("There is no order to pay in this session. Please check out "
                          "again."))


def checkout_pay(*, order_reference: str, payment_method_id: str, actor: str) -> PayOutcome:
    """Step 1: pay the order with a PaymentMethod created by Stripe.js."""
    return _locked(order_reference, _paid_meanwhile_answered(
        lambda order, attempt: _pay(order, attempt, payment_method_id, actor)))


def checkout_confirm(*, order_reference: str, payment_intent_id: str, actor: str,
                     owned: Sequence[str] = ()) -> PayOutcome:
    """Step 2: confirm the order's intent again once the bank modal is done. An intent
    of another of the session's orders (``owned``) is refused as a mismatch."""
    def work(order: Order, attempt: PaymentAttempt | None) -> PayOutcome:
        if attempt is None:
            owner = _intent_owner(payment_intent_id, owned)
            if owner is not None and owner != order_reference:
                raise OrderMismatch(_("This payment belongs to another of your orders. "
                                      "Please reload this page and try again."))
        return _confirm_after_action(order, attempt, actor)

    return _locked(order_reference, _paid_meanwhile_answered(work),
                   payment_intent_id=payment_intent_id)


def _paid_meanwhile_answered(work: Callable[[Order, PaymentAttempt | None], PayOutcome]
                             ) -> Callable[[Order, PaymentAttempt | None], PayOutcome]:
    """``/pay``'s step, answering "paid" when a webhook paid the order while the step's
    Stripe call waited (it records without the order's lock) and the call itself was
    declined or went unanswered: the shopper hears it is paid, not "try again" (and
    orders again elsewhere). One read, on those answers only."""
    def answered(order: Order, attempt: PaymentAttempt | None) -> PayOutcome:
        try:
            return work(order, attempt)
        except (PaymentDeclined, PaymentUnavailable):
            if Order.objects.filter(pk=order.pk, status=Order.Status.PAID).exists():
                return PayOutcome(status=Status.SUCCEEDED)
            raise
    return answered


def checkout_finalize(*, order_reference: str, payment_intent_id: str, source: str,
                      actor: str, before_confirm: Callable[[], None] | None = None) -> bool:
    """Confirm an intent the shopper authenticated but never confirmed (a scan, or ops).

    The same order lock and idempotency keys as the shopper's own confirm, so the two
    racing charge once. True when this call confirmed it; False when it was paid
    already; a CheckoutError when it is not awaiting confirmation. ``before_confirm``
    runs under the lock just before the confirm is sent (the scan notes it)."""
    def work(order: Order, attempt: PaymentAttempt | None) -> PayOutcome:
        attempt = _attempt_of(order, attempt, payment_intent_id)
        if attempt.status == Status.SUCCEEDED:
            return PayOutcome(status="already_paid")
        if attempt.status != Status.REQUIRES_CONFIRMATION or order.status != Order.Status.OPEN:
            raise OrderNotPayable(f"{payment_intent_id} is {attempt.status}, not awaiting "
                                  "confirmation.")
        if before_confirm is not None:
            before_confirm()
        return _confirm(order, attempt, actor, None, source=source)

    outcome = _locked(order_reference, work, payment_intent_id=payment_intent_id)
    if outcome.status == Status.REQUIRES_ACTION:
        raise PaymentNeedsCard("The bank asked to authenticate again.")
    return outcome.status == Status.SUCCEEDED


def checkout_order_held(*, order_reference: str) -> AbstractContextManager[None]:
    """The order's lock for a caller whose own reading must not cross a payment (an ops
    action deciding whether to act, then acting): held as long as the checkout's calls
    wait for it; ``OrderLockTimeout`` past that. The calls above take it again inside."""
    return order_lock(order_reference=order_reference, timeout_seconds=_lock_wait_seconds())


def checkout_cancel(*, order_reference: str, payment_intent_id: str, reason: str,
                    source: str, actor: str) -> bool:
    """Cancel the order's intent at Stripe and the order with it (ops). Under the order
    lock, so it cannot cross a shopper's confirm. True when this call canceled it; False
    when it was canceled already; a CheckoutError when it is paid or cannot be canceled."""
    def work(order: Order, attempt: PaymentAttempt | None) -> PayOutcome:
        attempt = _attempt_of(order, attempt, payment_intent_id)
        if attempt.status == Status.SUCCEEDED or order.status == Order.Status.PAID:
            raise OrderNotPayable("already paid")
        if attempt.status == Status.CANCELED:
            _order_cancel(order)
            return PayOutcome(status="already_canceled")
        intent = _intent_cancel(attempt, actor, reason=reason, source=source)
        if intent is None:  # an earlier try, whose answer was lost, canceled it
            _order_cancel(order)
            return PayOutcome(status="already_canceled")
        if intent.status != Status.CANCELED:
            raise OrderNotPayable(f"Stripe left it {intent.status}")
        _order_cancel(order)
        return PayOutcome(status=Status.CANCELED)

    return _locked(order_reference, work,
                   payment_intent_id=payment_intent_id).status == Status.CANCELED


def _intent_cancel(attempt: PaymentAttempt, actor: str, *, reason: str,
                   source: str = PaymentEvent.Source.PAY) -> IntentData | None:
    """Cancel the attempt's intent at Stripe; None when an earlier try, whose answer was
    lost, had canceled it. A key of its own per cancel (stripe-python's retries within
    the call share it): a 500 Stripe kept under a fixed key failed every cancel for a
    day, and a cancel is safe to repeat (Stripe refuses a second one in the intent's
    state; its answer carries the intent, recorded canceled)."""
    key = f"{attempt.order.reference}:{attempt.stripe_id}:cancel:{uuid.uuid4().hex[:16]}"
    try:
        return _call(attempt, actor, lambda: gateway.payment_intent_cancel(
            intent_id=attempt.stripe_id, reason=reason, idempotency_key=key), source=source)
    except PaymentInvalid as error:
        if not (error.state_conflict and attempt.status == Status.CANCELED):
            raise
        return None


def _attempt_of(order: Order, attempt: PaymentAttempt | None, payment_intent_id: str
                ) -> PaymentAttempt:
    """The order's attempt for an intent ops or a scan name (IntentNotFound otherwise)."""
    if attempt is None:
        raise IntentNotFound(f"{payment_intent_id} is not a payment of {order.reference}.")
    return attempt


def _order_cancel(order: Order) -> None:
    Order.objects.filter(pk=order.pk, status=Order.Status.OPEN).update(
        status=Order.Status.CANCELED)


def _intent_owner(payment_intent_id: str, owned: Sequence[str]) -> str | None:
    return (PaymentAttempt.objects.filter(stripe_id=payment_intent_id,
                                          order__reference__in=owned)
            .values_list("order__reference", flat=True).first())


def _pay(order: Order, attempt: PaymentAttempt | None, payment_method_id: str, actor: str
         ) -> PayOutcome:
    """``attempt``: the order's latest, if any."""
    if order.status == Order.Status.PAID:
        return PayOutcome(status=Status.SUCCEEDED)
    if order.status == Order.Status.CANCELED:
        raise OrderNotPayable(_("This order was canceled and cannot be paid."))
    fresh = attempt is None or attempt.status in (Status.CANCELED, Status.MISSING)
    if not fresh and _old_flow_intent(attempt):
        _old_flow_retire(attempt, actor)
        fresh = True
    if fresh:
        _amount_chargeable_check(order)
        attempt = _attempt_start(order, attempt, payment_method_id)
    if attempt.stripe_id is None:
        outcome = _create_resume(attempt, payment_method_id, actor, fresh=fresh)
        if outcome is not None:
            return outcome
    if attempt.status == Status.SUCCEEDED:
        return PayOutcome(status=Status.SUCCEEDED)
    # A retry after a decline, a failed challenge or an expiry: the same intent, new card.
    try:
        return _confirm(order, attempt, actor, payment_method_id)
    except PaymentIntentMissing:
        # The old attempt is closed in the ledger; the shopper's card pays a new one.
        return _pay(order, attempt, payment_method_id, actor)


def _amount_chargeable_check(order: Order) -> None:
    """Before a new intent: an amount Stripe would refuse (an order placed before the
    cart checked it) is refused here, in the cart's words, not with Stripe's message
    for developers; nothing is recorded."""
    words = order_refusal_words(order=order)
    if words:
        raise OrderAmountRefused(words)


# The old guide's intents (automatic confirmation) cannot be paid again with a card that
# asks for 3-D Secure: confirming one leaves it at requires_action, and Stripe.js's
# handleCardAction refuses it ("…does not require manual server-side confirmation…").
OLD_FLOW_WHY = ("the earlier intent used automatic confirmation (the old flow), which "
                "cannot run the bank's check on this page; a new card pays a new intent.")


def _old_flow_intent(attempt: PaymentAttempt) -> bool:
    """An intent of the old flow, failed or left at the bank, that a new card must not
    confirm again."""
    return attempt.confirmation_method == "automatic" and attempt.stripe_id is not None \
        and attempt.status in (Status.REQUIRES_PAYMENT_METHOD, Status.REQUIRES_ACTION)


def _old_flow_retire(attempt: PaymentAttempt, actor: str) -> None:
    """Leave the old intent behind, saying why in its ledger. One waiting at the bank is
    canceled first: completing its challenge elsewhere would charge it beside the new one."""
    if attempt.status == Status.REQUIRES_ACTION:
        _intent_cancel(attempt, actor, reason="abandoned")
    payment_attempt_superseded_record(attempt=attempt, by_number=attempt.number + 1,
                                      source=PaymentEvent.Source.PAY, actor=actor,
                                      why=OLD_FLOW_WHY)


def _create_resume(attempt: PaymentAttempt, payment_method_id: str, actor: str, *,
                   fresh: bool) -> PayOutcome | None:
    """Create the attempt's intent, or find the one an earlier, lost create made.

    Returns the outcome when the step is over, or None when the intent now exists and
    should be confirmed with the shopper's (new) card."""
    if attempt.create_key_spent_at is not None:
        # Its key only replays Stripe's error, and a new one could make a second intent
        # beside one the failed call made: the sweep lists what Stripe made (search may
        # lag an hour in an outage) and closes the attempt if nothing, for a new one.
        raise PaymentUnavailable(_("We are still checking with our payment provider "
                                   "whether your last try went through, which takes a few "
                                   "minutes. Nothing was charged twice; please try again "
                                   "then."))
    if timezone.now() - attempt.create_requested_at > CREATE_REPLAY_MAX_AGE:
        intent = _call(attempt, actor, lambda: gateway.payment_intent_find(
            metadata={"order": attempt.order.reference, "attempt": str(attempt.number)}))
        if intent is None:  # Stripe never made it: create afresh, with this card
            _attempt_recreate(attempt, payment_method_id)
    if attempt.stripe_id is None:
        try:
            intent = _call(attempt, actor, lambda: _create(attempt))
        except (PaymentInvalid, PaymentRateLimited):
            if fresh and attempt.stripe_id is None:
                attempt.delete()  # refused outright: no intent exists, nothing to replay
            raise
        except PaymentUnavailable as error:
            _attempt_mark_outcome_lost(attempt, key_spent=error.key_spent)
            raise
        except PaymentDeclined:  # _call has bound the declined intent to the attempt
            if attempt.create_payment_method == payment_method_id or attempt.stripe_id is None:
                raise
            return None
    if attempt.create_payment_method == payment_method_id or intent.status == Status.SUCCEEDED:
        return _outcome(intent)
    return None


def _confirm_after_action(order: Order, attempt: PaymentAttempt | None, actor: str
                          ) -> PayOutcome:
    if attempt is None:
        raise IntentNotFound(_("No such payment for your order."))
    if attempt.status == Status.SUCCEEDED:
        return PayOutcome(status=Status.SUCCEEDED)
    if order.status == Order.Status.CANCELED:  # before the attempt's "enter your card again"
        raise OrderNotPayable(_("This order was canceled and cannot be paid."))
    if attempt.status == Status.MISSING:
        raise PaymentIntentMissing(_(INTENT_MISSING))
    if attempt.status == Status.CANCELED:
        raise OrderNotPayable(_("This payment was canceled. Please enter your card to pay "
                                "again."))
    if order.status != Order.Status.OPEN:
        raise OrderNotPayable(_("This order cannot be paid any more."))
    return _confirm(order, attempt, actor, None)


INTENT_MISSING = gettext_noop("We could not find this payment at our payment provider. "
                              "Please enter your card again to pay the order.")


def _confirm(order: Order, attempt: PaymentAttempt, actor: str,
             payment_method_id: str | None, source: str = PaymentEvent.Source.PAY
             ) -> PayOutcome:
    key = (f"{order.reference}:{attempt.stripe_id}:confirm-{attempt.confirmations + 1}:"
           f"{payment_method_id or 'attached'}")
    try:
        intent = _call(attempt, actor, lambda: gateway.payment_intent_confirm(
            intent_id=attempt.stripe_id, idempotency_key=key, payment_method=payment_method_id),
            confirming=True, source=source)
    except PaymentInvalid as error:
        _raise_if_intent_missing(attempt, actor, error, source)
        if not error.state_conflict:
            raise
        # Stripe refuses to confirm an intent in the wrong state: it succeeded on a call
        # whose answer we lost, was canceled, or expired back to requires_payment_method.
        try:
            intent = _call(attempt, actor, lambda: gateway.payment_intent_retrieve(
                intent_id=attempt.stripe_id), source=source)
        except PaymentInvalid as retrieve_error:
            _raise_if_intent_missing(attempt, actor, retrieve_error, source)
            raise
        if intent.status in (Status.REQUIRES_CONFIRMATION, Status.REQUIRES_ACTION):
            raise
    return _outcome(intent)


def _raise_if_intent_missing(attempt: PaymentAttempt, actor: str, error: PaymentInvalid,
                             source: str = PaymentEvent.Source.PAY) -> None:
    if error.intent_missing:  # not a missing card: the gateway tells them apart
        recorded = payment_status_record_missing(attempt=attempt, source=source, actor=actor)
        attempt.status = recorded.status
        raise PaymentIntentMissing(_(INTENT_MISSING)) from error


def _outcome(intent: IntentData) -> PayOutcome:
    if intent.status == Status.SUCCEEDED:
        return PayOutcome(status=Status.SUCCEEDED)
    if intent.status == Status.REQUIRES_ACTION:
        return PayOutcome(status=Status.REQUIRES_ACTION, client_secret=intent.client_secret)
    if intent.status == Status.REQUIRES_PAYMENT_METHOD:
        if intent.last_error_code in facts.EXPIRED_CODES:
            raise PaymentNeedsCard(_("This payment expired before it was completed. Please "
                                     "enter your card again."))
        if intent.last_error_code in facts.AUTHENTICATION_FAILED_CODES:
            # Stripe's message here is written for developers ("The provided
            # PaymentMethod has failed authentication…").
            raise PaymentNeedsCard(_("Your bank could not confirm this payment. Please try "
                                     "again or use another card."))
        # Stripe's message is English: ours, by the decline code, in the shopper's words.
        raise PaymentNeedsCard(decline_in_words(decline_code=intent.last_decline_code,
                                                code=intent.last_error_code))
    if intent.status == Status.CANCELED:
        raise OrderNotPayable(_("This payment was canceled. Please enter your card to pay "
                                "again."))
    raise OrderNotPayable(_("Your payment is still being processed. Please check your "
                            "order page again in a moment."))


def _attempt_start(order: Order, previous: PaymentAttempt | None,
                   payment_method_id: str) -> PaymentAttempt:
    """Commit the attempt before its create call, so a process killed during the call
    leaves the key a retry (or a scan) replays."""
    handle_actions = settings.PAYMENTS_HANDLE_ACTIONS
    # One INSERT commits by itself; a savepoint only inside a caller's transaction, so a
    # unique-key clash there does not break it.
    atomic = transaction.atomic() if connection.in_atomic_block else nullcontext()
    attempt = PaymentAttempt(
        order=order, number=previous.number + 1 if previous else 1,
        create_payment_method=payment_method_id, amount=order.amount,
        currency=order.currency, confirmation_method="manual" if handle_actions else "automatic")
    try:
        with atomic:
            if connection.vendor != "postgresql":
                attempt.save(force_insert=True)
                return attempt
            # The ORM's INSERT as one cached statement: its compiling was an eighth of a
            # paid /pay's CPU. Each field's value as save() makes it (defaults, auto_now);
            # no pre_save/post_save signal is sent (nothing listens for attempts).
            fields = _attempt_insert_fields()
            with connection.cursor() as cursor:
                cursor.execute(_attempt_insert_sql(), [
                    field.get_db_prep_save(field.pre_save(attempt, True), connection)
                    for field in fields])
                attempt.pk = cursor.fetchone()[0]
            attempt._state.adding, attempt._state.db = False, connection.alias
            return attempt
    except IntegrityError as error:  # only without the order lock (SQLite)
        raise PaymentInProgress(_("Your payment is already being processed. Please wait a "
                                  "moment.")) from error


@cache
def _attempt_insert_fields() -> list:
    return [field for field in PaymentAttempt._meta.concrete_fields if not field.primary_key]


@cache
def _attempt_insert_sql() -> str:
    columns = ", ".join(f'"{field.column}"' for field in _attempt_insert_fields())
    values = ", ".join(["%s"] * len(_attempt_insert_fields()))
    return (f'INSERT INTO "{PaymentAttempt._meta.db_table}" ({columns}) VALUES ({values}) '
            'RETURNING "id"')


def _attempt_recreate(attempt: PaymentAttempt, payment_method_id: str) -> None:
    attempt.create_payment_method = payment_method_id
    attempt.create_requested_at = timezone.now()
    attempt.outcome_lost_at = None
    attempt.save(update_fields=["create_payment_method", "create_requested_at",
                                "outcome_lost_at", "updated_at"])


def _attempt_mark_outcome_lost(attempt: PaymentAttempt, *, key_spent: bool) -> None:
    if attempt.stripe_id is None:  # Stripe may hold an intent we have not seen
        attempt.outcome_lost_at = timezone.now()
        if key_spent:
            attempt.create_key_spent_at = attempt.outcome_lost_at
        PaymentAttempt.objects.filter(pk=attempt.pk, stripe_id__isnull=True).update(
            outcome_lost_at=attempt.outcome_lost_at,
            create_key_spent_at=attempt.create_key_spent_at)


def _create(attempt: PaymentAttempt) -> IntentData:
    order = attempt.order
    return gateway.payment_intent_create(
        amount=attempt.amount, currency=attempt.currency,
        payment_method=attempt.create_payment_method,
        idempotency_key=f"{order.reference}:attempt-{attempt.number}:create:"
                        f"{attempt.create_payment_method}",
        # What a scan needs to find this intent if its answer never reaches us.
        metadata={"order": order.reference, "attempt": str(attempt.number)},
        handle_actions=attempt.confirmation_method == "manual")


def _call(attempt: PaymentAttempt, actor: str, call: Callable[[], IntentData | None],
          confirming: bool = False, source: str = PaymentEvent.Source.PAY
          ) -> IntentData | None:
    """Make one Stripe call, record whatever intent it reports, map its errors."""
    try:
        intent = call()
    except gateway.AuthenticationRequired as error:  # the legacy flow met 3-D Secure
        _record(attempt, error.intent, actor, confirming, source)
        raise PaymentDeclined(_(facts.SHOPPER_AUTHENTICATION_NOT_HANDLED),
                              decline_code=error.decline_code) from error
    except gateway.CardDeclined as error:
        _record(attempt, error.intent, actor, confirming, source)
        raise PaymentDeclined(decline_in_words(decline_code=error.decline_code,
                                               code=error.code),
                              decline_code=error.decline_code) from error
    except gateway.InvalidRequest as error:
        _record(attempt, error.intent, actor, confirming, source)
        words, kind = _invalid_request_words(attempt, error)
        raise kind(words, code=error.code, param=error.param, stripe_message=error.message,
                   intent_missing=isinstance(error, gateway.IntentMissing),
                   state_conflict=isinstance(error, gateway.IntentStateConflict)) from error
    except gateway.RateLimited as error:
        raise PaymentRateLimited(error.message) from error
    except gateway.StripeUnavailable as error:
        if confirming and error.key_spent:  # Stripe would replay this failure to its key
            _record(attempt, None, actor, confirming, source)
        raise PaymentUnavailable(error.message, key_spent=error.key_spent) from error
    _record(attempt, intent, actor, confirming, source)
    return intent


def _invalid_request_words(attempt: PaymentAttempt, error: gateway.InvalidRequest
                           ) -> tuple[str, type[PaymentInvalid]]:
    """What the shopper reads when Stripe refused the request itself, and the class that
    says it. Stripe's message is English and for developers ("Invalid currency: xts.
    Stripe currently supports..."): the shopper gets the shop's words, the log Stripe's."""
    if error.param == "payment_method":
        return _("That card could not be used. Please enter it again."), PaymentInvalid
    if isinstance(error, gateway.IntentStateConflict):  # callers read the intent anew
        return _("This payment changed in the meantime. Please reload the page."), \
            PaymentInvalid
    if isinstance(error, gateway.IntentMissing):  # callers record it missing
        return _(INTENT_MISSING), PaymentInvalid
    if error.code == "idempotency_error":  # already the shop's words (the gateway's)
        return error.message, PaymentInvalid
    # Nothing the shopper can change: the shop's request (a currency Stripe does not
    # take, a total outside its limits the shop's table did not know), for the merchant.
    log.error("Stripe refused the payment request of %s (%s %s; %s, param %s): %s",
              attempt.order.reference, attempt.amount, attempt.currency, error.code,
              error.param, error.message)
    if error.param == "currency":
        currency_refused_note(currency=attempt.currency)
    if error.param in ("amount", "currency"):
        return _("This order cannot be paid by card: our payment provider does not accept "
                 "its total in %(currency)s. Nothing was charged; please contact the "
                 "shop.") % {"currency": attempt.currency.upper()}, PaymentRefusedForShop
    return _("Our payment provider refused this payment request. Nothing was charged; "
             "please contact the shop."), PaymentRefusedForShop


def _record(attempt: PaymentAttempt, intent: IntentData | None, actor: str,
            confirming: bool, source: str) -> None:
    if intent is None:
        if confirming:  # answered, so the next confirm needs a fresh idempotency key
            attempt.confirmations += 1
            PaymentAttempt.objects.filter(pk=attempt.pk).update(
                confirmations=attempt.confirmations)
        return
    recorded = payment_status_record(attempt=attempt, intent=intent, source=source,
                                     actor=actor, confirmed=confirming)
    # All of it: a second record in this request then finds its copy current (the
    # one-statement record's condition) rather than taking the locking read.
    for name in RECORDED_FIELDS:
        setattr(attempt, name, getattr(recorded, name))


def _locked(reference: str, work: Callable[[Order, PaymentAttempt | None], PayOutcome], *,
            payment_intent_id: str | None = None) -> PayOutcome:
    """Run ``work`` on the order and its attempt for ``payment_intent_id`` (without one:
    its latest attempt; None when there is none) while holding the order's lock. Nothing
    here is one long transaction: each write commits at once, before the Stripe call that
    follows it."""
    try:
        with order_lock(order_reference=reference, timeout_seconds=_lock_wait_seconds()):
            order, attempt = _order_read(reference, payment_intent_id)
            if order is None:
                raise OrderNotFound(_("There is no order to pay in this session. Please "
                                      "check out again."))
            return work(order, attempt)
    except OrderLockTimeout as error:
        raise PaymentInProgress(_("Your payment is already being processed. Please wait a "
                                  "moment and reload the page.")) from error


def _order_read(reference: str, payment_intent_id: str | None
                ) -> tuple[Order | None, PaymentAttempt | None]:
    """The order and its attempt: one query for a confirm (the attempt, its order joined)
    and for a first payment (the order, which names no latest attempt)."""
    if connection.vendor == "postgresql":
        return _order_read_sql(reference, payment_intent_id)
    if payment_intent_id:
        attempt = (PaymentAttempt.objects.select_related("order")
                   .filter(order__reference=reference, stripe_id=payment_intent_id).first())
        if attempt is not None:
            return attempt.order, attempt
        return Order.objects.filter(reference=reference).first(), None
    latest = PaymentAttempt.objects.filter(order=OuterRef("pk")).order_by("-number")
    order = (Order.objects.filter(reference=reference)
             .annotate(latest_attempt_id=Subquery(latest.values("pk")[:1])).first())
    if order is None or order.latest_attempt_id is None:
        return order, None
    attempt = PaymentAttempt.objects.get(pk=order.latest_attempt_id)
    attempt.order = order
    return order, attempt


def _order_read_sql(reference: str, payment_intent_id: str | None
                    ) -> tuple[Order | None, PaymentAttempt | None]:
    """``_order_read`` on PostgreSQL as one plain query, whichever the step: the order
    with the attempt for ``payment_intent_id``, or else its latest (the ORM's Python cost
    more than the query)."""
    with connection.cursor() as cursor:
        if payment_intent_id:
            cursor.execute(_order_read_sql_text(by_intent=True), [payment_intent_id, reference])
        else:
            cursor.execute(_order_read_sql_text(by_intent=False), [reference])
        row = cursor.fetchone()
    if row is None:
        return None, None
    order_fields, attempt_fields = _order_read_fields()
    order = Order.from_db(connection.alias, order_fields, row[:len(order_fields)])
    if row[len(order_fields)] is None:  # the attempt's id: no such attempt
        return order, None
    attempt = PaymentAttempt.from_db(connection.alias, attempt_fields, row[len(order_fields):])
    attempt.order = order
    return order, attempt


@cache
def _order_read_fields() -> tuple[list[str], list[str]]:
    return ([field.attname for field in Order._meta.concrete_fields],
            [field.attname for field in PaymentAttempt._meta.concrete_fields])


@cache
def _order_read_sql_text(*, by_intent: bool) -> str:
    orders, attempts = Order._meta.db_table, PaymentAttempt._meta.db_table
    columns = ", ".join([f'o."{field.column}"' for field in Order._meta.concrete_fields]
                        + [f'a."{field.column}"'
                           for field in PaymentAttempt._meta.concrete_fields])
    if by_intent:
        attempt = f'"{attempts}" a ON a."order_id" = o."id" AND a."stripe_id" = %s'
    else:
        attempt = (f'LATERAL (SELECT * FROM "{attempts}" WHERE "order_id" = o."id" '
                   'ORDER BY "number" DESC LIMIT 1) a ON true')
    return f'SELECT {columns} FROM "{orders}" o LEFT JOIN {attempt} WHERE o."reference" = %s'


def _lock_wait_seconds() -> float:
    """As long as the request holding the lock can spend on Stripe, plus a little: a
    double click waits for the first click's answer rather than failing."""
    tries = settings.STRIPE_MAX_NETWORK_RETRIES + 1
    return settings.STRIPE_TIMEOUT_SECONDS * tries + 5.0 * (tries - 1) + 5.0
