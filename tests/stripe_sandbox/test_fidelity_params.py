"""Fidelity check 1: every parameter the sandbox accepts is a key of the matching
stripe-python 15 ``stripe.params`` TypedDict, of a compatible type, and every
enum value it accepts is in that TypedDict's ``Literal`` set."""

from __future__ import annotations

import typing

import pytest
import stripe.params as sp
import typing_extensions

from stripe_sandbox import params as sandbox_params

from .stripe_types import hints, literals, members, request_option_keys

STRIPE_PARAMS = {
    "account.retrieve": sp.AccountRetrieveCurrentParams,
    "customer.create": sp.CustomerCreateParams,
    "customer.retrieve": sp.CustomerRetrieveParams,
    "payment_method.create": sp.PaymentMethodCreateParams,
    "payment_method.retrieve": sp.PaymentMethodRetrieveParams,
    "payment_intent.create": sp.PaymentIntentCreateParams,
    "payment_intent.retrieve": sp.PaymentIntentRetrieveParams,
    "payment_intent.update": sp.PaymentIntentUpdateParams,
    "payment_intent.confirm": sp.PaymentIntentConfirmParams,
    "payment_intent.cancel": sp.PaymentIntentCancelParams,
    "payment_intent.list": sp.PaymentIntentListParams,
    "payment_intent.search": sp.PaymentIntentSearchParams,
    "charge.retrieve": sp.ChargeRetrieveParams,
    "charge.list": sp.ChargeListParams,
    "balance_transaction.retrieve": sp.BalanceTransactionRetrieveParams,
    "balance_transaction.list": sp.BalanceTransactionListParams,
    "event.retrieve": sp.EventRetrieveParams,
    "event.list": sp.EventListParams,
    "webhook_endpoint.create": sp.WebhookEndpointCreateParams,
    "webhook_endpoint.retrieve": sp.WebhookEndpointRetrieveParams,
    "webhook_endpoint.list": sp.WebhookEndpointListParams,
    "webhook_endpoint.delete": sp.WebhookEndpointDeleteParams,
}


def test_every_sandbox_endpoint_is_mapped():
    assert set(STRIPE_PARAMS) == set(sandbox_params.SCHEMAS)


def typed_dicts(hint):
    return [m for m in members(hint) if typing_extensions.is_typeddict(m)]


def compatible(kind, hint, name) -> list[str]:
    """Why the sandbox's ``kind`` does not fit stripe-python's ``hint`` (empty if it does)."""
    alts = members(hint)
    origins = {typing.get_origin(a) or a for a in alts}
    S = sandbox_params
    if isinstance(kind, S.Obj):
        classes = typed_dicts(hint)
        if not classes:
            return [f"{name}: sandbox takes an object, stripe-python does not"]
        return check_fields(kind.fields, classes[0], name)
    if isinstance(kind, S.ListOf):
        lists = [a for a in alts if typing.get_origin(a) in (list, typing.List)]  # noqa: UP006
        if not lists:
            return [f"{name}: sandbox takes a list, stripe-python does not"]
        return compatible(kind.item, typing.get_args(lists[0])[0], f"{name}[]")
    if isinstance(kind, S.Str):
        return [] if str in origins else [f"{name}: not a string in stripe-python"]
    if isinstance(kind, S.Int):
        return [] if int in origins else [f"{name}: not an integer in stripe-python"]
    if isinstance(kind, S.Bool):
        return [] if bool in origins else [f"{name}: not a boolean in stripe-python"]
    if isinstance(kind, (S.Enum, S.BoolOrEnum)):
        missing = set(kind.values) - literals(hint)
        problems = [f"{name}: {sorted(missing)} not in stripe-python's Literal"] if missing else []
        if isinstance(kind, S.BoolOrEnum) and bool not in origins:
            problems.append(f"{name}: not a boolean in stripe-python")
        return problems
    if isinstance(kind, S.Metadata):
        ok = any((typing.get_origin(a) or a) in (dict, typing.Dict) for a in alts)  # noqa: UP006
        return [] if ok else [f"{name}: not a dict in stripe-python"]
    if isinstance(kind, S.RangeOrInt):
        classes = typed_dicts(hint)
        ok = int in origins and classes and {"gt", "gte", "lt", "lte"} <= set(hints(classes[0]))
        return [] if ok else [f"{name}: not int-or-range in stripe-python"]
    return [f"{name}: unknown sandbox kind {kind!r}"]


def check_fields(fields, typed_dict, prefix="") -> list[str]:
    known = hints(typed_dict)
    problems = []
    for key, kind in fields.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in known:
            problems.append(f"{name}: not a key of {typed_dict.__name__}")
            continue
        problems += compatible(kind, known[key], name)
    return problems


@pytest.mark.parametrize("endpoint", sorted(sandbox_params.SCHEMAS))
def test_accepted_parameters_are_stripe_python_parameters(endpoint):
    schema = sandbox_params.SCHEMAS[endpoint]
    typed_dict = STRIPE_PARAMS[endpoint]
    assert not set(schema.fields) & request_option_keys()
    assert check_fields(schema.fields, typed_dict) == []


def test_required_parameters_match_stripe_python():
    for endpoint, schema in sandbox_params.SCHEMAS.items():
        typed_dict = STRIPE_PARAMS[endpoint]
        required = {k for k in typed_dict.__required_keys__} - request_option_keys()
        assert set(schema.required) <= set(schema.fields)
        assert required <= set(schema.required), endpoint


def test_publishable_only_parameters_are_declared_apart():
    # client_secret on confirm is what Stripe.js sends with a publishable key; it is
    # not part of stripe-python's server-side params, so it must never be accepted
    # from a secret-key request.
    confirm = sandbox_params.SCHEMAS["payment_intent.confirm"]
    assert "client_secret" not in confirm.fields
    assert "client_secret" in confirm.publishable_fields
