"""The sandbox's state and Stripe's rules for changing it.

One ``Sandbox`` holds every object in memory and is driven by one thread (the
server's event loop), so no locking is needed. Time comes from ``Clock``, which
tests can move forward to reach the one-hour expiry of unconfirmed intents.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sortedcontainers import SortedKeyList

from . import render
from .cards import (
    DECLINE,
    DECLINE_MESSAGES,
    REQUIRE_3DS,
    REQUIRE_3DS_THEN_DECLINE,
    TEST_PAYMENT_METHODS,
    card_for,
    luhn_valid,
)
from .errors import SandboxError, invalid_request, resource_missing, unexpected_state
from .idempotency import IdempotencyStore
from .params import (
    AMOUNT_STEPS,
    CURRENCIES,
    DEFAULT_MINIMUM_AMOUNT,
    MAXIMUM_AMOUNT,
    MINIMUM_AMOUNTS,
)
from .records import (
    BalanceTransaction,
    Charge,
    Customer,
    Event,
    PaymentIntent,
    PaymentMethod,
    WebhookEndpoint,
    new_id,
)

# A manually confirmed intent must be confirmed again within an hour of its
# action being handled, or it falls back to requires_payment_method.
CONFIRMATION_WINDOW = 3600

CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation",
              "requires_action", "processing")
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")

AUTH_NOT_HANDLED_MESSAGE = (
    "This payment required an authentication action to complete, but "
    "`error_on_requires_action` was set. When you're ready, you can upgrade your integration "
    "to handle actions at https://stripe.com/docs/payments/payment-intents/upgrade-to-handle-actions."
)
AUTH_FAILED_MESSAGE = (
    "The provided PaymentMethod has failed authentication. You can provide "
    "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)
ATTEMPT_EXPIRED_MESSAGE = (
    "The PaymentIntent was not confirmed within one hour after its required action was "
    "handled, so the payment attempt expired. Provide a payment method to try again."
)


class Clock:
    """Wall-clock seconds plus an offset the tests can advance."""

    def __init__(self) -> None:
        self.offset = 0

    def now(self) -> int:
        return int(time.time()) + self.offset

    def advance(self, seconds: int) -> int:
        self.offset += seconds
        return self.now()


class Sandbox:
    def __init__(self, *, on_event: Callable[[Event], None] | None = None) -> None:
        self.clock = Clock()
        self.on_event = on_event
        self.reset()

    def reset(self) -> None:
        self.customers: dict[str, Customer] = {}
        self.payment_methods: dict[str, PaymentMethod] = {}
        self.payment_intents: dict[str, PaymentIntent] = {}
        # Newest first: (-created, -seq) orders intents created in the same second.
        self.intents_by_created = SortedKeyList(key=lambda pi: (-pi.created, -pi.seq))
        self.charges: dict[str, Charge] = {}
        self.charges_by_intent: dict[str, list[str]] = {}
        # Newest first, like the list endpoint: seeded history can be older
        # than events already recorded, so append order is not enough.
        self.events = SortedKeyList(key=lambda event: (-event.created, -event.seq))
        self.event_index: dict[str, Event] = {}
        self.webhook_endpoints: dict[str, WebhookEndpoint] = {}
        self.idempotency = IdempotencyStore()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=200_000)
        self._expiries: list[tuple[int, str, int]] = []
        self._seq = itertools.count(1)
        self.clock.offset = 0
        # Set by the app for the request being handled, so events can name it.
        self.request_id: str | None = None
        self.idempotency_key: str | None = None

    # --- time -------------------------------------------------------------------

    def expire_due(self) -> int:
        """Revert manual intents left in requires_confirmation past the window."""
        now = self.clock.now()
        expired = 0
        while self._expiries and self._expiries[0][0] <= now:
            _, intent_id, since = heapq.heappop(self._expiries)
            intent = self.payment_intents.get(intent_id)
            if intent and intent.status == "requires_confirmation" and intent.status_since == since:
                # Stripe announces this with no webhook; no event is recorded.
                intent.status = "requires_payment_method"
                intent.status_since = now
                intent.authenticated = False
                intent.last_payment_error = {
                    "type": "invalid_request_error",
                    "code": "payment_intent_payment_attempt_expired",
                    "doc_url": "https://stripe.com/docs/error-codes/"
                               "payment-intent-payment-attempt-expired",
                    "message": ATTEMPT_EXPIRED_MESSAGE,
                }
                expired += 1
        return expired

    def set_status(self, intent: PaymentIntent, status: str, *, since: int | None = None
                   ) -> None:
        intent.status = status
        intent.status_since = self.clock.now() if since is None else since
        if status == "requires_confirmation" and intent.confirmation_method == "manual" \
                and intent.authenticated:
            heapq.heappush(self._expiries,
                           (intent.status_since + CONFIRMATION_WINDOW, intent.id,
                            intent.status_since))

    # --- events -------------------------------------------------------------------

    def emit(self, event_type: str, obj: dict[str, Any]) -> Event:
        event = Event(id=new_id("evt_"), seq=next(self._seq), created=self.clock.now(),
                      type=event_type, object=obj, request_id=self.request_id,
                      idempotency_key=self.idempotency_key)
        event.pending_webhooks = sum(1 for ep in self.webhook_endpoints.values()
                                     if ep.wants(event_type))
        self.event_index[event.id] = event
        self.events.add(event)
        if self.on_event:
            self.on_event(event)
        return event

    def add_history(self, events: list[Event]) -> None:
        """Events for seeded history: recorded, never delivered (they happened before)."""
        for event in events:
            self.event_index[event.id] = event
        self.events.update(events)

    # --- customers and payment methods ---------------------------------------------

    def customer_create(self, params: dict[str, Any]) -> Customer:
        customer = Customer(id=new_id("cus_", 14), created=self.clock.now(),
                            email=params.get("email"), name=params.get("name"),
                            phone=params.get("phone"), description=params.get("description"),
                            metadata=params.get("metadata", {}))
        if "payment_method" in params:
            self.payment_method_resolve(params["payment_method"]).customer = customer.id
        self.customers[customer.id] = customer
        self.emit("customer.created", render.customer(customer))
        return customer

    def customer_get(self, customer_id: str, *, param: str | None = None) -> Customer:
        try:
            return self.customers[customer_id]
        except KeyError:
            raise self.not_found("customer", customer_id, param) from None

    def payment_method_create(self, params: dict[str, Any]) -> PaymentMethod:
        if params.get("type") != "card":
            raise invalid_request("Missing required param: type.", param="type",
                                  code="parameter_missing")
        if "card" not in params:
            raise invalid_request("Missing required param: card.", param="card",
                                  code="parameter_missing")
        card = params["card"]
        number = card["number"].replace(" ", "")
        if not number.isdigit() or not 12 <= len(number) <= 19:
            raise _card_error("invalid_number", "Your card number is not a valid credit card "
                              "number.", param="card[number]")
        if not luhn_valid(number):
            raise _card_error("incorrect_number", "Your card number is incorrect.",
                              param="card[number]")
        month, year = card["exp_month"], card["exp_year"]
        if year < 100:
            year += 2000
        if not 1 <= month <= 12:
            raise _card_error("invalid_expiry_month", "Your card's expiration month is invalid.",
                              param="card[exp_month]")
        today = time.gmtime(self.clock.now())
        if year < today.tm_year or (year == today.tm_year and month < today.tm_mon) \
                or year > today.tm_year + 50:
            raise _card_error("invalid_expiry_year", "Your card's expiration year is invalid.",
                              param="card[exp_year]")
        test_card = card_for(number)
        cvc = card.get("cvc")
        if cvc is not None and (not cvc.isdigit()
                                or len(cvc) != (4 if test_card.brand == "amex" else 3)):
            raise _card_error("invalid_cvc", "Your card's security code is invalid.",
                              param="card[cvc]")
        return self.payment_method_store(test_card, month, year,
                                          params.get("billing_details", {}),
                                          params.get("metadata", {}))

    def payment_method_store(self, test_card: Any, month: int, year: int,
                              billing: dict[str, Any], metadata: dict[str, str]) -> PaymentMethod:
        method = PaymentMethod(id=new_id("pm_"), created=self.clock.now(), card=test_card,
                               exp_month=month, exp_year=year, billing_details=billing,
                               metadata=metadata)
        self.payment_methods[method.id] = method
        return method

    def payment_method_get(self, method_id: str, *, param: str | None = None) -> PaymentMethod:
        if method_id in TEST_PAYMENT_METHODS:
            return self.payment_method_resolve(method_id)
        try:
            return self.payment_methods[method_id]
        except KeyError:
            raise self.not_found("payment_method", method_id, param) from None

    def payment_method_resolve(self, method_id: str, *, param: str = "payment_method"
                               ) -> PaymentMethod:
        """A stored method, or a fresh copy of one of Stripe's ``pm_card_*`` test methods."""
        if method_id in TEST_PAYMENT_METHODS:
            year = time.gmtime(self.clock.now()).tm_year + 3
            return self.payment_method_store(card_for(TEST_PAYMENT_METHODS[method_id]), 12,
                                              year, {}, {})
        return self.payment_method_get(method_id, param=param)

    # --- payment intents -------------------------------------------------------------

    def payment_intent_get(self, intent_id: str) -> PaymentIntent:
        try:
            return self.payment_intents[intent_id]
        except KeyError:
            raise self.not_found("payment_intent", intent_id, None) from None

    def payment_intent_create(self, params: dict[str, Any]) -> PaymentIntent:
        amount, currency = _check_amount(params["amount"], params["currency"])
        types = params.get("payment_method_types", ["card"])
        _check_types(types)
        confirm = params.get("confirm", False)
        for flag in ("error_on_requires_action", "off_session", "return_url"):
            if flag in params and not confirm:
                raise invalid_request(f"You can only set `{flag}` when `confirm` is true.",
                                      param=flag)
        customer = params.get("customer")
        if customer is not None:
            self.customer_get(customer, param="customer")
        method = (self.payment_method_resolve(params["payment_method"])
                  if params.get("payment_method") else None)
        now = self.clock.now()
        intent_id = new_id("pi_")
        intent = PaymentIntent(
            id=intent_id, seq=next(self._seq), created=now, amount=amount, currency=currency,
            status="requires_confirmation" if method else "requires_payment_method",
            client_secret=f"{intent_id}_secret_{new_id('', 25)}",
            confirmation_method=params.get("confirmation_method", "automatic"),
            capture_method=params.get("capture_method", "automatic"),
            payment_method_types=list(types), payment_method=method.id if method else None,
            customer=customer, description=params.get("description"),
            metadata=params.get("metadata", {}), receipt_email=params.get("receipt_email"),
            statement_descriptor_suffix=params.get("statement_descriptor_suffix"),
            setup_future_usage=params.get("setup_future_usage"), status_since=now,
        )
        self.payment_intents[intent.id] = intent
        self.intents_by_created.add(intent)
        self.emit("payment_intent.created", render.payment_intent(intent))
        if confirm:
            self._attempt(intent, error_on_requires_action=params.get(
                "error_on_requires_action", False), off_session=params.get("off_session"))
        return intent

    def payment_intent_update(self, intent: PaymentIntent, params: dict[str, Any]
                              ) -> PaymentIntent:
        if intent.status in ("succeeded", "canceled", "processing"):
            raise unexpected_state(
                f"You cannot update this PaymentIntent because it has a status of "
                f"{intent.status}.", intent=intent)
        if "amount" in params or "currency" in params:
            intent.amount, intent.currency = _check_amount(
                params.get("amount", intent.amount), params.get("currency", intent.currency))
        if "payment_method_types" in params:
            _check_types(params["payment_method_types"])
            intent.payment_method_types = list(params["payment_method_types"])
        if "customer" in params:
            self.customer_get(params["customer"], param="customer")
            intent.customer = params["customer"]
        if params.get("payment_method"):
            intent.payment_method = self.payment_method_resolve(params["payment_method"]).id
            intent.authenticated = False
            self.set_status(intent, "requires_confirmation")
        for name in ("description", "receipt_email", "capture_method",
                     "statement_descriptor_suffix"):
            if name in params:
                setattr(intent, name, params[name])
        if "metadata" in params:
            intent.metadata = {**intent.metadata, **params["metadata"]} if params["metadata"] \
                else {}
        return intent

    def payment_intent_confirm(self, intent: PaymentIntent, params: dict[str, Any], *,
                               publishable: bool = False) -> PaymentIntent:
        if publishable:
            if params.get("client_secret") != intent.client_secret:
                raise invalid_request("The client_secret provided does not match the "
                                      "client_secret associated with the PaymentIntent.",
                                      param="client_secret")
            if intent.confirmation_method == "manual":
                raise SandboxError(
                    400, "invalid_request_error",
                    "This PaymentIntent's confirmation_method is manual, so it can only be "
                    "confirmed with your secret key.", code="secret_key_required",
                    payment_intent=intent)
        if intent.status == "succeeded":
            raise unexpected_state("You cannot confirm this PaymentIntent because it has "
                                   "already succeeded after being previously confirmed.",
                                   intent=intent)
        if intent.status not in CONFIRMABLE:
            raise unexpected_state(
                f"This PaymentIntent's status is {intent.status}, but it must be one of "
                "requires_payment_method, requires_confirmation, or requires_action to be "
                "confirmed.", intent=intent)
        if params.get("payment_method"):
            method = self.payment_method_resolve(params["payment_method"])
            if method.id != intent.payment_method:
                intent.payment_method = method.id
                intent.authenticated = False
        if intent.payment_method is None:
            raise unexpected_state(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "Update the PaymentIntent with a payment method and then confirm it again.",
                intent=intent)
        for name in ("receipt_email", "capture_method"):
            if name in params:
                setattr(intent, name, params[name])
        if intent.status == "requires_action":
            intent.authenticated = False  # confirming again starts a new attempt
        self._attempt(intent, error_on_requires_action=params.get("error_on_requires_action",
                                                                  False),
                      off_session=params.get("off_session"))
        return intent

    def payment_intent_cancel(self, intent: PaymentIntent, params: dict[str, Any]
                              ) -> PaymentIntent:
        if intent.status not in CANCELABLE:
            raise unexpected_state(
                f"You cannot cancel this PaymentIntent because it has a status of "
                f"{intent.status}. Only a PaymentIntent with one of the following statuses may "
                f"be canceled: {', '.join(CANCELABLE)}.", intent=intent)
        intent.cancellation_reason = params.get("cancellation_reason")
        intent.canceled_at = self.clock.now()
        self.set_status(intent, "canceled")
        self.emit("payment_intent.canceled", render.payment_intent(intent))
        return intent

    def payment_intent_authenticate(self, intent: PaymentIntent, *, complete: bool
                                    ) -> PaymentIntent:
        """The bank's 3-D Secure challenge, passed or failed (the shim's modal buttons)."""
        if intent.status != "requires_action":
            raise unexpected_state(
                f"This PaymentIntent has no pending authentication: its status is "
                f"{intent.status}.", intent=intent)
        if not complete:
            method = self.payment_methods[intent.payment_method]
            intent.authenticated = False
            intent.last_payment_error = {
                "type": "invalid_request_error", "code": "payment_intent_authentication_failure",
                "doc_url": "https://stripe.com/docs/error-codes/"
                           "payment-intent-authentication-failure",
                "message": AUTH_FAILED_MESSAGE, "payment_method": render.payment_method(method),
            }
            self.set_status(intent, "requires_payment_method")
            self.emit("payment_intent.payment_failed", render.payment_intent(intent))
            return intent
        intent.authenticated = True
        if intent.confirmation_method == "manual":
            self.set_status(intent, "requires_confirmation")
            return intent
        try:  # automatic confirmation: Stripe goes on to charge right away
            self._attempt(intent, error_on_requires_action=False, off_session=None)
        except SandboxError:
            pass  # the decline is recorded on the intent, which the shim reads back
        return intent

    def _attempt(self, intent: PaymentIntent, *, error_on_requires_action: bool,
                 off_session: Any) -> None:
        """One payment attempt with the intent's method; raises a 402 on decline."""
        if intent.payment_method is None:
            raise unexpected_state("You cannot confirm this PaymentIntent because it's missing a "
                                   "payment method.", intent=intent)
        method = self.payment_methods[intent.payment_method]
        card = method.card
        intent.last_payment_error = None
        if card.behaviour == DECLINE:
            self._decline(intent, method, card.error_code, card.decline_code)
        if card.behaviour in (REQUIRE_3DS, REQUIRE_3DS_THEN_DECLINE) and not intent.authenticated:
            if off_session:
                self._decline(intent, method, "authentication_required",
                              "authentication_required",
                              message="Your card was declined. This transaction requires "
                                      "authentication.")
            if error_on_requires_action:
                self._fail(intent, method, SandboxError(
                    402, "card_error", AUTH_NOT_HANDLED_MESSAGE, code="authentication_required",
                    decline_code="authentication_not_handled"))
            self.set_status(intent, "requires_action")
            self.emit("payment_intent.requires_action", render.payment_intent(intent))
            return
        if card.behaviour == REQUIRE_3DS_THEN_DECLINE:
            self._decline(intent, method, card.error_code, card.decline_code)
        charge = self._charge(intent, method, succeeded=True)
        if intent.capture_method == "manual":
            self.set_status(intent, "requires_capture")
            self.emit("charge.succeeded", render.charge(charge, self))
            self.emit("payment_intent.amount_capturable_updated", render.payment_intent(intent))
            return
        intent.amount_received = intent.amount
        self.set_status(intent, "succeeded")
        self.emit("charge.succeeded", render.charge(charge, self))
        self.emit("payment_intent.succeeded", render.payment_intent(intent))

    def _decline(self, intent: PaymentIntent, method: PaymentMethod, code: str,
                 decline_code: str | None, *, message: str | None = None) -> None:
        message = message or DECLINE_MESSAGES.get(decline_code or "", "Your card was declined.")
        charge = self._charge(intent, method, succeeded=False, failure_code=code,
                              failure_message=message, decline_code=decline_code)
        self.emit("charge.failed", render.charge(charge, self))
        self._fail(intent, method, SandboxError(402, "card_error", message, code=code,
                                                decline_code=decline_code, charge=charge.id))

    def _fail(self, intent: PaymentIntent, method: PaymentMethod, error: SandboxError) -> None:
        """Record a failed attempt on the intent and raise Stripe's 402 for it."""
        error.payment_method = method
        error.payment_intent = intent
        body = error.body(render=lambda obj: render.any_object(obj, self))["error"]
        body.pop("payment_intent")
        intent.last_payment_error = body
        intent.authenticated = False
        self.set_status(intent, "requires_payment_method")
        self.emit("payment_intent.payment_failed", render.payment_intent(intent))
        raise error

    def _charge(self, intent: PaymentIntent, method: PaymentMethod, *, succeeded: bool,
                failure_code: str | None = None, failure_message: str | None = None,
                decline_code: str | None = None) -> Charge:
        charge = Charge(
            id=new_id("ch_"), created=self.clock.now(), amount=intent.amount,
            currency=intent.currency, payment_intent=intent.id, payment_method=method.id,
            succeeded=succeeded, captured=succeeded and intent.capture_method != "manual",
            three_d_secure=intent.authenticated, customer=intent.customer,
            description=intent.description, receipt_email=intent.receipt_email,
            metadata=dict(intent.metadata), failure_code=failure_code,
            failure_message=failure_message, decline_code=decline_code)
        self.charges[charge.id] = charge
        self.charges_by_intent.setdefault(intent.id, []).append(charge.id)
        intent.latest_charge = charge.id
        return charge

    # --- lookups used by the app --------------------------------------------------------

    def object_get(self, object_id: str) -> Any:
        """Any object by id, for ``expand[]``."""
        if object_id.startswith("txn_"):
            return self.balance_transaction_get(object_id)
        for table in (self.payment_intents, self.payment_methods, self.charges, self.customers):
            if object_id in table:
                return table[object_id]
        return None

    def balance_transaction_get(self, txn_id: str) -> BalanceTransaction | None:
        """A captured charge's balance transaction: derived from the charge (``txn_`` + the
        charge id's suffix), so 100,000 seeded charges cost no extra memory."""
        charge = self.charges.get("ch_" + txn_id[4:]) if txn_id.startswith("txn_") else None
        if charge is None or not charge.captured:
            return None
        return BalanceTransaction(charge)

    @staticmethod
    def not_found(kind: str, object_id: str, param: str | None) -> SandboxError:
        if param is None:  # the id is in the path
            return resource_missing(kind, object_id)
        return resource_missing(kind, object_id, param=param, status=400)


