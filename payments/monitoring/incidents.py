"""The only writer of ``Incident`` rows: opened and refreshed by what webhooks and scans
observe (``payments.monitoring.observe``), ended when the payment settles.

Every change here keeps the dashboard's daily totals in the same transaction
(``payments.monitoring.totals.incident_totals_kept``).

One incident per PaymentIntent and kind. Reporting the same fact twice, or facts in any
order, leaves the same incidents: an open is an UPDATE first and an INSERT only when
there is nothing to update (the unique constraint settles a race), and an end touches
only open rows. A backfill's page of intents made outside the checkout is written at
once (``incidents_outside_record``: an upsert on that constraint), with the same result.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.monitoring import selectors
from payments.monitoring.models import Incident
from payments.monitoring.totals import incident_totals_kept
from payments.stripe.gateway import IntentData
from payments.telemetry import counters

Kind, IncidentStatus = Incident.Kind, Incident.Status
Status = PaymentAttempt.Status

# A stale incident whose intent then failed back (expired, or was given a bad card) is lost.
ABANDONED = (Kind.ACTION_ABANDONED, Kind.CONFIRMATION_ABANDONED)


def incident_open(*, intent: IntentData, attempt: PaymentAttempt | None, kind: str,
                  source: str, card_from: PaymentAttempt | None) -> int:
    """Open the (intent, kind) incident, or refresh what it knows; 1 if newly opened.
    ``card_from``: where to take the card when the intent's copy carries none."""
    now = timezone.now()
    facts = _facts(intent=intent, now=now, card_from=card_from)
    with incident_totals_kept(stripe_ids=[intent.id]):
        updated = Incident.objects.filter(stripe_id=intent.id, kind=kind).update(**facts)
        if updated:
            _abandoned_lost(intent=intent, attempt=attempt, kind=kind, now=now)
            return 0
        email = attempt.order.email if attempt else (intent.receipt_email or "")
        try:
            with transaction.atomic():
                Incident.objects.create(
                    stripe_id=intent.id, kind=kind, attempt=attempt,
                    order=attempt.order if attempt else None, customer_email=email,
                    order_reference=attempt.order.reference if attempt else None,
                    first_seen_at=now, source=source, **facts)
        except IntegrityError:  # a webhook and a scan opened it at the same moment
            return 0
        counters.count(name="incidents_opened", kind=kind)
        _abandoned_lost(intent=intent, attempt=attempt, kind=kind, now=now)
        return 1


def incidents_email_erase(*, incident_ids: Sequence[int]) -> int:
    """Blank the shopper's email on these incidents (an erasure, ``payments.privacy``);
    returns how many held one. Nothing the daily totals count changes."""
    return Incident.objects.filter(pk__in=list(incident_ids)).exclude(
        customer_email="").update(customer_email="")


def incidents_end_for_canceled_orders(*, order_ids: Sequence[int], now: datetime) -> int:
    """Orders just canceled here without a Stripe call (``order_ids``: by an erasure):
    their open incidents end Canceled, as ops' Cancel ends them; the dashboard went on
    counting them as money at risk beside an order nobody could pay. Returns how many."""
    ending = Incident.objects.filter(order_id__in=list(order_ids), status=IncidentStatus.OPEN)
    stripe_ids = list(ending.values_list("stripe_id", flat=True).distinct())
    if not stripe_ids:
        return 0
    with incident_totals_kept(stripe_ids=stripe_ids):
        return ending.filter(stripe_id__in=stripe_ids).update(
            status=IncidentStatus.CANCELED, resolved_at=now)


def _facts(*, intent: IntentData, now: datetime, card_from: PaymentAttempt | None
           ) -> dict[str, object]:
    """What an open or a refresh writes: the intent as seen now, and the card when known
    (an unknown card leaves the one held)."""
    facts: dict[str, object] = {
        "amount": intent.amount, "currency": intent.currency,
        "intent_status": intent.status, "last_seen_at": now,
        "intent_created_at": stripe_time(intent.created),
        "error_code": intent.last_error_code or "", "decline_code": intent.last_decline_code or "",
        "error_message": intent.last_error_message or "",
    }
    card = {"card_brand": intent.card_brand or (card_from.card_brand if card_from else ""),
            "card_last4": intent.card_last4 or (card_from.card_last4 if card_from else ""),
            "card_country": intent.card_country or (card_from.card_country if card_from else "")}
    facts.update({key: value for key, value in card.items() if value})
    return facts


