"""Stripe's webhook deliveries in: checked, stored once, answered at once.

Stripe asks endpoints to answer 2xx quickly, before any complex logic, and retries what
fails (for up to three days in live mode); it delivers at least once and in no
guaranteed order (docs.stripe.com/webhooks). So ``webhook_receive`` makes no Stripe
call and runs none of our logic; it lets through only a delivery that:

- is a POST (405 otherwise) to an endpoint we know (dj-stripe's ``WebhookEndpoint``, which
  holds the secret; 404 otherwise);
- is at most ``PAYMENTS_WEBHOOK_MAX_BYTES`` long (413, read no further than the cap);
- carries a ``Stripe-Signature`` made with the endpoint's secret less than five minutes
  ago (400 otherwise);
- is a well-formed event of our account's mode (400 otherwise: no ``data.object.id``, an
  id or ``created`` of the wrong type, a live event to a test account, or the reverse).

It then stores the event (``WebhookEvent``, keyed by the event's id: a redelivery, or
twenty copies at once, add nothing) and answers 200. Events of types we do not use
(``WEBHOOK_EVENT_TYPES``) are answered 200 and not kept, so Stripe does not retry them
(the endpoint's list of events is what stops them coming).
After the commit, ``webhook_event_stored`` tells whoever processes events (a worker,
``payments.monitoring.events``); if nobody hears (the broker is down), the event waits in
the table for the sweep. Nothing here is dj-stripe's processing: it would read the
event's object back from Stripe inside the request (dj-stripe issue 2127).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from djstripe.models import WebhookEndpoint

from payments.stripe.facts import WEBHOOK_EVENT_TYPES
from payments.stripe.models import WebhookEvent
from payments.stripe.signals import webhook_event_stored
from payments.telemetry import counters

logger = logging.getLogger(__name__)

# Stripe's documented default tolerance, and stripe-python's (Webhook.DEFAULT_TOLERANCE).
WEBHOOK_TOLERANCE_SECONDS = 300


_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# Stripe's ids are letters, digits and "_"; ours are kept in 255 characters.
_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
LATEST_CREATED = 10**11  # the year 5138: past it, not a time Python or a database can hold


class WebhookRejected(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def webhook_max_bytes() -> int:
    return settings.PAYMENTS_WEBHOOK_MAX_BYTES


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


def webhook_event_parse(*, text: str, livemode: bool) -> dict[str, Any] | None:
    """The event object in a delivery's body, or None when it is not a well-formed event
    of an account in ``livemode``."""
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict) or event.get("object") != "event":
        return None
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    well_formed = (isinstance(event.get("id"), str) and event["id"].startswith("evt_")
                   and _STRIPE_ID.fullmatch(event["id"]) is not None
                   and isinstance(event.get("type"), str) and event["type"]
                   and type(event.get("created")) is int
                   and 0 < event["created"] < LATEST_CREATED
                   and event.get("livemode") is livemode
                   and isinstance(obj, dict) and isinstance(obj.get("id"), str)
                   and _STRIPE_ID.fullmatch(obj["id"]) is not None)
    return event if well_formed else None


def account_livemode() -> bool:
    """Whether our key is a live one: a live account sends only live events."""
    return settings.STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))


@dataclass(frozen=True)
class Endpoint:
    secret: str
    tolerance: int  # seconds
    cached: bool  # read from this process's memory, not the database


# Endpoints (their secrets) as read last, by uuid, with when: a delivery costs no query.
_endpoints: dict[UUID, tuple[float, Endpoint]] = {}
ENDPOINT_CACHE_SECONDS = 60
# A failed signature reads the endpoint again (its secret may have been rolled), but not
# more often than this: anyone who knows the address could make every POST a query.
ENDPOINT_RECHECK_SECONDS = 5
_rechecked: dict[UUID, float] = {}
# The hint on where to set the secret, once a minute per endpoint, not once per POST.
_hinted: dict[UUID, float] = {}
HINT_EVERY_SECONDS = 60
# A refused delivery's warning, once a minute per endpoint and status (with how many were
# refused meanwhile): anyone can POST to the address, or to any uuid, as often as they like.
_refusals_logged: dict[tuple[UUID | None, int], float] = {}
_refusals_unlogged: Counter = Counter()
# The uuids of every endpoint, read at most every ENDPOINT_RECHECK_SECONDS when a
# delivery names one not among them: random uuids cost no query each.
_known: tuple[float, frozenset[UUID]] | None = None


@receiver([post_save, post_delete], sender=WebhookEndpoint)
def _endpoint_forget(sender, instance: WebhookEndpoint, **kwargs) -> None:
    """Changed or removed here: this process reads it afresh (others within a minute)."""
    global _known
    _endpoints.pop(instance.djstripe_uuid, None)
    _known = None


def _endpoint_unknown(uuid: UUID) -> bool:
    """True when no endpoint has this uuid, as last read (read again when a miss comes
    ENDPOINT_RECHECK_SECONDS after the last read, so a new endpoint answers within it)."""
    global _known
    now = time.monotonic()
    if uuid in _endpoints:
        return False
    if _known is None or (uuid not in _known[1]
                          and now - _known[0] >= ENDPOINT_RECHECK_SECONDS):
        _known = (now, frozenset(WebhookEndpoint.objects.values_list("djstripe_uuid",
                                                                     flat=True)))
    return uuid not in _known[1]


def _endpoint_get(uuid: UUID, *, fresh: bool = False) -> Endpoint | None:
    """The endpoint's secret and tolerance, from memory for a minute after each read. A
    signature that fails against a remembered secret is checked again with a fresh read,
    so a secret rolled in the admin works at once."""
    now = time.monotonic()
    remembered = _endpoints.get(uuid)
    if remembered and not fresh and now - remembered[0] < ENDPOINT_CACHE_SECONDS:
        return remembered[1]
    row = WebhookEndpoint.objects.filter(djstripe_uuid=uuid).only(
        "secret", "djstripe_tolerance").first()
    if row is None:
        _endpoints.pop(uuid, None)
        return None
    # Never looser than the endpoint's own dj-stripe tolerance (0 there means unchecked).
    tolerance = min(row.djstripe_tolerance or WEBHOOK_TOLERANCE_SECONDS,
                    WEBHOOK_TOLERANCE_SECONDS)
    _endpoints[uuid] = (now, Endpoint(secret=row.secret, tolerance=tolerance, cached=True))
    return Endpoint(secret=row.secret, tolerance=tolerance, cached=False)


def _endpoint_recheck_due(uuid: UUID) -> bool:
    return _once_per(_rechecked, uuid, ENDPOINT_RECHECK_SECONDS)


def _hint_due(uuid: UUID) -> bool:
    return _once_per(_hinted, uuid, HINT_EVERY_SECONDS)


def _once_per(last: dict, uuid: Hashable, seconds: float) -> bool:
    """True at most once per ``seconds`` for ``uuid`` (in this process)."""
    now = time.monotonic()
    if uuid in last and now - last[uuid] < seconds:
        return False
    last[uuid] = now
    return True


SIGNING_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{8,200}")


def webhook_endpoint_find(*, endpoint_uuid: UUID | None = None) -> WebhookEndpoint:
    """The endpoint ``endpoint_uuid`` names, or the only one; ValueError says why not
    (asked before the secret is: nobody pastes a secret for an endpoint that is not)."""
    endpoints = WebhookEndpoint.objects.all()
    if endpoint_uuid is not None:
        endpoints = endpoints.filter(djstripe_uuid=endpoint_uuid)
    found = list(endpoints[:2])
    if not found:
        raise ValueError(f"No webhook endpoint has the uuid {endpoint_uuid} (Admin > "
                         "Dj-Stripe > Webhook endpoints lists them)." if endpoint_uuid else
                         "There is no webhook endpoint yet (README: Webhooks).")
    if len(found) > 1:
        raise ValueError("There are several webhook endpoints: name one with its uuid "
                         "(Admin > Dj-Stripe > Webhook endpoints).")
    return found[0]


def webhook_endpoint_secret_set(*, secret: str, endpoint_uuid: UUID | None = None
                                ) -> WebhookEndpoint:
    """Set the signing secret Stripe shows for an endpoint: after rolling it in Stripe's
    Dashboard, or for an endpoint made there (dj-stripe's admin shows no secret field).
    Without ``endpoint_uuid`` the only endpoint. ValueError says what is wrong; nothing
    changes then."""
    endpoint = webhook_endpoint_find(endpoint_uuid=endpoint_uuid)
    secret = secret.strip()
    if not SIGNING_SECRET.fullmatch(secret):
        raise ValueError("That is not a webhook signing secret: Stripe's start with whsec_.")
    endpoint.secret = secret
    endpoint.save(update_fields=["secret"])  # its signal: this process reads it afresh
    return endpoint


@dataclass(frozen=True)
class Delivery:
    event: dict[str, Any]
    text: str  # the body as signed, kept as it came


def webhook_delivery_verify(*, request: HttpRequest, uuid: UUID) -> Delivery:
    """Check a delivery as described above; answer it or raise WebhookRejected."""
    body = webhook_body_read(request=request, max_bytes=webhook_max_bytes())
    endpoint = None if _endpoint_unknown(uuid) else _endpoint_get(uuid)
    if endpoint is None:
        raise WebhookRejected("No such webhook endpoint.", 404)
    try:
        text = body.decode("utf-8")  # JSON is UTF-8 (RFC 8259), whatever the header says
    except UnicodeDecodeError as error:
        raise WebhookRejected("The body is not text.", 400) from error
    header = request.META.get("HTTP_STRIPE_SIGNATURE")
    # Stripe signs the bytes it sent: a body re-encoded after decoding by the request's
    # charset (latin-1, say) would no longer match.
    verified = webhook_signature_verify(payload=body, header=header,
                                        secret=endpoint.secret, tolerance=endpoint.tolerance)
    if not verified and endpoint.cached and _endpoint_recheck_due(uuid):
        endpoint = _endpoint_get(uuid, fresh=True)  # the secret may have been rolled since
        verified = endpoint is not None and webhook_signature_verify(
            payload=body, header=header, secret=endpoint.secret,
            tolerance=endpoint.tolerance)
    if not verified:
        if endpoint is not None and not endpoint.secret:
            logger.error("Webhook endpoint %s has no secret; set it from Stripe's.", uuid)
        elif header and _hint_due(uuid):  # signed, by another secret (or long ago)
            logger.warning("Webhook endpoint %s: a delivery's signature does not match its "
                           "secret or is over %s s old; if every delivery fails, set the "
                           "endpoint's secret (manage.py webhook_secret_set) to the signing "
                           "secret Stripe shows for it.", uuid,
                           endpoint.tolerance if endpoint else WEBHOOK_TOLERANCE_SECONDS)
        raise WebhookRejected("The Stripe-Signature header is missing or invalid.", 400)
    event = webhook_event_parse(text=text, livemode=account_livemode())
    if event is None:
        raise WebhookRejected("The body is not a Stripe event of this account.", 400)
    return Delivery(event=event, text=text)


def webhook_event_store(*, delivery: Delivery, endpoint_uuid: UUID) -> bool:
    """Keep the event once; True when this delivery stored it (False: stored already)."""
    event = delivery.event
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # The answer need not wait for the disk (about 3 ms here): should
                # PostgreSQL itself crash within the moment after, the events scan reads
                # the lost events back from Stripe's list of events within a minute.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            WebhookEvent.objects.create(
                id=event["id"], type=event["type"], object_id=event["data"]["object"]["id"],
                created=datetime.fromtimestamp(event["created"], tz=UTC),
                livemode=event["livemode"], body=delivery.text, endpoint_uuid=endpoint_uuid)
    except IntegrityError:  # a redelivery, or a copy racing this one
        return False
    transaction.on_commit(lambda: webhook_event_stored.send(
        sender=WebhookEvent, event_id=event["id"]))
    return True


def _refusal_log(uuid: UUID, rejected: WebhookRejected) -> None:
    """A warning per endpoint and status at most once a minute, saying how many were
    refused since; unknown addresses (scanners, typos) share one."""
    key = (None if rejected.status == 404 else uuid, rejected.status)
    if not _once_per(_refusals_logged, key, HINT_EVERY_SECONDS):
        _refusals_unlogged[key] += 1
        return
    more = _refusals_unlogged.pop(key, 0)
    logger.warning("Stripe webhook %s refused (%s): %s%s", uuid, rejected.status,
                   rejected.message, f" ({more} more refused like it in the last minute)"
                   if more else "")


@csrf_exempt
@login_not_required
@require_POST
def webhook_receive(request: HttpRequest, uuid: UUID) -> HttpResponse:
    try:
        delivery = webhook_delivery_verify(request=request, uuid=uuid)
    except WebhookRejected as rejected:
        _refusal_log(uuid, rejected)
        counters.count(name="webhook_deliveries", outcome=f"refused_{rejected.status}")
        return JsonResponse({"error": rejected.message}, status=rejected.status)
    event_id = delivery.event["id"]
    if delivery.event["type"] not in WEBHOOK_EVENT_TYPES:
        outcome, answer = "ignored", {"received": event_id, "ignored": True}
    elif not webhook_event_store(delivery=delivery, endpoint_uuid=uuid):
        outcome, answer = "duplicate", {"received": event_id, "duplicate": True}
    else:
        outcome, answer = "stored", {"received": event_id}
    counters.count(name="webhook_deliveries", outcome=outcome)
    return JsonResponse(answer)
