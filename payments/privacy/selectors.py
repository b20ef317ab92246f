"""What we hold about a shopper's email address: the answer to an access (or
portability) request, as data and as JSON.

Found by the address in any case, on the indexes the admin's search uses (the lower-case
email of orders and of incidents) and the foreign keys from there: the orders, their
lines and payment attempts, the incidents (an intent made outside this checkout has one
by Stripe's ``receipt_email``), the recovery links mailed for those orders, the ops
actions on those incidents, the admin history of all of them, and the erasures of this
address already done. The Stripe ids are listed so the merchant can ask Stripe for its
part (Stripe receives no email from this checkout: metadata is the order reference and
the attempt's number).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_email
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from payments.monitoring.models import Incident
from payments.privacy.models import ErasureRecord
from payments.recovery.models import OpsAction, OpsActionItem, RecoveryLink
from payments.shop.models import Order

HMAC_CONTEXT = b"payments.privacy.erasure:"


class EmailInvalid(ValueError):
    """Not an email address (empty, or malformed); ``message`` says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def email_normalise(*, email: str) -> str:
    """The address as we match it: trimmed, lower case; EmailInvalid when it is none."""
    address = (email or "").strip().lower()
    if not address:
        raise EmailInvalid("An email address is required.")
    try:
        validate_email(address)
    except ValidationError:
        raise EmailInvalid(f"{email.strip()!r} is not an email address.") from None
    return address


def email_keyed_hashes(*, address: str) -> list[str]:
    """HMAC-SHA256 of the normalised address under the site's secret and each of its
    fallbacks (``SECRET_KEY_FALLBACKS``, kept while a rotated key is phased out): the
    first is what a new record stores; any of them recognises an earlier one."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [hmac.new(HMAC_CONTEXT + str(key).encode(), address.encode(),
                     hashlib.sha256).hexdigest() for key in keys]


def erasures_of(*, address: str) -> QuerySet[ErasureRecord]:
    """The erasures already done for this (normalised) address, newest first."""
    return ErasureRecord.objects.filter(email_hmac__in=email_keyed_hashes(address=address))


@dataclass
class ShopperData:
    """Everything held about one address (``shopper_data_find``)."""

    email: str
    orders: list[Order] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    recovery_links: list[RecoveryLink] = field(default_factory=list)
    ops_items: list[OpsActionItem] = field(default_factory=list)
    admin_history: list[LogEntry] = field(default_factory=list)
    erasures: list[ErasureRecord] = field(default_factory=list)

    @property
    def held(self) -> bool:
        """Whether any row names this shopper (a past erasure alone is not)."""
        return bool(self.orders or self.incidents or self.recovery_links)

    def stripe_ids(self) -> dict[str, list[str]]:
        """The PaymentIntents and charges of these payments, to ask Stripe for its part."""
        intents = {attempt.stripe_id for order in self.orders
                   for attempt in order.attempts.all() if attempt.stripe_id}
        intents |= {incident.stripe_id for incident in self.incidents}
        charges = {attempt.latest_charge for order in self.orders
                   for attempt in order.attempts.all() if attempt.latest_charge}
        return {"payment_intents": sorted(intents), "charges": sorted(charges)}

    def as_dict(self) -> dict[str, Any]:
        references = {order.pk: order.reference for order in self.orders}
        return {
            "email": self.email,
            "orders": [_order(order) for order in self.orders],
            "incidents": [_incident(incident) for incident in self.incidents],
            "recovery_links": [{
                "order": references.get(link.order_id), "sent": link.created_at,
                "expires": link.expires_at, "opened": link.opened_at,
                "open_count": link.open_count, "used": link.used_at,
            } for link in self.recovery_links],
            "ops_actions": [{
                "order": item.incident.order_reference, "payment_intent":
                item.incident.stripe_id, "action": item.ops_action.kind,
                "submitted": item.ops_action.submitted_at, "result": item.result,
                "detail": item.detail,
            } for item in self.ops_items],
            "admin_history": [{
                "at": entry.action_time, "object": entry.object_repr,
                "change": entry.get_change_message(),
            } for entry in self.admin_history],
            "stripe": self.stripe_ids(),
            "erasures": [{"erased": record.erased_at, "by": record.actor,
                          "counts": record.counts} for record in self.erasures],
        }

    def as_json(self, *, generated_at: datetime | None = None) -> str:
        data = self.as_dict()
        if generated_at is not None:
            data = {"generated": generated_at, **data}
        return json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)


def shopper_data_find(*, email: str) -> ShopperData:
    """Everything held about ``email`` (any case), for an access or portability request;
    EmailInvalid for something that is not an address. Reads only."""
    address = email_normalise(email=email)
    orders = list(orders_of(address=address).prefetch_related("lines", "attempts")
                  .order_by("created_at", "pk"))
    order_ids = [order.pk for order in orders]
    incidents = list(incidents_of(address=address, order_ids=order_ids)
                     .order_by("first_seen_at", "pk"))
    incident_ids = [incident.pk for incident in incidents]
    links = list(RecoveryLink.objects.filter(order_id__in=order_ids)
                 .order_by("created_at", "pk"))
    items = list(OpsActionItem.objects.filter(incident_id__in=incident_ids)
                 .exclude(ops_action__status=OpsAction.Status.ISSUED)
                 .select_related("ops_action", "incident")
                 .order_by("ops_action__submitted_at", "pk"))
    return ShopperData(
        email=address, orders=orders, incidents=incidents, recovery_links=links,
        ops_items=items,
        admin_history=list(admin_history_of(orders=orders, incidents=incidents,
                                            links=links).order_by("action_time", "pk")),
        erasures=list(erasures_of(address=address)))


def orders_of(*, address: str) -> QuerySet[Order]:
    """The orders placed with this (normalised) address, on the admin search's
    lower-case email index."""
    return Order.objects.alias(email_lower=Lower("email")).filter(email_lower=address)


def incidents_of(*, address: str, order_ids: list[int]) -> QuerySet[Incident]:
    """The incidents naming this address, or of these orders."""
    return Incident.objects.alias(email_lower=Lower("customer_email")).filter(
        Q(email_lower=address) | Q(order_id__in=order_ids))


def admin_history_of(*, orders: list[Order], incidents: list[Incident],
                     links: list[RecoveryLink]) -> QuerySet[LogEntry]:
    """Django's admin history entries about these rows (by content type and id)."""
    scope = Q(pk__in=[])
    for rows, model in ((orders, Order), (incidents, Incident), (links, RecoveryLink)):
        if rows:
            kind = ContentType.objects.get_for_model(model, for_concrete_model=False)
            scope |= Q(content_type=kind, object_id__in=[str(row.pk) for row in rows])
    return LogEntry.objects.filter(scope)


