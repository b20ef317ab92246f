"""The two steps of Stripe's "Migrate your basic card integration" flow, as services.

``checkout_pay`` takes a PaymentMethod from the browser: it creates and confirms the
order's PaymentIntent, or, after a decline, confirms the same intent with the new card.
``checkout_confirm`` confirms again after the bank modal. Both answer with a
``PayOutcome`` or raise a ``CheckoutError`` whose message is fit for the shopper.

Nothing is charged twice: an order has one live intent, its row is locked while a call
is in flight (on PostgreSQL), every write carries an idempotency key derived from the
order, the attempt and the card, and a paid order answers without calling Stripe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from payments import gateway
from payments.gateway import IntentData
from payments.models import Order, PaymentAttempt, PaymentEvent
from payments.payment_status import payment_status_record

Status = PaymentAttempt.Status

# Stripe's own message for this case speaks to developers (error_on_requires_action).
AUTHENTICATION_NOT_HANDLED = ("Your card requires authentication by your bank, which this "
                              "checkout could not ask for. Please try another card.")


@dataclass(frozen=True)
class PayOutcome:
    status: str  # "succeeded" or "requires_action"
    client_secret: str | None = None


class CheckoutError(Exception):
    """The payment did not go through; ``message`` is shown to the shopper."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OrderNotFound(CheckoutError):
    """No such order (the session's reference points nowhere)."""


class IntentNotFound(CheckoutError):
    """The intent id is not one of this order's."""


class OrderNotPayable(CheckoutError):
    """The order was canceled, or its payment was, or it is still processing."""


class PaymentInProgress(CheckoutError):
    """Another request for the same order is creating its payment right now."""


class PaymentDeclined(CheckoutError):
    def __init__(self, message: str, *, decline_code: str | None = None) -> None:
        super().__init__(message)
        self.decline_code = decline_code


class PaymentNeedsCard(CheckoutError):
    """The intent needs a (new) card: authentication failed or the hour ran out."""


class PaymentInvalid(CheckoutError):
    """Stripe refused the request itself (an unknown payment method, say)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class PaymentRateLimited(CheckoutError):
    pass


class PaymentUnavailable(CheckoutError):
    pass


def checkout_pay(*, order_reference: str, payment_method_id: str, actor: str) -> PayOutcome:
    """Step 1: pay the order with a PaymentMethod created by Stripe.js."""
    return _locked(order_reference, lambda order: _pay(order, payment_method_id, actor))


def checkout_confirm(*, order_reference: str, payment_intent_id: str, actor: str
                     ) -> PayOutcome:
    """Step 2: confirm the order's intent again once the bank modal is done."""
    return _locked(order_reference,
                   lambda order: _confirm_after_action(order, payment_intent_id, actor))


def _pay(order: Order, payment_method_id: str, actor: str) -> PayOutcome:
    if order.status == Order.Status.PAID:
        return PayOutcome(status=Status.SUCCEEDED)
    if order.status == Order.Status.CANCELED:
        raise OrderNotPayable("This order was canceled and cannot be paid.")
    attempt = order.attempts.order_by("-number").first()
    fresh = attempt is None or attempt.status == Status.CANCELED
    if fresh:
        attempt = _attempt_start(order, attempt, payment_method_id)
    if attempt.stripe_id is None:
        # First call, or an earlier create whose answer was lost: the same key and card
        # make Stripe replay that answer instead of creating a second intent.
        try:
            intent = _call(attempt, actor, lambda: _create(attempt))
        except (PaymentInvalid, PaymentRateLimited):
            if fresh and attempt.stripe_id is None:
                attempt.delete()  # refused outright: no intent exists, nothing to replay
            raise
        except PaymentDeclined:  # _call has bound the declined intent to the attempt
            if attempt.create_payment_method == payment_method_id or attempt.stripe_id is None:
                raise
        else:
            if attempt.create_payment_method == payment_method_id or \
                    intent.status == Status.SUCCEEDED:
                return _outcome(intent)
    if attempt.status == Status.SUCCEEDED:
        return PayOutcome(status=Status.SUCCEEDED)
    # A retry after a decline, a failed challenge or an expiry: the same intent, new card.
    return _confirm(order, attempt, actor, payment_method_id)


def _confirm_after_action(order: Order, payment_intent_id: str, actor: str) -> PayOutcome:
    attempt = order.attempts.filter(stripe_id=payment_intent_id).first()
    if attempt is None:
        raise IntentNotFound("No such payment for your order.")
    if attempt.status == Status.SUCCEEDED:
        return PayOutcome(status=Status.SUCCEEDED)
    if attempt.status == Status.CANCELED:
        raise OrderNotPayable("This payment was canceled. Please enter your card to pay again.")
    if order.status != Order.Status.OPEN:
        raise OrderNotPayable("This order cannot be paid any more.")
    return _confirm(order, attempt, actor, None)


def _confirm(order: Order, attempt: PaymentAttempt, actor: str,
             payment_method_id: str | None) -> PayOutcome:
    key = (f"{order.reference}:{attempt.stripe_id}:confirm-{attempt.confirmations + 1}:"
           f"{payment_method_id or 'attached'}")
    try:
        intent = _call(attempt, actor, lambda: gateway.payment_intent_confirm(
            intent_id=attempt.stripe_id, idempotency_key=key, payment_method=payment_method_id),
            confirming=True)
    except PaymentInvalid as error:
        if error.code != "payment_intent_unexpected_state":
            raise
        # Stripe refuses to confirm an intent in the wrong state: it succeeded on a call
        # whose answer we lost, was canceled, or expired back to requires_payment_method.
        intent = _call(attempt, actor, lambda: gateway.payment_intent_retrieve(
            intent_id=attempt.stripe_id))
        if intent.status in (Status.REQUIRES_CONFIRMATION, Status.REQUIRES_ACTION):
            raise
    return _outcome(intent)


