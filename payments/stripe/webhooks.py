"""Stripe webhook deliveries, checked before dj-stripe sees them.

dj-stripe 2.11's ``ProcessWebhookView`` stores a ``WebhookEventTrigger`` row for every
POST it gets, bad signatures included, with bodies up to Django's 2.5 MB cap. Anyone who
learns the endpoint URL could fill that table. ``webhook_receive`` is mounted on the same
path in front of it (``paymentsite/urls.py``) and lets through only a delivery that:

- is a POST (405 otherwise) to an endpoint we know (404);
- is at most ``PAYMENTS_WEBHOOK_MAX_BYTES`` long (413, read no further than the cap);
- carries a ``Stripe-Signature`` made with the endpoint's secret less than five minutes
  ago, over an event object (400 otherwise).

The delivery then goes, unchanged, to dj-stripe's own view, which stores, validates again,
processes the event and fires its signals. An event id dj-stripe already stored is
answered here: dj-stripe would not process it again anyway (see ``Event.process``), and
answering it here keeps a replayed delivery from adding a trigger row per replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from djstripe.models import Event, WebhookEndpoint
from djstripe.views import ProcessWebhookView

logger = logging.getLogger(__name__)

# Stripe's events are a few kilobytes; Django's own cap (2.5 MB) is far too generous.
WEBHOOK_MAX_BYTES_DEFAULT = 256 * 1024
# Stripe's documented default tolerance, and stripe-python's (Webhook.DEFAULT_TOLERANCE).
WEBHOOK_TOLERANCE_SECONDS = 300

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_djstripe_webhook = ProcessWebhookView.as_view()


class WebhookRejected(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def webhook_max_bytes() -> int:
    return getattr(settings, "PAYMENTS_WEBHOOK_MAX_BYTES", WEBHOOK_MAX_BYTES_DEFAULT)


def webhook_body_read(*, request: HttpRequest, max_bytes: int) -> bytes:
    """The request body, reading at most ``max_bytes + 1`` bytes of it; 413 when longer.

    A declared ``Content-Length`` over the cap is refused without reading anything. A
    body without one (chunked, on ASGI) is read up to one byte past the cap to tell.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0  # Django (WSGI) then reads nothing; the signature check refuses it
    if declared > max_bytes:
        raise WebhookRejected("The request is too large.", 413)
    try:
        body = request.read(max_bytes + 1)
    except UnreadablePostError as error:
        raise WebhookRejected("The request body could not be read.", 400) from error
    if len(body) > max_bytes:
        raise WebhookRejected("The request is too large.", 413)
    # The stream is spent now; dj-stripe reads ``request.body``, so hand it these bytes
    # (also skipping Django's 2.5 MB check, which our smaller cap makes moot).
    request._body = body
    return body


def webhook_signature_verify(*, payload: bytes, header: str | None, secret: str,
                             tolerance: int, now: float | None = None) -> bool:
    """Whether ``header`` is a valid ``Stripe-Signature`` of ``payload`` by ``secret``.

    Stripe's scheme (https://docs.stripe.com/webhooks/signatures, "Verify manually"):
    ``t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>``; several ``v1``
    values may come (while a secret is rolled) and any one may match; other schemes
    (``v0``) are ignored. Compared in constant time; a timestamp more than ``tolerance``
    seconds away from now, either way, is refused (a replay, or a wrong clock).
    """
    if not header or not secret:
        return False
    timestamps: list[str] = []
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            candidates.append(value)
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]) or not candidates:
        return False
    timestamp = int(timestamps[0])
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload,
                        hashlib.sha256).hexdigest().encode()
    # Header values may hold any character; compare bytes so none can raise.
    return any(hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
               for candidate in candidates)


def webhook_event_parse(*, text: str) -> dict[str, Any] | None:
    """The event object in a delivery's body, or None when it is not one."""
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict) or event.get("object") != "event":
        return None
    data = event.get("data")
    well_formed = (isinstance(event.get("id"), str) and event["id"]
                   and isinstance(event.get("type"), str)
                   and isinstance(event.get("livemode"), bool)
                   and isinstance(data, dict) and isinstance(data.get("object"), dict))
    return event if well_formed else None


def webhook_delivery_verify(*, request: HttpRequest, uuid: UUID) -> str:
    """Check a delivery as described above; answer its event id or raise WebhookRejected."""
    body = webhook_body_read(request=request, max_bytes=webhook_max_bytes())
    endpoint = WebhookEndpoint.objects.filter(djstripe_uuid=uuid).first()
    if endpoint is None:
        raise WebhookRejected("No such webhook endpoint.", 404)
    # Verify what dj-stripe will verify: the body decoded with the request's charset and
    # encoded again as UTF-8 (the same bytes for Stripe's UTF-8 JSON). Anything we let
    # through then passes dj-stripe's own check too, so no invalid trigger is stored.
    try:
        text = body.decode(request.encoding or "utf-8")
    except (UnicodeDecodeError, LookupError) as error:
        raise WebhookRejected("The body is not text.", 400) from error
    # Never looser than the endpoint's own dj-stripe tolerance (0 there means unchecked).
    tolerance = min(endpoint.djstripe_tolerance or WEBHOOK_TOLERANCE_SECONDS,
                    WEBHOOK_TOLERANCE_SECONDS)
    if not webhook_signature_verify(payload=text.encode(),
                                    header=request.META.get("HTTP_STRIPE_SIGNATURE"),
                                    secret=endpoint.secret, tolerance=tolerance):
        if not endpoint.secret:
            logger.error("Webhook endpoint %s has no secret; set it from Stripe's.", uuid)
        raise WebhookRejected("The Stripe-Signature header is missing or invalid.", 400)
    event = webhook_event_parse(text=text)
    if event is None:
        raise WebhookRejected("The body is not a Stripe event.", 400)
    return event["id"]


def webhook_event_seen(*, event_id: str) -> bool:
    return Event.objects.filter(id=event_id).exists()


# dj-stripe's view is exempt from ATOMIC_REQUESTS so its trigger row survives an error;
# the view Django resolves is this one, so it must carry the exemption too.
@csrf_exempt
@login_not_required
@transaction.non_atomic_requests
@require_POST
def webhook_receive(request: HttpRequest, uuid: UUID) -> HttpResponse:
    try:
        event_id = webhook_delivery_verify(request=request, uuid=uuid)
    except WebhookRejected as rejected:
        logger.warning("Stripe webhook %s refused (%s): %s", uuid, rejected.status,
                       rejected.message)
        return JsonResponse({"error": rejected.message}, status=rejected.status)
    if webhook_event_seen(event_id=event_id):
        return JsonResponse({"received": event_id, "duplicate": True})
    # In DEBUG, dj-stripe would take the secret from this header instead (a Stripe CLI
    # aid); the signature was checked against the endpoint's, so dj-stripe must use it too.
    request.META.pop("HTTP_X_DJSTRIPE_WEBHOOK_SECRET", None)
    request.__dict__.pop("headers", None)  # HttpRequest.headers is a cached_property
    return _djstripe_webhook(request, uuid=uuid)
