"""Erasing a shopper's personal data on request (GDPR article 17), in one transaction.

What goes: the email on orders, incidents and recovery links (the links expired too),
the orders' session hash and the links' using session's hash, and the address in
Django's admin history of those rows (re-rendered: ``Incident.history_name``, the order's
reference). What stays: the orders' amount, lines, dates, statuses and the payments'
Stripe ids (the accounting record), the append-only ledger (``PaymentEvent``: no email;
a shopper's steps name them by a keyed hash of their session, pseudonymous, README
"Personal data") and the dashboard's daily totals. The orders are marked
``erased_at`` and no receipt goes out for them any more; one still awaiting payment is
canceled (paid afterwards, nobody could be sent a receipt). An ``ErasureRecord`` says who
erased how many rows of each table and when, and keeps a keyed hash of the address so a
repeated request is recognised.

Refused, changing nothing, while a payment of the shopper's is in flight at Stripe (its
outcome could still pay the order and owe a receipt) or an ops action is about to act
on one: the merchant cancels it first (the ops Cancel action), or waits.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import translation

from payments.checkout.locks import OrderLockTimeout
from payments.checkout.models import PaymentAttempt
from payments.checkout.services import checkout_order_held
from payments.monitoring.incidents import (
    incidents_email_erase,
    incidents_end_for_canceled_orders,
)
from payments.monitoring.models import Incident
from payments.privacy.models import ErasureRecord
from payments.privacy.selectors import (
    admin_history_of,
    email_keyed_hashes,
    email_normalise,
    erasures_of,
    incidents_of,
    orders_of,
)
from payments.recovery.links import recovery_links_erase
from payments.recovery.models import OpsAction, OpsActionItem, RecoveryLink
from payments.shop.models import Order
from payments.shop.orders import orders_erase, orders_open_cancel

Status = PaymentAttempt.Status
# A payment Stripe may still take: the create's outcome unknown, at the bank's challenge,
# waiting for our confirm, or processing.
IN_FLIGHT = (Status.CREATING, Status.REQUIRES_ACTION, Status.REQUIRES_CONFIRMATION,
             Status.PROCESSING)
ACTING = (OpsAction.Status.QUEUED, OpsAction.Status.RUNNING)
ERASED = "[erased]"  # the address where an admin history entry of another row names it


class ErasureRefused(Exception):
    """The erasure cannot be done now; ``message`` says why and what to do first."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Erasure:
    """What ``shopper_data_erase`` did: ``record`` is None when nothing was held (then
    ``previous`` says whether the address was erased before)."""

    record: ErasureRecord | None
    counts: dict[str, int] = field(default_factory=dict)
    previous: list[ErasureRecord] = field(default_factory=list)


def shopper_data_erase(*, email: str, actor: str, now: datetime) -> Erasure:
    """Erase what we hold about ``email`` (any case): see the module's docstring.
    EmailInvalid for something that is not an address, ValueError without an actor,
    ErasureRefused while a payment is in flight; in each case nothing changes."""
    address = email_normalise(email=email)
    actor = (actor or "").strip()
    if not actor:
        raise ValueError("Say who erases it (actor).")
    previous = list(erasures_of(address=address))
    open_orders = list(orders_of(address=address).filter(status=Order.Status.OPEN)
                       .order_by("reference").values_list("reference", flat=True))
    try:
        with ExitStack() as held:
            # Each open order's lock (as the checkout takes it), so no confirm of the
            # shopper's or ops' crosses the check below.
            for reference in open_orders:
                held.enter_context(checkout_order_held(order_reference=reference))
            with transaction.atomic():
                return _erase(address, actor=actor, now=now, previous=previous)
    except OrderLockTimeout:
        raise ErasureRefused("A payment of this shopper's is under way right now; "
                             "try again in a minute.") from None


