"""The monitoring scans: what Celery beat runs, and ``manage.py payments_scan``.

- ``scan_events``: Stripe's events for payment intents since a stored cursor (one or two
  calls when nothing is new); repairs whatever a missed webhook left behind.
- ``scan_stale``: intents waiting in ``requires_action`` / ``requires_confirmation`` past
  their thresholds (ours from our table, others from Stripe's search), each refreshed
  from Stripe before anything is decided; ours in ``requires_confirmation`` are confirmed
  (auto-finalize) before Stripe's hour runs out; lost creates are found by metadata.
- ``scan_backfill``: every intent created in the last N days, resumable.

Each holds a lease (no two runs of one kind at once), paces its reads with the shared
limiter, backs off and retries on 429/5xx, keeps at most one page of intents in memory,
and writes a ``ScanRun``. Incidents are opened and resolved by
``payments.monitoring.observe`` (and written by ``payments.monitoring.incidents``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, Value
from django.utils import timezone

from payments.checkout.errors import CheckoutError, PaymentUnavailable
from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.checkout.services import checkout_finalize
from payments.checkout.status import payment_status_record_missing
from payments.monitoring import incidents, observe
from payments.monitoring.leases import Lease, lease_hold, lease_ttl
from payments.monitoring.models import Incident, ScanCursor, ScanRun
from payments.stripe import gateway
from payments.stripe.facts import WEBHOOK_EVENT_TYPES
from payments.stripe.gateway import IntentData
from payments.stripe.models import WebhookEvent

log = logging.getLogger(__name__)
T = TypeVar("T")
Status = PaymentAttempt.Status
SCAN = PaymentEvent.Source.SCAN

# The events webhooks bring (the intake's list): the scan repairs what they missed.
INTENT_EVENTS = WEBHOOK_EVENT_TYPES
FROM_THE_START = "start"  # the events cursor before any event existed
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)  # seconds, after a 429 or a 5xx
# A create whose answer was lost is looked up once Stripe's search has surely caught up,
# then at growing ages until it is found or this old: the shopper's next Pay replays its
# key (learning what Stripe made) or, after a day, searches itself; its events bind it
# meanwhile. Before, every sweep searched each one for ever, then each minute for two
# hours (115 searches an order; after an outage, thousands a minute against Stripe's
# search limit).
CREATE_LOST_AFTER = timedelta(minutes=5)
CREATE_LOST_SEARCHED_FOR = timedelta(hours=2)
CREATE_LOST_SEARCH_AGES = tuple(CREATE_LOST_AFTER * 2 ** n for n in range(5))  # 5 … 80 min
# A create Stripe answered with an error kept under its key: the intents made from this
# long before it was sent until this long after the answer are listed (clocks differ).
CREATE_SPENT_MARGIN = timedelta(minutes=1)
# A payment left at the bank's challenge stays there at Stripe, and no event says when
# the shopper passes it later (there is no "requires_confirmation" event). The sweep reads
# each such payment of ours once, when it finds it left there; after that one search a
# sweep (every intent now waiting for its confirm: few, Stripe fails them within the hour)
# finds those passed later, and events bring the rest (failed, canceled, paid). Before,
# the sweep read every one of them again and again, for as long as it stayed there. A
# sweep after none has finished for this long (the beat down, Stripe or the budget short)
# reads again those sent to the challenge within the last day: the search may have missed
# one passed meanwhile, which Stripe fails after its hour without an event.
STALE_CATCH_UP_AFTER = timedelta(minutes=30)
STALE_CATCH_UP_WITHIN = timedelta(days=1)
# Outside intents left at the bank (see _stale_outside): how often all of those young
# enough not to be lost yet are searched again, and how far back past the last sweep's
# bound each search starts.
OUTSIDE_FULL_SEARCH_EVERY = timedelta(hours=1)
OUTSIDE_SEARCH_OVERLAP = timedelta(minutes=10)

Progress = Callable[[int, int | None, int], None]  # (done, total if known, Stripe calls)


class ScanAborted(Exception):
    """Stripe kept failing past the retries; the run stops and the next one resumes."""


@dataclass
class Scan:
    """One run's bookkeeping: the lease, the read pace, the counters."""

    run: ScanRun
    lease: Lease
    progress: Progress | None = None
    _renewed_at: float = 0.0

    def read(self, call: Callable[[], T]) -> T:
        """One Stripe read (paced by the account's budget, payments.stripe.budget), counted,
        retried with backoff on 429 and 5xx."""
        for delay in (*RETRY_DELAYS, None):
            self.run.stripe_calls += 1
            try:
                return call()
            except gateway.BudgetRefused as error:  # shoppers have it: yield now, no retries
                raise ScanAborted("the account's Stripe budget was spent on shoppers; "
                                  "the next run goes on") from error
            except (gateway.RateLimited, gateway.StripeUnavailable) as error:
                if delay is None:
                    raise ScanAborted("Stripe kept failing: "
                                      f"{gateway.failure_for_ops(error=error)}") from error
                log.warning("scan %s: Stripe answered %s; retrying in %.0f s", self.run.kind,
                            type(error).__name__, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def observed(self, observation: observe.Observation) -> None:
        self.run.intents_seen += 1
        self.run.incidents_opened += observation.opened
        self.run.incidents_resolved += observation.resolved
        self.tick()

    def tick(self) -> None:
        if self.progress:
            self.progress(self.run.intents_seen, None, self.run.stripe_calls)
        if self.lease.lost.is_set():  # the heartbeat found it taken over
            raise ScanAborted("the scan's lease expired and was taken over")
        now = time.monotonic()
        # The heartbeat keeps the lease; this renews it too (inside a transaction there
        # is no heartbeat) and saves the run's counters for the admin to see.
        if now - self._renewed_at > self.lease.ttl.total_seconds() / 3:
            self._renewed_at = now
            if not self.lease.renew():
                raise ScanAborted("the scan's lease expired and was taken over")
            self.run.save()


def scan_events(*, progress: Progress | None = None) -> ScanRun:
    return _run(ScanRun.Kind.EVENTS, _events, progress)


def scan_stale(*, progress: Progress | None = None) -> ScanRun:
    return _run(ScanRun.Kind.STALE, _stale, progress)


def scan_backfill(*, days: int, progress: Progress | None = None) -> ScanRun:
    if not 1 <= days <= 365:
        raise ValueError("days must be between 1 and 365")
    return _run(ScanRun.Kind.BACKFILL, lambda scan: _backfill(scan, days), progress)


def _run(kind: str, body: Callable[[Scan], None], progress: Progress | None) -> ScanRun:
    with lease_hold(name=f"scan:{kind}", ttl=lease_ttl()) as lease:
        if lease is None:
            return ScanRun.objects.create(kind=kind, status=ScanRun.Status.SKIPPED,
                                          finished_at=timezone.now())
        scan = Scan(run=ScanRun.objects.create(kind=kind), lease=lease, progress=progress)
        try:
            body(scan)
            scan.run.status = ScanRun.Status.DONE
        except (ScanAborted, gateway.PaymentError) as error:
            scan.run.status = ScanRun.Status.FAILED
            scan.run.errors = str(error)
            # Said in the log too: a scan failing every minute is what ops must hear of.
            log.warning("The %s scan failed: %s (%s)", kind, error, type(error).__name__)
        except BaseException as error:  # a crash, a Ctrl-C, a time limit: recorded, raised
            scan.run.status, scan.run.errors = ScanRun.Status.FAILED, repr(error) or "stopped"
            raise
        finally:
            scan.run.finished_at = timezone.now()
            scan.run.save()
        return scan.run


# --- incremental -------------------------------------------------------------------------

def _events(scan: Scan) -> None:
    cursor, _ = ScanCursor.objects.get_or_create(name="events")
    if not cursor.value:
        # First run: start from now (the past is a backfill's job); with no event yet,
        # every event to come is new.
        newest = scan.read(lambda: gateway.event_newest(types=INTENT_EVENTS))
        cursor.value = newest.id if newest else FROM_THE_START
        cursor.save()
        return
    if cursor.value == FROM_THE_START:
        _events_all(scan, cursor)
        return
    try:
        _events_after(scan, cursor)
    except gateway.CursorMissing:
        # The last event seen is gone: no scan for 30 days (Stripe keeps events that
        # long), or the keys changed; kept, it failed every minute for good. The newest
        # event becomes the cursor first (a run cut short by its time limit goes on from
        # there, not over again), then every event Stripe keeps is read once.
        log.warning("The events scan's last event %s is no longer at Stripe: reading the "
                    "events Stripe keeps (30 days) once. If that run is cut short, `manage.py "
                    "payments_scan --backfill 30` reads the gap's payments.",
                    cursor.value)
        newest = scan.read(lambda: gateway.event_newest(types=INTENT_EVENTS))
        cursor.value = newest.id if newest else FROM_THE_START
        cursor.save()
        _events_all(scan, cursor)


def _events_after(scan: Scan, cursor: ScanCursor) -> None:
    while True:  # Stripe's catch-up recipe: the pages before the last event seen
        page = scan.read(lambda: gateway.event_page_after(event_id=cursor.value,
                                                          types=INTENT_EVENTS))
        _events_record(scan, page.items)
        if page.items:
            cursor.value = page.items[-1].id
            cursor.save()  # per page: an interrupted scan resumes after the last page done
        if page.cursor is None:
            return


def _events_all(scan: Scan, cursor: ScanCursor) -> None:
    """Every event Stripe keeps, newest first; the cursor moves to the newest only once
    all are recorded (recording is idempotent and order-proof, so a rerun is harmless)."""
    newest, after = None, None
    while True:
        page = scan.read(lambda a=after: gateway.event_page_newest_first(
            types=INTENT_EVENTS, starting_after=a))
        newest = newest or (page.items[0].id if page.items else None)
        _events_record(scan, page.items)
        after = page.cursor
        if after is None:
            break
    if newest:
        cursor.value = newest
        cursor.save()


def _events_record(scan: Scan, events: list[gateway.EventData]) -> None:
    """Record the events no webhook brought (or none processed yet); one query skips the
    rest, which is nearly all of them while webhooks work. One stored and not processed
    yet is recorded here too: the scan's cursor passes it once, and a row its worker can
    never process would leave it unrecorded for good (an outside payment's failure then
    costs a second Stripe read, in that race only)."""
    stale: set[str] = set()
    delivered = set(WebhookEvent.objects.filter(
        pk__in=[event.id for event in events], processed_at__isnull=False
    ).values_list("pk", flat=True))
    for event in events:
        if event.id in delivered:
            scan.run.intents_seen += 1
            continue
        observation = observe.intent_event_record(event=event, source=SCAN)
        if observation.refresh:
            stale.add(event.intent.id)
        scan.run.intents_seen += 1
        scan.run.incidents_opened += observation.opened
        scan.run.incidents_resolved += observation.resolved
    for intent_id in sorted(stale):  # what events say and we do not hold: read it fresh
        intent = scan.read(lambda i=intent_id: gateway.payment_intent_retrieve(intent_id=i))
        observation = observe.intent_observe(intent=intent, source=SCAN,
                                                actor=f"scan:{scan.run.pk}")
        scan.run.incidents_opened += observation.opened
        scan.run.incidents_resolved += observation.resolved
    scan.tick()


# --- stale sweep -------------------------------------------------------------------------

def _stale(scan: Scan) -> None:
    now = timezone.now()
    # First, as it needs no call: a run cut short by Stripe below still ends them.
    scan.run.incidents_resolved += incidents.incidents_abandoned_lose(now=now)
    action_before = now - timedelta(seconds=settings.PAYMENTS_ACTION_ABANDONED_AFTER_SECONDS)
    confirmation_before = now - timedelta(
        seconds=settings.PAYMENTS_CONFIRMATION_ABANDONED_AFTER_SECONDS)
    found_left = Incident.objects.filter(stripe_id=OuterRef("stripe_id"),
                                         kind=Incident.Kind.ACTION_ABANDONED)
    unread = ~Exists(found_left)
    last_done = _stale_last_done(scan)
    if last_done is None or now - last_done > STALE_CATCH_UP_AFTER:  # catching up
        unread |= Q(requires_action_at__gte=now - STALE_CATCH_UP_WITHIN)
    waiting = PaymentAttempt.objects.filter(
        # At the bank's challenge: read once, when the sweep finds it left there.
        Q(status=Status.REQUIRES_ACTION, requires_action_at__lt=action_before) & unread
        # Authenticated, never confirmed: read each sweep, to confirm it (auto-finalize)
        # or count it lost when Stripe's hour passes.
        | Q(status=Status.REQUIRES_CONFIRMATION,
            requires_confirmation_at__lt=confirmation_before)).select_related("order")
    for attempt in _chunked(waiting):
        try:
            intent = scan.read(lambda a=attempt: gateway.payment_intent_retrieve(
                intent_id=a.stripe_id))
        except gateway.IntentMissing:
            # Stripe no longer knows it (keys, account or sandbox changed): closed as
            # missing, and the sweep goes on with the others.
            payment_status_record_missing(attempt=attempt, source=SCAN,
                                          actor=f"scan:{scan.run.pk}")
            continue
        _stale_decide(scan, intent)
    _lost_creates(scan, now, last_done)
    _awaiting_confirmation(scan, action_before, confirmation_before)
    _stale_outside(scan, action_before)


def _stale_last_done(scan: Scan) -> datetime | None:
    """When the last sweep that finished began (None: none ever did)."""
    return ScanRun.objects.filter(kind=ScanRun.Kind.STALE, status=ScanRun.Status.DONE).exclude(
        pk=scan.run.pk).order_by("-started_at").values_list("started_at", flat=True).first()


def _awaiting_confirmation(scan: Scan, action_before, confirmation_before) -> None:
    """Every intent now waiting for its confirm, in one search: ours that we hold as left
    at the bank's challenge (the shopper passed it later and left; a younger one is a
    shopper on the page, about to confirm) are read and recorded, for the sweep to confirm
    once past the threshold; those not ours get their incidents."""
    query = f'status:"{Status.REQUIRES_CONFIRMATION}"'
    for page in _search_pages(scan, query):
        held = {stripe_id: (status, sent) for stripe_id, status, sent in
                PaymentAttempt.objects.filter(stripe_id__in=[intent.id for intent in page])
                .values_list("stripe_id", "status", "requires_action_at")}
        passed_later = [stripe_id for stripe_id, (status, sent) in held.items()
                        if status == Status.REQUIRES_ACTION and sent and sent < action_before]
        for intent_id in passed_later:  # a fresh read: the search's copy may lag
            intent = scan.read(lambda i=intent_id: gateway.payment_intent_retrieve(
                intent_id=i))
            scan.observed(observe.intent_observe(intent=intent, source=SCAN,
                                                 actor=f"scan:{scan.run.pk}"))
        outside = [intent for intent in page if intent.id not in held
                   and datetime.fromtimestamp(intent.created, tz=UTC) < confirmation_before]
        _backfill_page(scan, outside, None, confirmation_before)
        scan.tick()


def _stale_decide(scan: Scan, intent: IntentData) -> None:
    kind = {Status.REQUIRES_ACTION: Incident.Kind.ACTION_ABANDONED,
            Status.REQUIRES_CONFIRMATION: Incident.Kind.CONFIRMATION_ABANDONED}.get(intent.status)
    actor = f"scan:{scan.run.pk}"
    observation = observe.intent_observe(intent=intent, source=SCAN, actor=actor,
                                            stale_kind=kind)
    scan.observed(observation)
    attempt = observation.attempt
    if kind != Incident.Kind.CONFIRMATION_ABANDONED or attempt is None \
            or not settings.PAYMENTS_AUTO_FINALIZE:
        return
    try:
        confirmed = checkout_finalize(
            order_reference=attempt.order.reference, payment_intent_id=intent.id,
            source=SCAN, actor=actor,
            before_confirm=lambda: incidents.incident_finalize_sent(stripe_id=intent.id))
    except CheckoutError as error:  # declined, or the shopper got there first
        cause = error.__cause__  # Stripe's failure in ops' words, not the shopper's
        log.info("auto-finalize of %s: %s", intent.id,
                 gateway.failure_for_ops(error=cause)
                 if isinstance(cause, gateway.PaymentError) else error.message)
        if not isinstance(error, PaymentUnavailable):  # Stripe answered: no payment of ours
            incidents.incident_finalize_sent(stripe_id=intent.id, sent=False)
        return
    if confirmed:  # its incidents ended auto-finalized (payments.monitoring.receivers)
        scan.run.finalized += 1


def _lost_creates(scan: Scan, now: datetime, last_done: datetime | None) -> None:
    """Attempts whose create answer never came back: find the intent by its metadata,
    each when one of its ``CREATE_LOST_SEARCH_AGES`` passed since the last sweep that
    finished (every one in the window after none: a sweep that failed searched nothing)."""
    before = now - CREATE_LOST_AFTER
    _spent_creates(scan, before)
    lost = PaymentAttempt.objects.filter(
        status=Status.CREATING, stripe_id__isnull=True, create_key_spent_at__isnull=True,
        create_requested_at__lt=before,
        create_requested_at__gte=before - CREATE_LOST_SEARCHED_FOR).select_related("order")
    for attempt in _chunked(lost):
        if last_done is not None and not any(
                last_done < attempt.create_requested_at + age <= now
                for age in CREATE_LOST_SEARCH_AGES):
            continue
        intent = scan.read(lambda a=attempt: gateway.payment_intent_find(
            metadata={"order": a.order.reference, "attempt": str(a.number)}))
        if intent is not None:
            scan.observed(observe.intent_observe(intent=intent, source=SCAN,
                                                    actor=f"scan:{scan.run.pk}"))


def _spent_creates(scan: Scan, before) -> None:
    """Creates Stripe answered with an error kept under their key (their shopper is told
    to try again in a few minutes), once that answer is ``before`` (a 500's outcome is
    indeterminate for a moment: events bind an intent it made meanwhile): the intents
    made around then are listed; one of the attempt's is recorded, and with none the
    attempt is closed as missing, so the next Pay starts a new one with a new key rather
    than replaying the error."""
    spent = PaymentAttempt.objects.filter(
        status=Status.CREATING, stripe_id__isnull=True,
        create_key_spent_at__lt=before).select_related("order")
    for attempt in _chunked(spent):
        intent = scan.read(lambda a=attempt: gateway.payment_intent_find_listed(
            metadata={"order": a.order.reference, "attempt": str(a.number)},
            created_gte=int((a.create_requested_at - CREATE_SPENT_MARGIN).timestamp()),
            created_lt=int((a.create_key_spent_at + CREATE_SPENT_MARGIN).timestamp())))
        if intent is not None:
            scan.observed(observe.intent_observe(intent=intent, source=SCAN,
                                                    actor=f"scan:{scan.run.pk}"))
        else:
            payment_status_record_missing(
                attempt=attempt, source=SCAN, actor=f"scan:{scan.run.pk}",
                message="Stripe made no PaymentIntent for this attempt: its create was "
                        "answered with a server error, kept under its idempotency key.")


def _stale_outside(scan: Scan, action_before) -> None:
    """Intents created outside this checkout (an older integration on the same account)
    left at the bank's challenge: only Stripe's search finds them. Each sweep searches
    those that became stale since the last one (``created`` since then, less
    ``OUTSIDE_SEARCH_OVERLAP`` for the search's lag); every ``OUTSIDE_FULL_SEARCH_EVERY``
    all those not yet old enough to be lost (``incidents_abandoned_lose`` ends the older
    ones without a call), for one that went back to waiting long after it was made. One
    already held as it is costs nothing (``_backfill_page``). Before, each sweep searched
    and rewrote every one ever left waiting: thousands, a minute's calls each minute."""
    cursor, _ = ScanCursor.objects.get_or_create(name="stale-outside")
    state = json.loads(cursor.value) if cursor.value else {}
    now = int(timezone.now().timestamp())
    overlap = int(OUTSIDE_SEARCH_OVERLAP.total_seconds())
    full = now - state.get("full_at", 0) >= OUTSIDE_FULL_SEARCH_EVERY.total_seconds()
    if full:  # noted first: one cut short (Stripe failing, the budget spent) waits its hour
        state["full_at"] = now
        _cursor_save(cursor, state)
    until = int(action_before.timestamp())
    since = (now - settings.PAYMENTS_ABANDONED_LOST_AFTER_SECONDS - overlap
             if full or "until" not in state else state["until"] - overlap)
    query = f'status:"{Status.REQUIRES_ACTION}" AND created<{until} AND created>={since}'
    for page in _search_pages(scan, query):
        ours = set(PaymentAttempt.objects.filter(  # the sweep above read them fresh
            stripe_id__in=[intent.id for intent in page]).values_list("stripe_id", flat=True))
        _backfill_page(scan, [intent for intent in page if intent.id not in ours],
                       action_before, None)
        scan.tick()
    state["until"] = until  # one cut short keeps its last bound: searched from there next
    _cursor_save(cursor, state)


def _cursor_save(cursor: ScanCursor, state: dict) -> None:
    cursor.value = json.dumps(state)
    cursor.save()


def _search_pages(scan: Scan, query: str) -> Iterator[list[IntentData]]:
    token: str | None = None
    while True:
        page = scan.read(lambda t=token: gateway.payment_intent_search_page(query=query, page=t))
        yield page.items
        token = page.cursor
        if token is None:
            return


# --- backfill ----------------------------------------------------------------------------

def _backfill(scan: Scan, days: int) -> None:
    """List intents created in the window, newest first, page by page; the position is
    saved after each page, so an interrupted backfill of the same window resumes."""
    cursor, _ = ScanCursor.objects.get_or_create(name="backfill")
    state = json.loads(cursor.value) if cursor.value else {}
    if state.get("days") != days or state.get("done"):
        until = int(timezone.now().timestamp()) + 1  # created[lt]: this second too
        state = {"days": days, "since": until - days * 86400, "until": until, "after": None}
    action_before = timezone.now() - timedelta(
        seconds=settings.PAYMENTS_ACTION_ABANDONED_AFTER_SECONDS)
    confirmation_before = timezone.now() - timedelta(
        seconds=settings.PAYMENTS_CONFIRMATION_ABANDONED_AFTER_SECONDS)
    while True:
        page = scan.read(lambda: gateway.payment_intent_page(
            created_gte=state["since"], created_lt=state["until"],
            starting_after=state["after"]))
        _backfill_page(scan, page.items, action_before, confirmation_before)
        state["after"] = page.cursor
        state["done"] = page.cursor is None
        cursor.value = json.dumps(state)
        cursor.save()
        scan.tick()
        if page.cursor is None:
            return


def _backfill_page(scan: Scan, intents: list[IntentData], action_before, confirmation_before
                   ) -> None:
    """Observe only what matters on one page (the backfill's, or the stale sweep's search
    for outside intents), with one query for the rest: an intent is
    skipped when its trouble is held as it is now (or it has none), no open incident of it
    saw another state, and it is either not ours (nor a lost create of ours, named by its
    metadata) or held by us in the same state. Those left that are not ours are observed
    together (``intents_outside_observe``: a few statements for the page), ours one by one
    (their attempts and ledgers)."""
    # Our attempts, as (status, error code, decline code); incidents, by intent, with the
    # state each last saw: unchanged, nothing to do (an ended one too: observing it again
    # would only move its last_seen_at).
    held: dict[str, tuple[str, str, str]] = {}
    troubled: dict[str, set[tuple[str, str, str]]] = {}  # the open ones
    known: dict[str, set[tuple[str, str, str]]] = {}  # all
    outside: list[tuple[IntentData, str | None]] = []
    for table, stripe_id, a, b, c, incident_status in _page_held(
            stripe_ids=[intent.id for intent in intents]):
        if table == "attempt":
            held[stripe_id] = (a, b, c)
            continue
        known.setdefault(stripe_id, set()).add((a, b, c))
        if incident_status == Incident.Status.OPEN:
            troubled.setdefault(stripe_id, set()).add((a, b, c))
    for intent in intents:
        scan.run.intents_seen += 1
        created = datetime.fromtimestamp(intent.created, tz=UTC)
        stale_kind = None
        if intent.status == Status.REQUIRES_ACTION and action_before \
                and created < action_before:
            stale_kind = Incident.Kind.ACTION_ABANDONED
        elif intent.status == Status.REQUIRES_CONFIRMATION and confirmation_before \
                and created < confirmation_before:
            stale_kind = Incident.Kind.CONFIRMATION_ABANDONED
        mine = held.get(intent.id)
        if mine is None:
            quiet = "order" not in intent.metadata
        else:
            quiet = mine == (intent.status, intent.last_error_code or "",
                             intent.last_decline_code or "")
        wanted = {kind for kind in (stale_kind, observe.intent_failure_kind(intent=intent)) if kind}
        seen_as = {(kind, intent.status, intent.last_error_code or "") for kind in wanted}
        open_as = troubled.get(intent.id, set())
        if quiet and seen_as <= known.get(intent.id, set()) and all(
                (status, code) == (intent.status, intent.last_error_code or "")
                for _, status, code in open_as):
            continue
        if mine is None and "order" not in intent.metadata:
            outside.append((intent, stale_kind))
            continue
        observation = observe.intent_observe(intent=intent, source=SCAN,
                                                actor=f"scan:{scan.run.pk}",
                                                stale_kind=stale_kind)
        scan.run.incidents_opened += observation.opened
        scan.run.incidents_resolved += observation.resolved
    observation = observe.intents_outside_observe(intents=outside, source=SCAN)
    scan.run.incidents_opened += observation.opened
    scan.run.incidents_resolved += observation.resolved


def _page_held(*, stripe_ids: list[str]) -> list[tuple[str, str, str, str, str, str]]:
    """What we hold of a page's intents, in one query: ("attempt", intent, status, error
    code, decline code, "") for our attempts, ("incident", intent, kind, intent status,
    error code, status) for their incidents."""
    # No ordering: SQLite takes none inside a UNION.
    attempts = PaymentAttempt.objects.filter(stripe_id__in=stripe_ids).order_by().values_list(
        Value("attempt"), "stripe_id", "status", "last_error_code", "last_decline_code",
        Value(""))
    incident_rows = Incident.objects.filter(stripe_id__in=stripe_ids).order_by().values_list(
        Value("incident"), "stripe_id", "kind", "intent_status", "error_code", "status")
    return list(attempts.union(incident_rows, all=True))


def _chunked(queryset: Any, size: int = 100) -> Iterator[Any]:
    """Rows in primary-key order, a page at a time (never the whole table in memory)."""
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
        yield from rows
        if len(rows) < size:
            return
        last = rows[-1].pk
