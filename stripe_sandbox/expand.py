"""Stripe JSON for a handler's result, with ``expand[]`` applied.

``expand[]=customer`` replaces an id-valued field with the object it names;
dotted paths go deeper (``latest_charge.balance_transaction``) and ``data.x``
expands inside each item of a list. Some properties are left out of an object
unless expanded (``INCLUDABLE``): expanding one adds it. A path that names
neither is Stripe's 400 "This property cannot be expanded".
"""

from __future__ import annotations

from typing import Any

from . import render
from .errors import invalid_request
from .state import Sandbox

# Properties Stripe includes only when expanded, per object type: since API version
# 2020-08-27 a Customer's sources, subscriptions and tax_ids (Stripe changelog,
# "Customer sources are no longer auto-expanded by default" and its siblings). The
# sandbox has none of those objects, so each is an empty list.
INCLUDABLE = {"customer": ("sources", "subscriptions", "tax_ids")}


def _included(node: dict[str, Any], name: str) -> dict[str, Any] | None:
    if name not in INCLUDABLE.get(node.get("object", ""), ()):
        return None
    return {"object": "list", "data": [], "has_more": False,
            "url": f"/v1/{node['object']}s/{node['id']}/{name}"}


def expanded(result: Any, paths: list[str] | None, sandbox: Sandbox) -> Any:
    body = render.any_object(result, sandbox)
    if isinstance(body, dict) and body.get("object") in ("list", "search_result"):
        body["data"] = [render.any_object(item, sandbox) for item in body["data"]]
    for path in paths or []:
        _expand_path(body, path.split("."), path, sandbox)
    return body


def _expand_path(node: Any, parts: list[str], full: str, sandbox: Sandbox) -> None:
    if not parts or node is None:
        return
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict) and head not in node:
        included = _included(node, head)
        if included is not None:
            node[head] = included
    if not isinstance(node, dict) or head not in node:
        raise invalid_request(f"This property cannot be expanded ({full}).", param="expand")
    value = node[head]
    if head == "data" and isinstance(value, list):
        for item in value:
            _expand_path(item, rest, full, sandbox)
        return
    if isinstance(value, str):
        target = sandbox.object_get(value)
        if target is None:
            raise invalid_request(f"This property cannot be expanded ({full}).",
                                  param="expand")
        node[head] = value = render.any_object(target, sandbox)
    _expand_path(value, rest, full, sandbox)
