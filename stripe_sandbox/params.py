"""Form decoding and parameter validation, declared per endpoint.

Stripe's API takes ``application/x-www-form-urlencoded`` bodies (and query
strings) with bracket notation: ``card[number]=4242…``, ``expand[0]=customer``
or ``expand[]=customer``, ``metadata[order]=7``. ``decode_form`` turns those
into nested dicts and lists; ``validate`` checks them against the schemas in
``SCHEMAS`` and coerces types, raising Stripe's ``invalid_request_error`` for
anything unknown or malformed. The fidelity tests compare every schema here
with stripe-python's ``stripe.params`` TypedDicts, so only names Stripe knows
may appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .errors import invalid_request, parameter_missing, parameter_unknown

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_INDEX = re.compile(r"[0-9]{1,9}", re.ASCII)
_INTEGER = re.compile(r"-?[0-9]{1,18}", re.ASCII)
# local@domain.tld: no spaces (Stripe does not trim them), one "@", a domain of
# dot-separated labels that neither start nor end with "-" or ".". Stripe's own
# rule is not published; this is the WHATWG form rule with a dot required.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+", re.ASCII)
# Stripe's deepest parameters nest four or five brackets; far deeper keys are an
# attack on the decoder (and recursion), not a request.
MAX_DEPTH = 16

# ISO 4217 codes Stripe accepts for card payments (a practical subset).
CURRENCIES = frozenset(
    "usd eur gbp aud cad chf cny czk dkk hkd huf inr jpy mxn nok nzd pln ron sek sgd "
    "thb brl bgn ils krw myr php twd zar aed isk bhd jod kwd omr tnd".split()
)
# Amounts of these must end in 0 (three decimals, charged to the hundredth), ISK's be whole
# krónur (docs: currencies#three-decimal, #special-cases).
AMOUNT_STEPS = {"bhd": 10, "jod": 10, "kwd": 10, "omr": 10, "tnd": 10, "isk": 100}
# Stripe's minimum charge amounts in minor units, its whole table
# (docs: currencies#minimum-and-maximum-charge-amounts): JPY 50 is ¥50, CZK 1500 is
# 15.00 Kč, HUF 17500 is 175.00 Ft. Any other currency's minimum is 0.50 USD at the day's
# rate; the sandbox, which has no rates, takes 50 minor units for those. The sandbox's own
# copy (it imports nothing of the site); tests/payments/stripe/test_facts.py checks it
# against payments/stripe/facts.py.
MINIMUM_AMOUNTS = {"usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50,
                   "chf": 50, "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400,
                   "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300,
                   "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000}
DEFAULT_MINIMUM_AMOUNT = 50
MAXIMUM_AMOUNT = 99_999_999


def decode_form(raw: str) -> dict[str, Any]:
    """Bracket-notation form/query string to nested dicts and lists (values stay strings)."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        head, _, rest = key.partition("[")
        if rest.count("[") >= MAX_DEPTH:
            raise invalid_request(f"Parameter names nest at most {MAX_DEPTH} brackets deep.",
                                  param=head[:100] or None)
        path = [head] + (_SEGMENT.findall("[" + rest) if rest else [])
        node = root
        for depth, segment in enumerate(path):
            if segment == "":  # "expand[]=a&expand[]=b" appends
                segment = str(len(node))
            if depth == len(path) - 1:
                node[segment] = value
                break
            child = node.get(segment)
            if not isinstance(child, dict):
                child = node[segment] = {}
            node = child
    return _listify(root)


def _listify(node: Any) -> Any:
    """Dicts keyed only by indexes ("0", "1", …) become lists."""
    if not isinstance(node, dict):
        return node
    items = {key: _listify(value) for key, value in node.items()}
    # ASCII indexes only: "²".isdigit() is true but int("²") fails.
    if items and all(_INDEX.fullmatch(key) for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


# --- schema types -----------------------------------------------------------------


@dataclass(frozen=True)
class Str:
    max_length: int = 5000


@dataclass(frozen=True)
class Email(Str):
    """An email address, refused as Stripe refuses one (400 ``email_invalid``). With
    ``blank`` an empty string is accepted and means none (stripe-python types such
    parameters ``Literal['']|str``: the way to unset them)."""

    blank: bool = False


@dataclass(frozen=True)
class Int:
    minimum: int | None = None


@dataclass(frozen=True)
class Bool:
    pass


@dataclass(frozen=True)
class Enum:
    values: tuple[str, ...]


@dataclass(frozen=True)
class BoolOrEnum:
    """``off_session``: a boolean or one of a few strings."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class ListOf:
    item: Any


@dataclass(frozen=True)
class Obj:
    fields: dict[str, Any]
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metadata:
    """Up to 50 string keys (≤40 chars) with string values (≤500 chars)."""


@dataclass(frozen=True)
class RangeOrInt:
    """``created``: an integer or ``{gt, gte, lt, lte}``."""


@dataclass(frozen=True)
class Endpoint:
    fields: dict[str, Any]
    required: tuple[str, ...] = ()
    # Accepted only from a publishable key (Stripe.js); not in stripe-python's params.
    publishable_fields: dict[str, Any] = field(default_factory=dict)


def validate(endpoint: Endpoint, params: dict[str, Any], *, publishable: bool = False
             ) -> dict[str, Any]:
    allowed = dict(endpoint.fields)
    if publishable:
        allowed.update(endpoint.publishable_fields)
    return _validate_obj(Obj(allowed, endpoint.required), params, prefix="")


def _validate_obj(schema: Obj, value: Any, *, prefix: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid object: {prefix or 'body'}", param=prefix or None)
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in schema.fields:
            raise parameter_unknown(name)
        out[key] = _coerce(schema.fields[key], item, name)
    for key in schema.required:
        if key not in out:
            raise parameter_missing(f"{prefix}[{key}]" if prefix else key)
    return out


def _coerce(kind: Any, value: Any, name: str) -> Any:  # noqa: C901 - one branch per type
    if isinstance(kind, Obj):
        return _validate_obj(kind, value, prefix=name)
    if isinstance(kind, ListOf):
        if not isinstance(value, list):
            raise invalid_request(f"Invalid array: {name}", param=name)
        return [_coerce(kind.item, v, f"{name}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (dict, list)) and not isinstance(kind, (Metadata, RangeOrInt)):
        raise invalid_request(f"Invalid {_type_name(kind)}: {name} must be a scalar",
                                  param=name)
    if isinstance(kind, Email):
        if value == "" and kind.blank:
            return None
        if len(value) > kind.max_length or not _EMAIL.fullmatch(value):
            raise invalid_request(f"Invalid email address: {value[:kind.max_length]}",
                                  param=name, code="email_invalid")
        return value
    if isinstance(kind, Str):
        if len(value) > kind.max_length:
            raise invalid_request(f"Invalid string: {name} must be at most {kind.max_length} "
                                  "characters", param=name)
        return value
    if isinstance(kind, Int):
        number = _parse_int(value, name)
        if kind.minimum is not None and number < kind.minimum:
            raise invalid_request(
                f"This value must be greater than or equal to {kind.minimum}.",
                param=name, code="parameter_invalid_integer")
        return number
    if isinstance(kind, Bool):
        return _parse_bool(value, name)
    if isinstance(kind, Enum):
        if value not in kind.values:
            raise invalid_request(
                f"Invalid {name}: must be one of {', '.join(kind.values)}", param=name)
        return value
    if isinstance(kind, BoolOrEnum):
        if value in kind.values:
            return value
        return _parse_bool(value, name)
    if isinstance(kind, Metadata):
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid_request(f"Invalid object: {name}", param=name)
        if len(value) > 50:
            raise invalid_request("Metadata can have at most 50 keys.", param=name)
        for key, item in value.items():
            if not isinstance(item, str) or len(key) > 40 or len(item) > 500:
                raise invalid_request(
                    f"Invalid metadata: keys are strings of at most 40 characters and values "
                    f"strings of at most 500 ({name}[{key}])", param=f"{name}[{key}]")
        return dict(value)
    if isinstance(kind, RangeOrInt):
        if isinstance(value, dict):
            return {op: _coerce(Int(), v, f"{name}[{op}]") if op in ("gt", "gte", "lt", "lte")
                    else _raise_unknown(f"{name}[{op}]") for op, v in value.items()}
        return {"eq": _parse_int(value, name)}
    raise TypeError(f"unknown schema kind {kind!r}")


def _raise_unknown(name: str) -> Any:
    raise parameter_unknown(name)


def _type_name(kind: Any) -> str:
    return {Str: "string", Int: "integer", Bool: "boolean"}.get(type(kind), "value")


def _parse_int(value: str, name: str) -> int:
    if not _INTEGER.fullmatch(value or ""):
        raise invalid_request(f"Invalid integer: {value}", param=name,
                              code="parameter_invalid_integer")
    return int(value)


def _parse_bool(value: str, name: str) -> bool:
    if value in ("true", "True"):
        return True
    if value in ("false", "False"):
        return False
    raise invalid_request(f"Invalid boolean: {value}", param=name)


# --- endpoint schemas ----------------------------------------------------------------

EXPAND = ListOf(Str())
# The event types an endpoint may ask for: those the sandbox emits, "*" for all of them,
# and payment_intent.processing, a type of Stripe's the sandbox never emits (cards do not
# process asynchronously) but an endpoint may subscribe to.
EVENT_TYPES = (
    "*", "charge.failed", "charge.succeeded", "customer.created",
    "payment_intent.amount_capturable_updated", "payment_intent.canceled",
    "payment_intent.created", "payment_intent.payment_failed", "payment_intent.processing",
    "payment_intent.requires_action", "payment_intent.succeeded",
)
ADDRESS = Obj({k: Str() for k in ("city", "country", "line1", "line2", "postal_code", "state")})
BILLING_DETAILS = Obj({"address": ADDRESS, "email": Str(), "name": Str(), "phone": Str()})
CARD = Obj({"number": Str(), "exp_month": Int(), "exp_year": Int(), "cvc": Str()},
           required=("number", "exp_month", "exp_year"))
CAPTURE_METHODS = Enum(("automatic", "automatic_async", "manual"))
OFF_SESSION = BoolOrEnum(("one_off", "recurring"))
PAGINATION = {"limit": Int(), "starting_after": Str(), "ending_before": Str(), "expand": EXPAND}

SCHEMAS: dict[str, Endpoint] = {
    "account.retrieve": Endpoint({"expand": EXPAND}),
    "customer.create": Endpoint({
        "description": Str(), "email": Email(512), "name": Str(256), "phone": Str(20),
        "metadata": Metadata(), "payment_method": Str(), "expand": EXPAND,
    }),
    "customer.retrieve": Endpoint({"expand": EXPAND}),
    "payment_method.create": Endpoint({
        "type": Enum(("card",)), "card": CARD, "billing_details": BILLING_DETAILS,
        "metadata": Metadata(), "expand": EXPAND,
    }),
    "payment_method.retrieve": Endpoint({"expand": EXPAND}),
    "payment_intent.create": Endpoint({
        "amount": Int(), "currency": Str(), "payment_method_types": ListOf(Str()),
        "payment_method": Str(), "confirm": Bool(),
        "confirmation_method": Enum(("automatic", "manual")),
        "error_on_requires_action": Bool(), "capture_method": CAPTURE_METHODS,
        "customer": Str(), "description": Str(1000), "metadata": Metadata(),
        "receipt_email": Email(), "use_stripe_sdk": Bool(), "return_url": Str(),
        "off_session": OFF_SESSION, "statement_descriptor_suffix": Str(22),
        "setup_future_usage": Enum(("off_session", "on_session")), "expand": EXPAND,
    }, required=("amount", "currency")),
    "payment_intent.retrieve": Endpoint({"client_secret": Str(), "expand": EXPAND}),
    "payment_intent.update": Endpoint({
        "amount": Int(), "currency": Str(), "customer": Str(), "description": Str(1000),
        "metadata": Metadata(), "payment_method": Str(), "payment_method_types": ListOf(Str()),
        "receipt_email": Email(blank=True), "capture_method": CAPTURE_METHODS,
        "statement_descriptor_suffix": Str(22), "expand": EXPAND,
    }),
    "payment_intent.confirm": Endpoint({
        "payment_method": Str(), "return_url": Str(), "use_stripe_sdk": Bool(),
        "error_on_requires_action": Bool(), "off_session": OFF_SESSION,
        "receipt_email": Email(blank=True), "capture_method": CAPTURE_METHODS, "expand": EXPAND,
    }, publishable_fields={"client_secret": Str()}),
    "payment_intent.cancel": Endpoint({
        "cancellation_reason": Enum(("abandoned", "duplicate", "fraudulent",
                                     "requested_by_customer")),
        "expand": EXPAND,
    }),
    "payment_intent.list": Endpoint({"created": RangeOrInt(), "customer": Str(), **PAGINATION}),
    "payment_intent.search": Endpoint({"query": Str(10000), "limit": Int(), "page": Str(),
                                       "expand": EXPAND}, required=("query",)),
    "charge.retrieve": Endpoint({"expand": EXPAND}),
    "charge.list": Endpoint({"payment_intent": Str(), "customer": Str(), "created": RangeOrInt(),
                             **PAGINATION}),
    "event.retrieve": Endpoint({"expand": EXPAND}),
    "event.list": Endpoint({"type": Str(), "types": ListOf(Str()), "created": RangeOrInt(),
                            "delivery_success": Bool(), **PAGINATION}),
    "balance_transaction.retrieve": Endpoint({"expand": EXPAND}),
    "balance_transaction.list": Endpoint({"created": RangeOrInt(), "currency": Str(),
                                          "source": Str(), "type": Str(), **PAGINATION}),
    "webhook_endpoint.create": Endpoint({
        "url": Str(), "enabled_events": ListOf(Enum(EVENT_TYPES)), "description": Str(),
        "metadata": Metadata(), "api_version": Enum(("2026-08-26.dahlia",)), "expand": EXPAND,
        # dj-stripe's admin form always sends it; the sandbox has no connected accounts, so
        # either value delivers the same events.
        "connect": Bool(),
    }, required=("url", "enabled_events")),
    "webhook_endpoint.retrieve": Endpoint({"expand": EXPAND}),
    "webhook_endpoint.list": Endpoint(dict(PAGINATION)),
    "webhook_endpoint.delete": Endpoint({}),
}
