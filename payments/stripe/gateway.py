"""The only module that imports ``stripe``.

It builds one ``stripe.StripeClient`` from settings (key, base address for the
sandbox, timeout, network retries), maps Stripe's errors onto the few
exceptions below, and returns plain ``IntentData`` the services understand.
Nothing else in the project knows Stripe's classes.

Every call goes through ``_request``: stripe-python's ``raw_request``, which signs,
encodes, retries and raises Stripe's errors as its resource methods do, and hands back
the answer as plain JSON. Its objects (``StripeObject``) cost more CPU than the rest of a
call (0.6 ms of a create's 1.6 ms, `bench/stripe_call.py`) and nothing here needs them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import quote

import stripe
from django.conf import settings
from django.utils.translation import gettext as _

from payments.stripe import budget, transport
from payments.telemetry import counters

log = logging.getLogger(__name__)


class PaymentError(Exception):
    """A Stripe call failed; ``message`` is fit to show a shopper."""

    def __init__(self, message: str, *, code: str | None = None,
                 intent: IntentData | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.intent = intent


class CardDeclined(PaymentError):
    def __init__(self, message: str, *, code: str | None = None, decline_code: str | None = None,
                 intent: IntentData | None = None) -> None:
        super().__init__(message, code=code, intent=intent)
        self.decline_code = decline_code


class AuthenticationRequired(CardDeclined):
    """The bank asked for 3-D Secure and the request did not allow handling it."""


class InvalidRequest(PaymentError):
    def __init__(self, message: str, *, code: str | None = None, param: str | None = None,
                 intent: IntentData | None = None) -> None:
        super().__init__(message, code=code, intent=intent)
        self.param = param


class IntentMissing(InvalidRequest):
    """Stripe does not know the intent a call named by id (keys, account or sandbox
    changed): ``resource_missing`` about the intent, not about the card sent with it."""


class IntentStateConflict(InvalidRequest):
    """Stripe refused the call in the intent's state (``payment_intent_unexpected_state``):
    confirming one that succeeded, was canceled or expired; canceling a canceled one."""


class CursorMissing(InvalidRequest):
    """A list's cursor (``starting_after``/``ending_before``) names an object Stripe no
    longer keeps (events are kept 30 days) or never had (keys or account changed)."""


class RateLimited(PaymentError):
    pass


class BudgetRefused(RateLimited):
    """Our own budget of the account's calls (payments.stripe.budget) refused the call;
    nothing reached Stripe."""


class StripeUnavailable(PaymentError):
    """Stripe could not be reached or failed; the outcome of a write is unknown.

    ``key_spent``: Stripe answered a server error (5xx) that it keeps under the call's
    idempotency key. Stripe saves a key's first answer once its endpoint has begun, 500s
    included, and replays it to every retry with that key for 24 hours (docs:
    api/idempotent_requests); such an answer comes with ``Stripe-Should-Retry: false``
    (stripe-python's ``_should_retry``: "our idempotency framework would typically replay
    it anyway"), or is itself a replay (``Idempotent-Replayed: true``). The same key can
    then only repeat the failure: the next try needs a new one. Not after a connection
    failure, nor a 5xx without those headers (a proxy's 502, say), where replaying the
    key is how the outcome is learnt."""

    def __init__(self, message: str, *, key_spent: bool = False) -> None:
        super().__init__(message)
        self.key_spent = key_spent


def failure_for_ops(*, error: PaymentError) -> str:
    """A failed call in ops' words: a class's ``message`` is the shopper's ("Nothing was
    charged twice; please try again"), which a scan run or a reconciliation must not
    record."""
    if isinstance(error, BudgetRefused):
        return "our budget of the account's calls was spent (shoppers go first)"
    if isinstance(error, RateLimited):
        return "Stripe answered 429, too many requests"
    if isinstance(error, StripeUnavailable):
        return ("Stripe answered a server error it keeps under the call's key" if error.key_spent
                else "no answer from Stripe, or a server error")
    return error.message


@dataclass(frozen=True)
class IntentData:
    id: str
    status: str
    amount: int
    currency: str
    client_secret: str | None
    confirmation_method: str
    next_action_type: str | None
    last_error_code: str | None
    last_decline_code: str | None
    last_error_message: str | None
    card_brand: str | None
    card_last4: str | None
    card_country: str | None
    latest_charge: str | None
    created: int
    metadata: dict[str, str] = field(default_factory=dict)
    receipt_email: str | None = None
    # The answer of a write Stripe replayed for its idempotency key (an earlier request
    # with that key did the work): Stripe's Idempotent-Replayed header.
    replayed: bool = False


REPLAYED = "_idempotent_replayed"  # ours, beside Stripe's fields in a write's answer


@dataclass(frozen=True)
class ChargeData:
    """A charge as the reconciliation compares it: what money it took, for which intent."""

    id: str
    payment_intent: str | None
    status: str  # succeeded, pending or failed
    captured: bool
    amount: int
    amount_refunded: int
    currency: str
    created: int
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def money_taken(self) -> int:
        """What the charge holds of the shopper's money now: captured and not refunded."""
        if self.status != "succeeded" or not self.captured:
            return 0
        return max(self.amount - self.amount_refunded, 0)


@dataclass(frozen=True)
class EventData:
    """A Stripe event about a PaymentIntent, with the intent as the event carried it."""

    id: str
    type: str
    created: int
    intent: IntentData


@dataclass(frozen=True)
class Page:
    """One page of a Stripe list or search; ``cursor`` continues it (None: the end)."""

    items: list[Any]
    cursor: str | None


PAGE_SIZE = 100  # Stripe's maximum

# The operations we call, as Stripe's rate limits name them (one limit per operation).
CREATE = "POST /v1/payment_intents"
CONFIRM = "POST /v1/payment_intents/{id}/confirm"
RETRIEVE = "GET /v1/payment_intents/{id}"
CANCEL = "POST /v1/payment_intents/{id}/cancel"
LIST = "GET /v1/payment_intents"
SEARCH = "GET /v1/payment_intents/search"
EVENTS = "GET /v1/events"
CHARGES = "GET /v1/charges"
CHARGE = "GET /v1/charges/{id}"
# The calls naming an intent by id: a resource Stripe misses there is that intent, unless
# it names the payment method sent along (the one other object these calls send).
NAMING_AN_INTENT = frozenset({CONFIRM, RETRIEVE, CANCEL})


@cache
def client_get() -> stripe.StripeClient:
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": base} if base else {},
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        http_client=transport.Urllib3Client(timeout=settings.STRIPE_TIMEOUT_SECONDS,
                                            api_base=base or stripe.DEFAULT_API_BASE),
    )


def payment_intent_create(*, amount: int, currency: str, payment_method: str,
                          idempotency_key: str, metadata: dict[str, str],
                          handle_actions: bool) -> IntentData:
    """Create and confirm at once: manual confirmation, or the legacy
    ``error_on_requires_action`` flow when ``handle_actions`` is off."""
    params: dict[str, Any] = {
        "amount": amount, "currency": currency, "payment_method_types": ["card"],
        "payment_method": payment_method, "confirm": True, "metadata": metadata,
        "expand": ["payment_method"],
    }
    if handle_actions:
        params["confirmation_method"] = "manual"
    else:
        params["error_on_requires_action"] = True
    return _call(CREATE, lambda: _request("post", "/v1/payment_intents", params,
                                          idempotency_key=idempotency_key))


def payment_intent_confirm(*, intent_id: str, idempotency_key: str,
                           payment_method: str | None = None) -> IntentData:
    params: dict[str, Any] = {"expand": ["payment_method"]}
    if payment_method:
        params["payment_method"] = payment_method
    return _call(CONFIRM, lambda: _request("post", f"{_intent_path(intent_id)}/confirm",
                                           params, idempotency_key=idempotency_key))


def payment_intent_retrieve(*, intent_id: str) -> IntentData:
    return _call(RETRIEVE, lambda: _request("get", _intent_path(intent_id),
                                            {"expand": ["payment_method"]}))


def payment_intent_cancel(*, intent_id: str, idempotency_key: str,
                          reason: str = "abandoned") -> IntentData:
    """``reason``: one of Stripe's ``cancellation_reason`` values
    (``facts.CANCELLATION_REASONS``)."""
    return _call(CANCEL, lambda: _request(
        "post", f"{_intent_path(intent_id)}/cancel",
        {"cancellation_reason": reason, "expand": ["payment_method"]},
        idempotency_key=idempotency_key))


def payment_intent_find(*, metadata: dict[str, str]) -> IntentData | None:
    """The newest intent whose metadata holds all of ``metadata`` (Stripe's search, which is
    eventually consistent: an intent created within the last minute may be missing)."""
    query = " AND ".join(f'metadata["{key}"]:"{value}"' for key, value in metadata.items())
    return _call(SEARCH, lambda: _first(_request("get", "/v1/payment_intents/search", {
        "query": query, "limit": 1, "expand": ["data.payment_method"]})))


def payment_intent_find_listed(*, metadata: dict[str, str], created_gte: int,
                               created_lt: int) -> IntentData | None:
    """The intent whose metadata holds all of ``metadata`` among those created in
    ``[created_gte, created_lt)``, read from Stripe's list, which is current: its search
    can lag "up to an hour behind during outages" (API reference, search), when what we
    look for was made a moment ago. A page per 100 intents of the window."""
    cursor: str | None = None
    while True:
        page = payment_intent_page(created_gte=created_gte, created_lt=created_lt,
                                   starting_after=cursor, limit=100)
        for intent in page.items:
            if all(intent.metadata.get(key) == value for key, value in metadata.items()):
                return intent
        if page.cursor is None:
            return None
        cursor = page.cursor


def payment_intent_page(*, created_gte: int | None = None, created_lt: int | None = None,
                        starting_after: str | None = None, limit: int | None = None) -> Page:
    """Intents newest first (Stripe's list order); ``cursor`` is the last id, to pass as
    ``starting_after`` for the next, older page. Not expanded: building each nested
    payment method halves stripe-python's listing rate, and a failed intent carries its
    card in ``last_payment_error.payment_method`` anyway."""
    params = _list_params(created_gte=created_gte, created_lt=created_lt,
                          starting_after=starting_after, limit=limit)
    page = _call_raw(LIST, lambda: _request("get", "/v1/payment_intents", params))
    items = [_intent_data(intent) for intent in page["data"]]
    return Page(items=items, cursor=items[-1].id if page["has_more"] and items else None)


def charge_page(*, created_gte: int | None = None, created_lt: int | None = None,
                starting_after: str | None = None, limit: int | None = None) -> Page:
    """Charges newest first (Stripe's list order, filters as for intents); ``cursor``
    continues with the next, older page."""
    params = _list_params(created_gte=created_gte, created_lt=created_lt,
                          starting_after=starting_after, limit=limit)
    page = _call_raw(CHARGES, lambda: _request("get", "/v1/charges", params))
    items = [_charge_data(charge) for charge in page["data"]]
    return Page(items=items, cursor=items[-1].id if page["has_more"] and items else None)


def charge_retrieve(*, charge_id: str) -> ChargeData:
    return _charge_data(_call_raw(CHARGE, lambda: _request(
        "get", f"/v1/charges/{quote(charge_id, safe='')}", {})))


def _list_params(*, created_gte: int | None, created_lt: int | None,
                 starting_after: str | None, limit: int | None) -> dict[str, Any]:
    """A list call's parameters: the page size, the ``created`` window, the cursor."""
    params: dict[str, Any] = {"limit": limit or PAGE_SIZE}
    created = {key: value for key, value in (("gte", created_gte), ("lt", created_lt))
               if value is not None}
    if created:
        params["created"] = created
    if starting_after:
        params["starting_after"] = starting_after
    return params


def _charge_data(charge: Any) -> ChargeData:
    intent = charge.get("payment_intent")
    if intent is not None and not isinstance(intent, str):
        intent = intent.get("id")
    return ChargeData(
        id=charge["id"], payment_intent=intent, status=charge["status"],
        captured=bool(charge.get("captured")), amount=charge["amount"],
        amount_refunded=charge.get("amount_refunded") or 0, currency=charge["currency"],
        created=charge["created"],
        metadata={str(key): str(value) for key, value in (charge.get("metadata") or {}).items()})


def payment_intent_search_page(*, query: str, page: str | None = None,
                               limit: int | None = None) -> Page:
    """One page of Stripe's search (eventually consistent, usually under a minute)."""
    params: dict[str, Any] = {"query": query, "limit": limit or PAGE_SIZE,
                              "expand": ["data.payment_method"]}
    if page:
        params["page"] = page
    result = _call_raw(SEARCH, lambda: _request("get", "/v1/payment_intents/search", params))
    return Page(items=[_intent_data(intent) for intent in result["data"]],
                cursor=result.get("next_page") if result.get("has_more") else None)


def event_page_after(*, event_id: str, types: Sequence[str], limit: int | None = None
                     ) -> Page:
    """Events of ``types`` newer than ``event_id``, OLDEST first (Stripe's catch-up recipe:
    the page ``ending_before`` the last event seen). ``cursor`` is the newest id in the
    page while more follow."""
    page = _call_raw(EVENTS, lambda: _request("get", "/v1/events", {
        "ending_before": event_id, "types": list(types), "limit": limit or PAGE_SIZE}))
    events = [_event_data(event) for event in reversed(page["data"])]
    return Page(items=events, cursor=events[-1].id if page["has_more"] and events else None)


def event_page_newest_first(*, types: Sequence[str], starting_after: str | None = None,
                            limit: int | None = None) -> Page:
    """Events of ``types`` newest first (Stripe's list order), from the newest or after a
    cursor."""
    params: dict[str, Any] = {"types": list(types), "limit": limit or PAGE_SIZE}
    if starting_after:
        params["starting_after"] = starting_after
    page = _call_raw(EVENTS, lambda: _request("get", "/v1/events", params))
    events = [_event_data(event) for event in page["data"]]
    return Page(items=events, cursor=events[-1].id if page["has_more"] and events else None)


def event_newest(*, types: Sequence[str]) -> EventData | None:
    """The newest event of ``types`` (Stripe's ``types[]``: at most 20 names)."""
    page = _call_raw(EVENTS, lambda: _request("get", "/v1/events",
                                              {"types": list(types), "limit": 1}))
    return _event_data(page["data"][0]) if page["data"] else None


def event_data_from_payload(payload: dict[str, Any]) -> EventData | None:
    """An event as dj-stripe stored it (a webhook), or None when it is not about an intent."""
    intent = (payload.get("data") or {}).get("object") or {}
    if intent.get("object") != "payment_intent":
        return None
    return EventData(id=payload["id"], type=payload["type"], created=payload["created"],
                     intent=_intent_data(intent))


def _event_data(event: Any) -> EventData:
    return EventData(id=event["id"], type=event["type"], created=event["created"],
                     intent=_intent_data(event["data"]["object"]))


def _first(page: dict[str, Any]) -> Any:
    return page["data"][0] if page["data"] else None


class WriteRetryRefused(stripe.StripeError):
    """A write was tried more than once (stripe-python retries a lost answer with the same
    idempotency key) and the last try was refused with 429. A rate-limited request never
    reaches its endpoint, where Stripe saves or replays a key's result, so the 429 says
    nothing of the earlier try, which may have been carried out: the outcome is unknown,
    not refused (``StripeUnavailable``)."""


def _request(method: str, path: str, params: dict[str, Any], *,
             idempotency_key: str | None = None) -> dict[str, Any]:
    """One call to Stripe's API, answered as plain JSON (Stripe's errors raised as usual)."""
    options = {"idempotency_key": idempotency_key} if idempotency_key else {}
    sent = transport.requests_sent()
    try:
        response = client_get().raw_request(method, path, **params, **options)
    except stripe.RateLimitError as error:
        if method == "post" and transport.requests_sent() - sent > 1:
            raise WriteRetryRefused(str(error), http_status=error.http_status,
                                    headers=error.headers, code=error.code) from error
        raise
    if idempotency_key and response.headers.get("Idempotent-Replayed") == "true":
        return {**response.data, REPLAYED: True}
    return response.data


def _intent_path(intent_id: str) -> str:
    return f"/v1/payment_intents/{quote(intent_id, safe='')}"


def _call(endpoint: str, request: Any) -> Any:
    """A call answering with an intent (or None), as IntentData."""
    result = _call_raw(endpoint, request)
    return None if result is None else _intent_data(result)


def _call_raw(endpoint: str, request: Any) -> Any:
    """Make a call within the account's budget, count it, map Stripe's errors onto ours;
    the caller shapes the result. ``endpoint``: the operation, as Stripe's rate limits
    name it."""
    source = budget.current_source()
    try:
        waited = budget.budget_spend(endpoint=endpoint)
    except budget.BudgetExhausted as error:
        counters.count(name="stripe_budget_refused", source=source, endpoint=endpoint)
        raise BudgetRefused(_("Too many payment attempts right now. Please wait a moment "
                              "and try again."), code="budget") from error
    if waited:
        counters.observe(name="stripe_budget_wait_seconds", seconds=waited, source=source)
    status = "200"
    try:
        return request()
    except stripe.StripeError as error:
        status = str(error.http_status or "connection")
        ours = _ours(error, endpoint=endpoint)
        if isinstance(ours, StripeUnavailable):
            # The shopper's sentence says nothing to ops: the call, the status, the cause
            # and Stripe's request id (to quote to Stripe's support).
            log.warning("Stripe unavailable: %s answered %s (%s: %s; request %s)", endpoint,
                        status, type(error).__name__, error.user_message or str(error)[:200],
                        error.request_id or "none")
        raise ours from error
    finally:
        counters.count(name="stripe_calls", source=source, endpoint=endpoint, status=status)


def _ours(error: stripe.StripeError, *, endpoint: str) -> PaymentError:
    """Stripe's error as ours: the one place Stripe's codes are read, so callers catch a
    class (``IntentMissing``) instead of comparing codes."""
    if isinstance(error, stripe.CardError):
        kind = AuthenticationRequired if error.code == "authentication_required" else CardDeclined
        return kind(error.user_message or "Your card was declined.", code=error.code,
                    decline_code=getattr(error.error, "decline_code", None),
                    intent=_embedded_intent(error))
    if isinstance(error, stripe.RateLimitError):
        return RateLimited(_("Too many payment attempts right now. Please wait a moment and "
                             "try again."), code="rate_limit")
    if isinstance(error, stripe.IdempotencyError):
        return InvalidRequest(_("This payment request conflicts with an earlier one."),
                              code="idempotency_error")
    if isinstance(error, stripe.InvalidRequestError):
        kind = InvalidRequest
        if error.code == "payment_intent_unexpected_state":
            kind = IntentStateConflict
        elif (error.code == "resource_missing" and endpoint in NAMING_AN_INTENT
              and error.param != "payment_method"):
            # Stripe names the missing intent "intent" (the sandbox: "id"): any param but
            # the card's is the intent.
            kind = IntentMissing
        elif (error.code == "resource_missing"
              and error.param in ("starting_after", "ending_before")):
            kind = CursorMissing
        return kind(error.user_message or "The payment request was not valid.",
                    code=error.code, param=error.param, intent=_embedded_intent(error))
    return StripeUnavailable(_("We could not reach our payment provider. Nothing was "
                               "charged twice; please try again in a moment."),
                             key_spent=_key_spent(error))


def _key_spent(error: stripe.StripeError) -> bool:
    headers = {name.lower(): value for name, value in (error.headers or {}).items()}
    return (error.http_status or 0) >= 500 and (
        headers.get("stripe-should-retry") == "false"
        or headers.get("idempotent-replayed") == "true")


def _embedded_intent(error: stripe.StripeError) -> IntentData | None:
    intent = getattr(error.error, "payment_intent", None) if error.error else None
    if not intent:
        return None
    # A decline embeds the intent with its payment_method as an id, and the method itself
    # beside it: take the card's brand, last4 and country from there.
    return _intent_data(intent, method=getattr(error.error, "payment_method", None))


def _intent_data(intent: Any, method: Any = None) -> IntentData:
    expanded = intent.get("payment_method")
    if expanded is not None and not isinstance(expanded, str):
        method = expanded
    failed_with = (intent.get("last_payment_error") or {}).get("payment_method")
    if method is None and failed_with is not None and not isinstance(failed_with, str):
        method = failed_with  # Stripe embeds the failed card in the error
    # payment_method is expanded to an object, or still an id (or absent).
    card = None if method is None or isinstance(method, str) else method.get("card")
    last_error = intent.get("last_payment_error") or {}
    next_action = intent.get("next_action") or {}
    return IntentData(
        id=intent["id"], status=intent["status"], amount=intent["amount"],
        currency=intent["currency"], client_secret=intent.get("client_secret"),
        confirmation_method=intent["confirmation_method"],
        next_action_type=next_action.get("type"), last_error_code=last_error.get("code"),
        last_decline_code=last_error.get("decline_code"),
        last_error_message=last_error.get("message"),
        card_brand=card.get("brand") if card else None,
        card_last4=card.get("last4") if card else None,
        card_country=card.get("country") if card else None,
        latest_charge=intent.get("latest_charge") if isinstance(
            intent.get("latest_charge"), str) else None,
        created=intent["created"],
        metadata={str(key): str(value) for key, value in (intent.get("metadata") or {}).items()},
        receipt_email=intent.get("receipt_email"),
        replayed=bool(intent.get(REPLAYED)),
    )


def client_reset_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    """Rebuild the client when a Stripe setting changes (override_settings in tests)."""
    if setting.startswith("STRIPE_"):
        client_get.cache_clear()
