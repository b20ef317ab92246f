"""The ``/v1/`` handlers, one module per Stripe resource.

Each module lists its ``ROUTES``; a handler is called ``handler(sandbox, request)``
with ``request.params`` already validated against the route's schema, and returns
a record (rendered by the pipeline in ``api.py``) or JSON-ready data. Stripe's
rules for changing objects live in ``state.py``; these modules only map a
request onto them.
"""

from __future__ import annotations

from ..transport import Route
from . import (
    account,
    balance_transactions,
    charges,
    customers,
    events,
    payment_intents,
    payment_methods,
    webhook_endpoints,
)


def api_routes() -> list[Route]:
    """Every ``/v1/`` route, in matching order (a literal path before an ``{id}``)."""
    return [*account.ROUTES, *customers.ROUTES, *payment_methods.ROUTES,
            *payment_intents.ROUTES, *charges.ROUTES, *balance_transactions.ROUTES,
            *events.ROUTES, *webhook_endpoints.ROUTES]
