"""``/v1/webhook_endpoints``: create (the only answer that shows the secret), retrieve,
list, delete. Delivery itself is ``webhooks.py``."""

from __future__ import annotations

import re
from typing import Any

from .. import render
from ..errors import invalid_request
from ..queries import list_object, paginate, position_in
from ..records import WebhookEndpoint, new_id
from ..state import Sandbox
from ..transport import Request, Route


def create(sandbox: Sandbox, request: Request) -> Any:
    params = request.params
    url = params["url"]
    if not re.match(r"https?://[^\s/]+", url):
        raise invalid_request("Invalid URL: must be an http or https URL.", param="url",
                              code="url_invalid")
    if not params["enabled_events"]:
        raise invalid_request("enabled_events must list at least one event type.",
                              param="enabled_events")
    endpoint = WebhookEndpoint(
        id=new_id("we_"), created=sandbox.clock.now(), url=url,
        enabled_events=list(params["enabled_events"]), secret=new_id("whsec_", 32),
        description=params.get("description"), metadata=params.get("metadata", {}),
        api_version=params.get("api_version"))
    sandbox.webhook_endpoints[endpoint.id] = endpoint
    return render.webhook_endpoint(endpoint, with_secret=True)


def _endpoint(sandbox: Sandbox, request: Request) -> WebhookEndpoint:
    endpoint = sandbox.webhook_endpoints.get(request.path_id())
    if endpoint is None:
        raise sandbox.not_found("webhook_endpoint", request.path_id(), None)
    return endpoint


def retrieve(sandbox: Sandbox, request: Request) -> Any:
    return _endpoint(sandbox, request)


def delete(sandbox: Sandbox, request: Request) -> Any:
    endpoint = _endpoint(sandbox, request)
    del sandbox.webhook_endpoints[endpoint.id]
    return {"id": endpoint.id, "object": "webhook_endpoint", "deleted": True}


def list_(sandbox: Sandbox, request: Request) -> Any:
    endpoints = list(reversed(sandbox.webhook_endpoints.values()))
    positions = {endpoint.id: index for index, endpoint in enumerate(endpoints)}
    data, has_more = paginate(endpoints, params=request.params,
                              position=lambda eid: position_in(positions, eid,
                                                               "webhook_endpoint"))
    return list_object(data, has_more, "/v1/webhook_endpoints")


_ONE = r"/v1/webhook_endpoints/(?P<id>[^/]+)"
ROUTES = [
    Route("POST", r"/v1/webhook_endpoints", create, "webhook_endpoint.create"),
    Route("GET", r"/v1/webhook_endpoints", list_, "webhook_endpoint.list"),
    Route("GET", _ONE, retrieve, "webhook_endpoint.retrieve"),
    Route("DELETE", _ONE, delete, "webhook_endpoint.delete"),
]
