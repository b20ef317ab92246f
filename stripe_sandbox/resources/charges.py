"""``/v1/charges``: retrieve and list (charges are made by confirming PaymentIntents)."""

from __future__ import annotations

from typing import Any

from ..queries import created_filter, list_object, paginate, position_in
from ..records import Charge
from ..state import Sandbox
from ..transport import Request, Route


def retrieve(sandbox: Sandbox, request: Request) -> Any:
    charge = sandbox.charges.get(request.path_id())
    if charge is None:
        raise sandbox.not_found("charge", request.path_id(), None)
    return charge


def list_(sandbox: Sandbox, request: Request) -> Any:
    params = request.params
    if params.get("payment_intent"):
        ids = sandbox.charges_by_intent.get(params["payment_intent"], [])
    else:
        ids = list(sandbox.charges)
    # Newest first by creation, as Stripe lists them; a seeded charge, stored after newer
    # ones but dated in the past, takes its place by date (sort is stable: ties stay
    # newest-stored first).
    charges = sorted((sandbox.charges[i] for i in reversed(ids)),
                     key=lambda charge: charge.created, reverse=True)
    created = created_filter(params)
    customer = params.get("customer")

    def keep(charge: Charge) -> bool:
        return ((created is None or created(charge.created))
                and (customer is None or charge.customer == customer))

    positions = {charge.id: index for index, charge in enumerate(charges)}
    data, has_more = paginate(charges, params=params, keep=keep,
                              position=lambda cid: position_in(positions, cid, "charge"))
    return list_object(data, has_more, "/v1/charges")


ROUTES = [
    Route("GET", r"/v1/charges", list_, "charge.list"),
    Route("GET", r"/v1/charges/(?P<id>[^/]+)", retrieve, "charge.retrieve"),
]
