"""``/v1/customers``: create and retrieve."""

from __future__ import annotations

from typing import Any

from ..state import Sandbox
from ..transport import Request, Route


def create(sandbox: Sandbox, request: Request) -> Any:
    return sandbox.customer_create(request.params)


def retrieve(sandbox: Sandbox, request: Request) -> Any:
    return sandbox.customer_get(request.path_id())


ROUTES = [
    Route("POST", r"/v1/customers", create, "customer.create"),
    Route("GET", r"/v1/customers/(?P<id>[^/]+)", retrieve, "customer.retrieve"),
]
