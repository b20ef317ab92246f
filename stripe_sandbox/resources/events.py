"""``/v1/events``: retrieve and list (events are recorded by ``state.py`` as things happen)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .. import render
from ..errors import invalid_request
from ..queries import created_slice, cursor_missing, list_object, paginate
from ..state import Sandbox
from ..transport import Request, Route

MAX_EVENT_TYPES = 20


def retrieve(sandbox: Sandbox, request: Request) -> Any:
    event = sandbox.event_index.get(request.path_id())
    if event is None:
        raise sandbox.not_found("event", request.path_id(), None)
    return render.event(event, sandbox)


def list_(sandbox: Sandbox, request: Request) -> Any:
    """Stripe's ``GET /v1/events`` (stripe-python ``EventListParams``): ``type`` exact or
    with ``*`` wildcards, or ``types[]`` (up to 20 exact names), not both; ``created``
    ranges; ``delivery_success``; newest first with cursors."""
    params = request.params
    events = sandbox.events
    if params.get("type") and params.get("types"):
        raise invalid_request("You may only specify one of these parameters: type, types.",
                              param="types")
    keep_type: Callable[[str], bool] | None = None
    if params.get("type"):
        pattern = re.compile(re.escape(params["type"]).replace(r"\*", ".*"))
        keep_type = lambda kind: pattern.fullmatch(kind) is not None  # noqa: E731
    elif params.get("types"):
        if len(params["types"]) > MAX_EVENT_TYPES:
            raise invalid_request(f"types accepts at most {MAX_EVENT_TYPES} event types.",
                                  param="types")
        wanted = frozenset(params["types"])
        keep_type = wanted.__contains__
    delivered = params.get("delivery_success")
    start, stop = created_slice(events, params.get("created"))

    def keep(event: Any) -> bool:
        return ((keep_type is None or keep_type(event.type))
                and (delivered is None or (event.pending_webhooks == 0) == delivered))

    def position(event_id: str) -> int:
        event = sandbox.event_index.get(event_id)
        if event is None:
            raise cursor_missing("event", event_id)
        return events.index(event)

    filtered = keep_type is not None or delivered is not None
    data, has_more = paginate(events, params=params, keep=keep if filtered else None,
                              start=start, stop=stop, position=position)
    return list_object([render.event(e, sandbox) for e in data], has_more, "/v1/events")


ROUTES = [
    Route("GET", r"/v1/events", list_, "event.list"),
    Route("GET", r"/v1/events/(?P<id>[^/]+)", retrieve, "event.retrieve"),
]