def _outcome(intent: IntentData) -> PayOutcome:
    if intent.status == Status.SUCCEEDED:
        return PayOutcome(status=Status.SUCCEEDED)
    if intent.status == Status.REQUIRES_ACTION:
        return PayOutcome(status=Status.REQUIRES_ACTION, client_secret=intent.client_secret)
    if intent.status == Status.REQUIRES_PAYMENT_METHOD:
        if intent.last_error_code == "payment_intent_payment_attempt_expired":
            raise PaymentNeedsCard("This payment expired before it was completed. Please "
                                   "enter your card again.")
        raise PaymentNeedsCard(intent.last_error_message or "Your card could not be charged. "
                               "Please try another card.")
    if intent.status == Status.CANCELED:
        raise OrderNotPayable("This payment was canceled. Please enter your card to pay again.")
    raise OrderNotPayable("Your payment is still being processed. Please check your order "
                          "page again in a moment.")


def _attempt_start(order: Order, previous: PaymentAttempt | None,
                   payment_method_id: str) -> PaymentAttempt:
    handle_actions = settings.PAYMENTS_HANDLE_ACTIONS
    try:
        # No savepoint: under the order lock the insert cannot conflict; without row
        # locks (SQLite) this is its own transaction.
        with transaction.atomic(savepoint=False):
            return PaymentAttempt.objects.create(
                order=order, number=previous.number + 1 if previous else 1,
                create_payment_method=payment_method_id, amount=order.amount,
                currency=order.currency,
                confirmation_method="manual" if handle_actions else "automatic")
    except IntegrityError as error:  # only where rows cannot be locked (SQLite)
        raise PaymentInProgress("Your payment is already being processed. Please wait a "
                                "moment.") from error


def _create(attempt: PaymentAttempt) -> IntentData:
    order = attempt.order
    return gateway.payment_intent_create(
        amount=attempt.amount, currency=attempt.currency,
        payment_method=attempt.create_payment_method,
        idempotency_key=f"{order.reference}:attempt-{attempt.number}:create:"
                        f"{attempt.create_payment_method}",
        metadata={"order": order.reference, "attempt": str(attempt.number)},
        handle_actions=attempt.confirmation_method == "manual")


def _call(attempt: PaymentAttempt, actor: str, call: Callable[[], IntentData],
          confirming: bool = False) -> IntentData:
    """Make one Stripe call, record whatever intent it reports, map its errors."""
    try:
        intent = call()
    except gateway.AuthenticationRequired as error:  # the legacy flow met 3-D Secure
        _record(attempt, error.intent, actor, confirming)
        raise PaymentDeclined(AUTHENTICATION_NOT_HANDLED, decline_code=error.decline_code) \
            from error
    except gateway.CardDeclined as error:
        _record(attempt, error.intent, actor, confirming)
        raise PaymentDeclined(error.message, decline_code=error.decline_code) from error
    except gateway.InvalidRequest as error:
        _record(attempt, error.intent, actor, confirming)
        message = "That card could not be used. Please enter it again." \
            if error.param == "payment_method" else error.message
        raise PaymentInvalid(message, code=error.code) from error
    except gateway.RateLimited as error:
        raise PaymentRateLimited(error.message) from error
    except gateway.StripeUnavailable as error:
        raise PaymentUnavailable(error.message) from error
    _record(attempt, intent, actor, confirming)
    return intent


def _record(attempt: PaymentAttempt, intent: IntentData | None, actor: str,
            confirming: bool) -> None:
    if confirming:  # answered, so the next confirm needs a fresh idempotency key
        attempt.confirmations += 1
        PaymentAttempt.objects.filter(pk=attempt.pk).update(
            confirmations=attempt.confirmations)
    if intent is not None:
        recorded = payment_status_record(attempt=attempt, intent=intent,
                                         source=PaymentEvent.Source.PAY, actor=actor)
        attempt.stripe_id, attempt.status = recorded.stripe_id, recorded.status


def _locked(reference: str, work: Callable[[Order], PayOutcome]) -> PayOutcome:
    """Run ``work`` on the order with its row locked; commit what it recorded, even when it
    ends in a CheckoutError (a decline is a fact to keep)."""
    failure: CheckoutError | None = None
    with _order_lock(reference) as order:
        try:
            return work(order)
        except CheckoutError as error:
            failure = error
    raise failure


@contextmanager
def _order_lock(reference: str) -> Iterator[Order]:
    if not connection.features.has_select_for_update:
        # SQLite locks the whole database per write transaction; holding one across a
        # Stripe call would stall every other request. Idempotency keys keep it safe.
        yield _order_get(Order.objects, reference)
        return
    with transaction.atomic():
        yield _order_get(Order.objects.select_for_update(), reference)


def _order_get(orders, reference: str) -> Order:
    order = orders.filter(reference=reference).first()
    if order is None:
        raise OrderNotFound("There is no order to pay in this session. Please check out again.")
    return order
