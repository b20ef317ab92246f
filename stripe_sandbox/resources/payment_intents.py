"""``/v1/payment_intents``: create, retrieve, update, confirm, cancel, list and search.

Retrieve and confirm also answer Stripe.js (the publishable key), which must give
the intent's ``client_secret``; its retrieve reads only the properties Stripe lets a
publishable key read (``render.PAYMENT_INTENT_PUBLISHABLE_FIELDS``).
"""

from __future__ import annotations

from typing import Any

from .. import render
from ..errors import invalid_request
from ..queries import (
    check_limit,
    created_slice,
    cursor_missing,
    list_object,
    page_key,
    page_token,
    paginate,
    search_parse,
)
from ..records import PaymentIntent
from ..state import Sandbox
from ..transport import Request, Route


def _intent(sandbox: Sandbox, request: Request) -> PaymentIntent:
    intent = sandbox.payment_intent_get(request.path_id())
    if request.publishable and request.params.get("client_secret") != intent.client_secret:
        raise invalid_request("The client_secret provided does not match the client_secret "
                              "associated with the PaymentIntent.", param="client_secret")
    return intent


def create(sandbox: Sandbox, request: Request) -> Any:
    return sandbox.payment_intent_create(request.params)


def retrieve(sandbox: Sandbox, request: Request) -> Any:
    intent = _intent(sandbox, request)
    if request.publishable:  # Stripe.js: only what the publishable key may read
        return render.payment_intent_publishable(intent)
    return intent


def update(sandbox: Sandbox, request: Request) -> Any:
    return sandbox.payment_intent_update(_intent(sandbox, request), request.params)


def confirm(sandbox: Sandbox, request: Request) -> Any:
    return sandbox.payment_intent_confirm(_intent(sandbox, request), request.params,
                                          publishable=request.publishable)


def cancel(sandbox: Sandbox, request: Request) -> Any:
    return sandbox.payment_intent_cancel(_intent(sandbox, request), request.params)


def list_(sandbox: Sandbox, request: Request) -> Any:
    params = request.params
    items = sandbox.intents_by_created
    start, stop = created_slice(items, params.get("created"))
    keep = None
    if params.get("customer"):
        customer = params["customer"]
        keep = lambda intent: intent.customer == customer  # noqa: E731

    def position(intent_id: str) -> int:
        intent = sandbox.payment_intents.get(intent_id)
        if intent is None:
            raise cursor_missing("payment_intent", intent_id)
        return items.index(intent)

    data, has_more = paginate(items, params=params, keep=keep, start=start, stop=stop,
                              position=position)
    return list_object(data, has_more, "/v1/payment_intents")


def search(sandbox: Sandbox, request: Request) -> Any:
    params = request.params
    limit = check_limit(params)
    test = search_parse(params["query"])
    items = sandbox.intents_by_created
    index = items.bisect_key_right(page_key(params["page"])) if params.get("page") else 0
    data: list[PaymentIntent] = []
    while index < len(items) and len(data) <= limit:
        if test(items[index]):
            data.append(items[index])
        index += 1
    has_more = len(data) > limit
    data = data[:limit]
    return {"object": "search_result", "data": data, "has_more": has_more,
            "next_page": page_token(data[-1]) if has_more else None,
            "url": "/v1/payment_intents/search"}


_ONE = r"/v1/payment_intents/(?P<id>[^/]+)"
ROUTES = [
    # Before the {id} routes: "search" is not an intent id.
    Route("GET", r"/v1/payment_intents/search", search, "payment_intent.search"),
    Route("POST", r"/v1/payment_intents", create, "payment_intent.create"),
    Route("GET", r"/v1/payment_intents", list_, "payment_intent.list"),
    Route("GET", _ONE, retrieve, "payment_intent.retrieve", publishable=True),
    Route("POST", _ONE, update, "payment_intent.update"),
    Route("POST", _ONE + "/confirm", confirm, "payment_intent.confirm", publishable=True),
    Route("POST", _ONE + "/cancel", cancel, "payment_intent.cancel"),
]