class Outside(NamedTuple):
    """An intent made outside this checkout, as a page of a scan saw it: the kind to open
    (or None) and whether Stripe let its hour run out."""

    intent: IntentData
    kind: str | None
    expired: bool


def incidents_outside_record(*, seen: Sequence[Outside], source: str) -> tuple[int, int]:
    """For many intents with no attempt of ours, what ``incident_open`` then
    ``incidents_resolve`` do for each, in a few statements for all: one upsert per shape
    of the facts (``ON CONFLICT (stripe_id, kind)``: a refresh is an update), one update
    for those lost past their wait, one per way of ending that has incidents to end; the
    totals kept once, in one transaction. (opened, resolved)."""
    if not seen:
        return 0, 0
    now = timezone.now()
    opening = {(item.intent.id, item.kind): item.intent for item in seen if item.kind}
    opened = resolved = 0
    with incident_totals_kept(stripe_ids=[item.intent.id for item in seen]) as before:
        if opening:
            # The payments' incidents, read and locked by the totals: what exists stays so.
            held = {(row["stripe_id"], row["kind"]) for row in before}
            shapes: dict[tuple[str, ...], list[Incident]] = defaultdict(list)
            lost: dict[str, list[str]] = defaultdict(list)
            for (stripe_id, kind), intent in opening.items():
                facts = _facts(intent=intent, now=now, card_from=None)
                shapes[tuple(sorted(facts))].append(Incident(
                    stripe_id=stripe_id, kind=kind, customer_email=intent.receipt_email or "",
                    first_seen_at=now, source=source, **facts))
                lost_at = _abandoned_lost_at(intent=intent, attempt=None, kind=kind)
                if lost_at is not None and now >= lost_at:
                    lost[kind].append(stripe_id)
            for fields, rows in shapes.items():
                Incident.objects.bulk_create(rows, update_conflicts=True,
                                             unique_fields=["stripe_id", "kind"],
                                             update_fields=list(fields))
            new = Counter(kind for stripe_id, kind in opening if (stripe_id, kind) not in held)
            for kind, count in new.items():
                counters.count(name="incidents_opened", kind=kind, amount=count)
            opened = sum(new.values())
            if lost:
                scope = Q()
                for kind, stripe_ids in lost.items():
                    scope |= Q(kind=kind, stripe_id__in=stripe_ids)
                Incident.objects.filter(scope, status=IncidentStatus.OPEN).update(
                    status=IncidentStatus.LOST, resolved_at=now)
        # What can end: incidents held before or opened now (most of a page has none).
        held_as = {(row["stripe_id"], row["kind"], row["status"]) for row in before}
        held_as |= {(stripe_id, kind, IncidentStatus.OPEN) for stripe_id, kind in opening}
        resolved = _outside_end(seen=seen, now=now, held_as=held_as)
    return opened, resolved


def _outside_end(*, seen: Sequence[Outside], now: datetime,
                 held_as: set[tuple[str, str, str]]) -> int:
    """``incidents_resolve`` for intents with no attempt (so no order): paid or canceled
    ends their incidents; expired makes their abandoned waits lost. ``held_as``: every
    (intent, kind, status) there is; an intent with nothing to end writes nothing."""
    some = {stripe_id for stripe_id, _, _ in held_as}
    waiting = {stripe_id for stripe_id, kind, status in held_as
               if kind in ABANDONED and status == IncidentStatus.OPEN}
    ending: dict[str, list[str]] = defaultdict(list)
    expired: dict[str, list[str]] = defaultdict(list)
    for item in seen:
        if item.intent.status in (Status.SUCCEEDED, Status.CANCELED):
            if item.intent.id in some:
                ending[item.intent.status].append(item.intent.id)
        elif item.expired and item.intent.id in waiting:
            expired[item.intent.status].append(item.intent.id)
    resolved = 0
    for status, stripe_ids in ending.items():
        Incident.objects.filter(stripe_id__in=stripe_ids).update(intent_status=status)
        if status == Status.SUCCEEDED:
            ended_as, statuses = IncidentStatus.RECOVERED, [IncidentStatus.OPEN,
                                                            IncidentStatus.LOST]
        else:
            ended_as, statuses = IncidentStatus.CANCELED, [IncidentStatus.OPEN]
        resolved += Incident.objects.filter(stripe_id__in=stripe_ids,
                                            status__in=statuses).update(
            status=ended_as, resolved_at=now)
    for status, stripe_ids in expired.items():
        resolved += Incident.objects.filter(
            stripe_id__in=stripe_ids, kind__in=ABANDONED, status=IncidentStatus.OPEN).update(
            status=IncidentStatus.LOST, resolved_at=now, intent_status=status)
    return resolved


