"""``/v1/payment_methods``: create (also from Stripe.js) and retrieve, ``pm_card_*`` included."""

from __future__ import annotations

from typing import Any

from ..state import Sandbox
from ..transport import Request, Route


def create(sandbox: Sandbox, request: Request) -> Any:
    return sandbox.payment_method_create(request.params)


def retrieve(sandbox: Sandbox, request: Request) -> Any:
    return sandbox.payment_method_get(request.path_id())


ROUTES = [
    Route("POST", r"/v1/payment_methods", create, "payment_method.create", publishable=True),
    Route("GET", r"/v1/payment_methods/(?P<id>[^/]+)", retrieve, "payment_method.retrieve"),
]
