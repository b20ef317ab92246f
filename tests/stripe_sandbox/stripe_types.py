"""Read stripe-python 15's own type annotations, to check the sandbox against them.

``params_atoms`` flattens a ``stripe.params`` TypedDict field; ``check_value``
walks a JSON value against a resource class (``stripe.PaymentIntent`` …) and
returns every mismatch: unknown keys, wrong types, values outside a Literal.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import types
import typing
from functools import cache
from typing import Any

import stripe
from stripe._request_options import RequestOptions
from stripe._stripe_context import StripeContext
from stripe._stripe_object import StripeObject

NONE = type(None)


class _StripeNames(dict):
    """Names stripe imports only under TYPE_CHECKING, found through its lazy loader."""

    def __missing__(self, name: str) -> Any:
        source = self.get("__source__", "")
        for module, imported, alias in re.findall(
                r"^\s*from ([\w.]+) import (\w+)(?: as (\w+))?$", source, re.M):
            if (alias or imported) == name:
                return getattr(importlib.import_module(module), imported)
        for namespace in (stripe, stripe.params):
            try:
                return getattr(namespace, name)
            except AttributeError:
                continue
        raise KeyError(name)


@cache
def hints(cls: type) -> dict[str, Any]:
    module = __import__(cls.__module__, fromlist=["_"])
    localns = _StripeNames(StripeContext=StripeContext, StripeObject=StripeObject,
                           __source__=inspect.getsource(module))
    globalns = {**vars(typing), **vars(sys.modules[RequestOptions.__module__]), **vars(module)}
    return typing.get_type_hints(cls, globalns=globalns, localns=localns,
                                 include_extras=True)


def request_option_keys() -> set[str]:
    return set(hints(RequestOptions))


def members(hint: Any) -> list[Any]:
    """The alternatives of a hint, with NotRequired/Required/Optional unwrapped."""
    origin = typing.get_origin(hint)
    if origin in (typing.NotRequired, typing.Required):
        return members(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(hint) for m in members(arg)]
    return [hint]


def literals(hint: Any) -> set[Any]:
    return {value for m in members(hint) if typing.get_origin(m) is typing.Literal
            for value in typing.get_args(m)}


def open_string(hint: Any) -> bool:
    """``Literal[...] | str``: any string is typed, but Stripe lists the known ones."""
    return str in members(hint)


def is_resource(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, StripeObject)


def check_value(value: Any, hint: Any, path: str, *, strict_enums: bool = True) -> list[str]:
    alternatives = members(hint)
    if value is None:
        return [] if NONE in alternatives or Any in alternatives else [f"{path}: null not allowed"]
    errors_by_alternative: list[list[str]] = []
    for alt in alternatives:
        errors = _check_one(value, alt, path, strict_enums)
        if not errors:
            return []
        errors_by_alternative.append(errors)
    # Report the closest alternative's errors.
    return min(errors_by_alternative, key=len) if errors_by_alternative else [f"{path}: no type"]


def _check_one(value: Any, hint: Any, path: str, strict_enums: bool) -> list[str]:
    origin = typing.get_origin(hint)
    if hint is Any:
        return []
    if hint is NONE:
        return [f"{path}: expected null"]
    if origin is typing.Literal:
        return [] if value in typing.get_args(hint) else [
            f"{path}: {value!r} not in {typing.get_args(hint)}"]
    if hint is str:
        return [] if isinstance(value, str) else [f"{path}: expected string, got {value!r}"]
    if hint is bool:
        return [] if isinstance(value, bool) else [f"{path}: expected bool, got {value!r}"]
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected int, got {value!r}"]
    if hint is float:
        return [] if isinstance(value, (int, float)) else [f"{path}: expected number"]
    if origin in (list, typing.List):  # noqa: UP006 - matching stripe's annotations
        if not isinstance(value, list):
            return [f"{path}: expected list"]
        (item,) = typing.get_args(hint)
        return [e for i, v in enumerate(value) for e in check_value(v, item, f"{path}[{i}]")]
    if origin in (dict, typing.Dict):  # noqa: UP006
        return [] if isinstance(value, dict) else [f"{path}: expected object"]
    name = getattr(origin or hint, "__name__", "")
    if name in ("UntypedStripeObject",):
        return [] if isinstance(value, dict) else [f"{path}: expected object"]
    if name == "ListObject" or name == "SearchResultObject":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            return [f"{path}: expected a list object"]
        kind = "list" if name == "ListObject" else "search_result"
        errors = [f"{path}.{key}: not a key of a {kind}" for key in value
                  if key not in ("object", "data", "has_more", "url", "next_page")]
        if (value.get("object"), type(value.get("has_more")), type(value.get("url"))) != \
                (kind, bool, str):
            errors.append(f"{path}: a {kind} has object {kind!r}, has_more and url")
        (item,) = typing.get_args(hint) or (Any,)
        return errors + [e for i, v in enumerate(value["data"])
                         for e in check_value(v, item, f"{path}.data[{i}]")]
    if is_resource(origin or hint):
        return check_object(value, origin or hint, path, strict_enums=strict_enums)
    return [f"{path}: unsupported annotation {hint!r}"]


def check_object(value: Any, cls: type, path: str, *, strict_enums: bool = True) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected {cls.__name__} object, got {value!r}"]
    known = hints(cls)
    errors = []
    for key, item in value.items():
        if key not in known:
            errors.append(f"{path}.{key}: not a key of stripe {cls.__qualname__}")
            continue
        hint = known[key]
        errors += check_value(item, hint, f"{path}.{key}", strict_enums=strict_enums)
        if strict_enums and isinstance(item, str) and literals(hint) and open_string(hint) \
                and item not in literals(hint):
            errors.append(f"{path}.{key}: {item!r} is not one of Stripe's listed values")
    return errors