def _card_error(code: str, message: str, *, param: str) -> SandboxError:
    return SandboxError(402, "card_error", message, code=code, param=param)


def _check_amount(amount: int, currency: str) -> tuple[int, str]:
    currency = currency.lower()
    if currency not in CURRENCIES:
        raise invalid_request(
            f"Invalid currency: {currency}. Stripe currently supports these currencies: "
            f"{', '.join(sorted(CURRENCIES))}", param="currency")
    if amount < 1:
        raise invalid_request("This value must be greater than or equal to 1.", param="amount",
                              code="parameter_invalid_integer")
    minimum = MINIMUM_AMOUNTS.get(currency, DEFAULT_MINIMUM_AMOUNT)
    if amount < minimum:
        raise invalid_request(f"Amount must be at least {minimum} {currency} (minor units)",
                              param="amount", code="amount_too_small")
    step = AMOUNT_STEPS.get(currency, 1)
    if amount % step and currency == "isk":
        raise invalid_request(
            "Invalid amount. Currency ISK has become effectively zero-decimal and charged "
            "amounts must be evenly divisible by 100. See "
            "https://stripe.com/docs/currencies#special-cases for more information.",
            param="amount", code="invalid_charge_amount_no_decimal_compatible")
    if amount % step:
        raise invalid_request(f"Amounts in {currency} must be divisible by {step} (minor "
                              "units): the last digit must be 0.", param="amount")
    if amount > MAXIMUM_AMOUNT:
        raise invalid_request(f"Amount must be no more than {MAXIMUM_AMOUNT} {currency} "
                              "(minor units)", param="amount", code="amount_too_large")
    return amount, currency


def _check_types(types: list[str]) -> None:
    for index, kind in enumerate(types):
        if kind != "card":
            raise invalid_request(
                f"The payment method type \"{kind}\" is invalid. The sandbox supports: card.",
                param=f"payment_method_types[{index}]", code="payment_intent_invalid_parameter")