def _abandoned_lost_at(*, intent: IntentData, attempt: PaymentAttempt | None, kind: str
                      ) -> datetime | None:
    """When a payment abandoned this way is lost: left at the bank's challenge,
    ``PAYMENTS_ABANDONED_LOST_AFTER_SECONDS`` after it was sent there; authenticated and
    never confirmed, when Stripe's hour passes (``PaymentAttempt.expires_at``). Intents
    made outside this checkout are counted from when they were made."""
    made = stripe_time(intent.created)
    if kind == Kind.ACTION_ABANDONED:
        sent = attempt.requires_action_at if attempt and attempt.requires_action_at else made
        return sent + timedelta(seconds=settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS)
    if kind == Kind.CONFIRMATION_ABANDONED:
        if attempt is not None and attempt.expires_at is not None:
            return attempt.expires_at
        return made + timedelta(seconds=settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS)
    return None


def incidents_abandoned_lose(*, now: datetime, batch: int = 500) -> int:
    """Payments left at the bank's challenge past ``PAYMENTS_ABANDONED_LOST_AFTER_SECONDS``
    (ours from when they were sent there, whether still there or failed there since;
    others from when they were made), and others
    authenticated and never confirmed past it: their open incidents end Lost, from what we
    hold, without a Stripe call (paid after all, one ends Recovered: ``incidents_end``).
    Ours authenticated and never confirmed are lost by the sweep's read when Stripe's hour
    passes. Returns how many ended."""
    before = now - timedelta(seconds=settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS)
    # Ours still at the challenge, or failed there since (a new card would end it paid).
    unpaid = [Status.REQUIRES_ACTION, Status.REQUIRES_PAYMENT_METHOD]
    due = Incident.objects.filter(status=IncidentStatus.OPEN).filter(
        Q(kind=Kind.ACTION_ABANDONED, attempt__status__in=unpaid,
          attempt__requires_action_at__lt=before)
        | Q(kind=Kind.ACTION_ABANDONED, attempt__status__in=unpaid,
            attempt__requires_action_at__isnull=True, intent_created_at__lt=before)
        | Q(kind__in=ABANDONED, attempt__isnull=True, intent_created_at__lt=before)
    ).order_by()
    ended = 0
    while stripe_ids := list(due.values_list("stripe_id", flat=True).distinct()[:batch]):
        with incident_totals_kept(stripe_ids=stripe_ids):
            ended += due.filter(stripe_id__in=stripe_ids).update(
                status=IncidentStatus.LOST, resolved_at=now)
    return ended


def _abandoned_lost(*, intent: IntentData, attempt: PaymentAttempt | None, kind: str,
                    now: datetime) -> None:
    """The sweep sees an abandoned payment again each minute while it waits: past its
    time, its incident ends Lost ("Revenue lost" counts it); paid after all, it ends
    Recovered (``incidents_end``)."""
    lost_at = _abandoned_lost_at(intent=intent, attempt=attempt, kind=kind)
    if lost_at is not None and now >= lost_at:
        Incident.objects.filter(stripe_id=intent.id, kind=kind,
                                status=IncidentStatus.OPEN).update(
            status=IncidentStatus.LOST, resolved_at=now)