def _order(order: Order) -> dict[str, Any]:
    return {
        "reference": order.reference, "created": order.created_at, "status": order.status,
        "amount": order.amount, "currency": order.currency, "language": order.language,
        "paid": order.paid_at, "receipt_sent": order.receipt_sent_at,
        "erased": order.erased_at,
        "lines": [{"name": line.name, "unit_price": line.unit_price,
                   "quantity": line.quantity} for line in order.lines.all()],
        "payments": [{
            "number": attempt.number, "payment_intent": attempt.stripe_id,
            "status": attempt.status, "amount": attempt.amount,
            "currency": attempt.currency, "card_brand": attempt.card_brand,
            "card_last4": attempt.card_last4, "card_country": attempt.card_country,
            "charge": attempt.latest_charge or None, "created": attempt.created_at,
            "error_code": attempt.last_error_code, "decline_code": attempt.last_decline_code,
        } for attempt in sorted(order.attempts.all(), key=lambda a: a.number)],
    }


def _incident(incident: Incident) -> dict[str, Any]:
    return {
        "order": incident.order_reference, "payment_intent": incident.stripe_id,
        "kind": incident.kind, "status": incident.status, "amount": incident.amount,
        "currency": incident.currency, "card_brand": incident.card_brand,
        "card_last4": incident.card_last4, "card_country": incident.card_country,
        "error_code": incident.error_code, "decline_code": incident.decline_code,
        "payment_made": incident.intent_created_at, "first_seen": incident.first_seen_at,
        "resolved": incident.resolved_at,
    }