def _erase(address: str, *, actor: str, now: datetime, previous: list[ErasureRecord]
           ) -> Erasure:
    orders = list(orders_of(address=address).select_for_update().order_by("pk"))
    order_ids = [order.pk for order in orders]
    incidents = list(incidents_of(address=address, order_ids=order_ids))
    incident_ids = [incident.pk for incident in incidents]
    links = list(RecoveryLink.objects.filter(order_id__in=order_ids))
    if not (orders or incidents or links):
        return Erasure(record=None, previous=previous)
    _refuse_in_flight(order_ids=order_ids, incident_ids=incident_ids)
    entries = list(admin_history_of(orders=orders, incidents=incidents, links=links))
    receipts_due = sum(1 for order in orders if order.status == Order.Status.PAID
                       and order.receipt_sent_at is None and order.erased_at is None)
    awaiting_payment = [order.pk for order in orders if order.status == Order.Status.OPEN]
    counts = {
        "orders": orders_erase(order_ids=order_ids, now=now),
        # Under their locks (held above): no confirm crosses it.
        "orders_canceled": orders_open_cancel(order_ids=order_ids),
        # (their open incidents end Canceled with them: not counted as money at risk)
        "incidents_ended": incidents_end_for_canceled_orders(order_ids=awaiting_payment,
                                                             now=now),
        "receipts_stopped": receipts_due,
        "incidents": incidents_email_erase(incident_ids=incident_ids),
        "recovery_links": recovery_links_erase(order_ids=order_ids, now=now),
        "admin_log": _admin_history_erase(address, entries=entries, incidents=incidents,
                                          orders=orders, links=links),
    }
    record = ErasureRecord.objects.create(email_hmac=email_keyed_hashes(address=address)[0],
                                          actor=actor, erased_at=now, counts=counts)
    return Erasure(record=record, counts=counts, previous=previous)


def _refuse_in_flight(*, order_ids: list[int], incident_ids: list[int]) -> None:
    flying = list(PaymentAttempt.objects.filter(order_id__in=order_ids, status__in=IN_FLIGHT)
                  .order_by("pk").values_list("order__reference", "stripe_id", "status"))
    if flying:
        payments = ", ".join(f"{reference} ({stripe_id or 'being created'}: {status})"
                             for reference, stripe_id, status in flying)
        raise ErasureRefused(
            f"Not erased: a payment is in flight at Stripe for {payments}. Cancel it first "
            f"(the failed payments list, Cancel), or wait until it settles, then erase.")
    acting = (OpsActionItem.objects.filter(incident_id__in=incident_ids,
                                           result=OpsActionItem.Result.PENDING,
                                           ops_action__status__in=ACTING)
              .values_list("ops_action_id", flat=True).distinct())
    if acting:
        raise ErasureRefused(
            "Not erased: an ops action is acting on this shopper's payments "
            f"({', '.join(str(pk) for pk in acting)}); wait until it has finished.")


def _admin_history_erase(address: str, *, entries: list[LogEntry], incidents: list[Incident],
                         orders: list[Order], links: list[RecoveryLink]) -> int:
    """Re-render the admin history of these rows without the address (their names as
    the ops actions now write them), and blank it in any other entry that holds it;
    returns how many entries changed."""
    kinds = {model: ContentType.objects.get_for_model(model, for_concrete_model=False).pk
             for model in (Order, Incident, RecoveryLink)}
    references = {order.pk: order.reference for order in orders}
    with translation.override("en"):  # the history is stored in English (recovery.actions)
        names = {(kinds[Incident], str(incident.pk)): incident.history_name()
                 for incident in incidents}
    names |= {(kinds[Order], str(order.pk)): order.reference for order in orders}
    names |= {(kinds[RecoveryLink], str(link.pk)):
              f"Link for {references.get(link.order_id, link.order_id)}" for link in links}
    known = {entry.pk for entry in entries}
    entries += list(LogEntry.objects.exclude(pk__in=known).alias(
        repr_lower=Lower("object_repr"), message_lower=Lower("change_message")).filter(
        Q(repr_lower__contains=address) | Q(message_lower__contains=address)))
    changed = []
    for entry in entries:
        name = names.get((entry.content_type_id, entry.object_id))
        if name is None:  # another row's entry that mentions the address
            name = _without(entry.object_repr, address)
        message = _without(entry.change_message, address)
        if (entry.object_repr, entry.change_message) != (name[:200], message):
            entry.object_repr, entry.change_message = name[:200], message
            changed.append(entry)
    LogEntry.objects.bulk_update(changed, ["object_repr", "change_message"])
    return len(changed)


def _without(text: str, address: str) -> str:
    return re.sub(re.escape(address), ERASED, text, flags=re.IGNORECASE)