def incidents_end(*, stripe_id: str, order_id: int | None, intent_status: str,
                  paid_as: str = IncidentStatus.RECOVERED, from_confirmation: bool = False
                  ) -> int:
    """An intent is paid or canceled: its incidents learn its final status (the list and
    the CSV show it) and the open ones end, as ``paid_as`` when paid. Paid also ends
    those of the order's earlier intents; canceled only the intent's own.

    ``from_confirmation``: paid straight from requires_confirmation by no confirm of the
    caller's own (a read, or a replayed answer), so an auto-finalize sent for it
    (``incident_finalize_sent``) paid it, though its answer was lost."""
    paid = intent_status == Status.SUCCEEDED
    paid_order = order_id if paid else None  # whose earlier intents' incidents end too
    # Nearly every payment has no incident: one read instead of two writes (every /pay
    # that succeeds comes here).
    if not selectors.incident_exists(stripe_id=stripe_id, order_id=paid_order):
        return 0
    scope = Q(stripe_id=stripe_id)
    if paid_order is not None:
        scope |= Q(order_id=paid_order)
    ended_as = paid_as if paid else IncidentStatus.CANCELED
    # Paid after all: a payment counted lost (left too long, or expired) was not. Our own
    # scan's confirm that paid it also takes the label from a read that recorded the
    # payment first (a webhook won the race for the row, not the payment).
    # Lost is monitoring's verdict: paid after all, or canceled (by ops, who may still act
    # on it), the payment's end is known and replaces it.
    ending = [IncidentStatus.OPEN, IncidentStatus.LOST]
    if ended_as == IncidentStatus.AUTO_FINALIZED:
        ending.append(IncidentStatus.RECOVERED)
    elif paid and from_confirmation:
        ended_as = Case(When(stripe_id=stripe_id, finalize_sent_at__isnull=False,
                             then=Value(IncidentStatus.AUTO_FINALIZED)),
                        default=Value(ended_as))
    with incident_totals_kept(stripe_ids=[stripe_id], order_id=paid_order):
        Incident.objects.filter(stripe_id=stripe_id).update(intent_status=intent_status)
        return Incident.objects.filter(scope, status__in=ending).update(
            status=ended_as, resolved_at=timezone.now())


def incident_finalize_sent(*, stripe_id: str, sent: bool = True) -> None:
    """Our scan is about to confirm this authenticated, waiting payment (``sent``: under
    the order's lock, the payment still waiting), or was told no without Stripe doing it
    (not sent). Written before the call: the worker may be killed during it, or its
    answer lost, while Stripe pays the payment."""
    Incident.objects.filter(stripe_id=stripe_id, kind=Kind.CONFIRMATION_ABANDONED).update(
        finalize_sent_at=timezone.now() if sent else None)


def incidents_end_for_settled(*, attempt: PaymentAttempt, previous: str, source: str,
                              confirmed: bool, replayed: bool = False) -> int:
    """A payment paid or canceled (``payment_settled``): its incidents end recovered,
    canceled, or auto-finalized when our own scan's confirm paid it (its answer, or the one
    it sent with its answer lost). An order's first intent paid at its first answer to /pay
    has none (nothing saw it fail or wait): most payments, so no query for them."""
    if source == PaymentEvent.Source.PAY and previous == Status.CREATING \
            and attempt.number == 1:
        return 0
    auto = source == PaymentEvent.Source.SCAN and confirmed
    # Paid straight from requires_confirmation, and not by a confirm Stripe carried out
    # for this caller (a read brought it, or Stripe replayed an earlier request's answer
    # for the shared key): a sweep's confirm sent for it did it (incident_finalize_sent).
    sweeps_maybe = previous == Status.REQUIRES_CONFIRMATION and not (confirmed and not replayed)
    return incidents_end(
        stripe_id=attempt.stripe_id, order_id=attempt.order_id, intent_status=attempt.status,
        paid_as=IncidentStatus.AUTO_FINALIZED if auto else IncidentStatus.RECOVERED,
        from_confirmation=sweeps_maybe)


def incidents_settle(*, attempt: PaymentAttempt) -> int:
    """The attempt is paid or canceled (by the shopper, ops, or Stripe): its order's open
    incidents end recovered, or canceled. Any other status settles nothing."""
    if attempt.status not in (Status.SUCCEEDED, Status.CANCELED):
        return 0
    return incidents_end(stripe_id=attempt.stripe_id, order_id=attempt.order_id,
                         intent_status=attempt.status)


def incidents_resolve(*, intent: IntentData, attempt: PaymentAttempt | None,
                      expired: bool) -> int:
    """Close the open incidents a fresh state of ``intent`` settles; ``expired``: Stripe
    let its hour run out."""
    if intent.status in (Status.SUCCEEDED, Status.CANCELED):
        return incidents_end(stripe_id=intent.id, intent_status=intent.status,
                             order_id=attempt.order_id if attempt else None)
    if expired:
        # The abandoned wait is over and that sale is lost (the expired incident stays
        # open: the shopper may still be asked to pay again).
        with incident_totals_kept(stripe_ids=[intent.id]):
            return Incident.objects.filter(
                stripe_id=intent.id, kind__in=ABANDONED, status=IncidentStatus.OPEN).update(
                status=IncidentStatus.LOST, resolved_at=timezone.now(),
                intent_status=intent.status)
    return 0


def stripe_time(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)
