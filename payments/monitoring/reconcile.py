"""Reconciliation: Stripe's intents and charges of a window compared with our orders and
attempts, every difference kept as a ``ReconciliationMismatch`` for ops.

Stripe's advice is that an integration reconciles: every charge Stripe made is known to
the shop, and nothing is charged twice. A run lists the intents and the charges created
in the last ``days`` days (newest first, a page at a time, background priority in the
shared budget: ``payments.stripe.budget``), compares them with our rows, and finds:

- *charged twice*: an order whose intents hold more than one charge that took money
  (captured, not fully refunded), the checkout's own earlier charge included when an
  intent made outside it charged the order in the window;
- *paid at Stripe, not here*: an intent of one of our orders succeeded, and the order is
  not paid here (or Stripe names an order we do not have);
- *paid here, not at Stripe*: an attempt we hold as succeeded whose intent did not
  succeed (or Stripe does not know it), or a paid order without a succeeded attempt;
- *amount differs*: an intent succeeded for another amount or currency than its order's;
- *status differs*: any other attempt whose status is not Stripe's.

Intents without an order of ours (another integration on the account) are counted,
not compared. Before an intent's difference is recorded, the intent is read again and
our rows too: a payment moving while the run lists (a shopper at ``/pay``) is not a
mismatch. Findings are kept one per kind and subject (order or intent): a later run
that finds one again updates it, and a run whose window holds it and does not find it
marks it resolved. Ops get one mail per new finding (``ops_mail``).

Runs hold a lease (one at a time), retry Stripe's 429 and 5xx with backoff, and write a
``ReconciliationRun`` with what they compared and found.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from payments.checkout.models import PaymentAttempt
from payments.monitoring import ops_mail
from payments.monitoring.leases import Lease, lease_hold
from payments.monitoring.models import ReconciliationMismatch, ReconciliationRun
from payments.shop.models import Order
from payments.shop.selectors import orders_paid_totals
from payments.stripe import gateway
from payments.stripe.facts import money_format
from payments.stripe.gateway import ChargeData, IntentData

log = logging.getLogger(__name__)
T = TypeVar("T")
Kind = ReconciliationMismatch.Kind
Status = PaymentAttempt.Status

DAYS_DEFAULT = 2  # the daily run overlaps the day before: late changes are seen twice
DAYS_MAX = 365
LEASE_NAME = "reconcile"
LEASE_TTL = timedelta(minutes=10)
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)  # seconds, after a 429 or a 5xx
TRIGGERS = tuple(ReconciliationRun.Trigger.values)
# Statuses Stripe never reports: ours alone, not a difference.
OURS_ONLY = {Status.MISSING}


class ReconcileAborted(Exception):
    """Stripe kept failing past the retries; the run stops, resolving nothing."""


def days_valid(days: object) -> int:
    """``days`` as a whole number of days from 1 to ``DAYS_MAX``, or ValueError."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise ValueError(f"days must be a whole number of days, not {days!r}")
    if not 1 <= days <= DAYS_MAX:
        raise ValueError(f"days must be from 1 to {DAYS_MAX}, not {days}")
    return days


@dataclass(frozen=True)
class Ours:
    """Our side of one intent: its attempt (if we hold one) and its order."""

    order_id: int | None
    order_reference: str
    order_status: str
    order_amount: int | None
    order_currency: str
    attempt_id: int | None = None
    attempt_status: str = ""


@dataclass
class Finding:
    kind: str
    subject: str
    occurred_at: datetime
    order_id: int | None = None
    attempt_id: int | None = None
    stripe_id: str = ""
    charge_ids: list[str] = field(default_factory=list)
    amount_here: int | None = None
    amount_at_stripe: int | None = None
    currency: str = ""
    status_here: str = ""
    status_at_stripe: str = ""


@dataclass
class Work:
    """One run's bookkeeping: the lease, the Stripe reads, what was seen so far."""

    run: ReconciliationRun
    lease: Lease
    page_size: int | None = None
    _renewed_at: float = field(default_factory=time.monotonic)
    # Intents of our orders seen at Stripe: id -> order reference.
    order_of_intent: dict[str, str] = field(default_factory=dict)
    outside: set[str] = field(default_factory=set)  # intents seen with no order of ours
    # Succeeded intents of ours: id -> (latest charge, amount); their charge counts even
    # when it was made before the window.
    succeeded: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    # Money taken, by order reference: charge id -> amount not refunded.
    taken: dict[str, dict[str, int]] = field(default_factory=dict)
    charges_listed: set[str] = field(default_factory=set)
    charge_created: dict[str, int] = field(default_factory=dict)  # of the charges read
    # Orders an intent not of our checkout took money for in the window (made in
    # Stripe's Dashboard or by another script): our own earlier charge counts too.
    charged_outside: set[str] = field(default_factory=set)
    candidates: set[str] = field(default_factory=set)  # intents with a difference

    def read(self, call: Callable[[], T]) -> T:
        """One Stripe read, counted, retried with backoff on 429 and 5xx."""
        for delay in (*RETRY_DELAYS, None):
            self.run.stripe_calls += 1
            try:
                return call()
            except (gateway.RateLimited, gateway.StripeUnavailable) as error:
                said = gateway.failure_for_ops(error=error)
                if delay is None:
                    raise ReconcileAborted(f"Stripe kept failing: {said}") from error
                log.warning("reconciliation: %s; retrying in %.0f s", said, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._renewed_at > 30:  # keep the lease while the work goes on
            self._renewed_at = now
            if not self.lease.renew():
                raise ReconcileAborted("the run's lease expired and was taken over")
            self.run.save()


def month_bounds(*, month: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """"2026-11": its first and the next month's first midnight in the site's time zone
    (an accountant's month, as the admin's dates read), the end no later than now.
    ValueError for anything else, a month not begun, or one that ended more than
    ``DAYS_MAX`` days ago."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if match is None or not 1 <= int(match[2]) <= 12:
        raise ValueError(f"month must be written YYYY-MM, such as 2026-11, not {month!r}")
    year, number = int(match[1]), int(match[2])
    zone = timezone.get_current_timezone()
    since = datetime(year, number, 1, tzinfo=zone)
    until = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    now = (now or timezone.now()).replace(microsecond=0)
    if since > now:
        raise ValueError(f"{month} has not begun")
    if now - until > timedelta(days=DAYS_MAX):  # last December stays in reach all January
        raise ValueError(f"{month} ended more than {DAYS_MAX} days ago")
    return since, min(until, now + timedelta(seconds=1))


def reconciliation_run(*, days: int | None = None, month: str | None = None,
                       trigger: str = "command", page_size: int | None = None
                       ) -> ReconciliationRun:
    """Compare the last ``days`` days (1 to ``DAYS_MAX``), or a calendar ``month``
    ("2026-11", ``month_bounds``), of Stripe with our rows; record the run, its
    mismatches, and mail ops about new ones. ValueError for bad ``days`` or ``month``
    (nothing is written). ``page_size``: intents or charges per Stripe list call (at most
    100, Stripe's limit and the default)."""
    if (days is None) == (month is None):
        raise ValueError("name either days or a month")
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}")
    if page_size is not None and not 1 <= page_size <= gateway.PAGE_SIZE:
        raise ValueError(f"page_size must be from 1 to {gateway.PAGE_SIZE}")
    if month is not None:
        since, until = month_bounds(month=month)
        days = max(1, -(-(until - since) // timedelta(days=1)))  # whole days, rounded up
    else:
        days = days_valid(days)
        until = timezone.now().replace(microsecond=0) + timedelta(seconds=1)  # this second
        since = until - timedelta(days=days)
    up_to_now = until > timezone.now()  # a month under way, or the last days
    window = {"trigger": trigger, "days": days, "window_start": since, "window_end": until}
    with lease_hold(name=LEASE_NAME, ttl=LEASE_TTL) as lease:
        if lease is None:
            return ReconciliationRun.objects.create(
                **window, status=ReconciliationRun.Status.SKIPPED, finished_at=timezone.now())
        work = Work(run=ReconciliationRun.objects.create(**window), lease=lease,
                    page_size=page_size)
        run = work.run
        try:
            findings = _compare(work, since=since, until=until)
            # A past window (a month reconciled afterwards) lists only what Stripe made
            # in it: a second charge made after it ended (a November order charged again
            # on 1 December) is out of its sight, and would be closed unseen.
            _record(run, findings, since=since, until=until, resolving=up_to_now)
            run.status = ReconciliationRun.Status.DONE
        except (ReconcileAborted, gateway.PaymentError) as error:
            run.status, run.errors = ReconciliationRun.Status.FAILED, str(error)
        except BaseException as error:  # a crash, a Ctrl-C, a time limit: recorded, raised
            run.status, run.errors = ReconciliationRun.Status.FAILED, repr(error) or "stopped"
            raise
        finally:
            run.finished_at = timezone.now()
            run.save()
        if run.status == ReconciliationRun.Status.DONE:
            _mail(run)  # under the lease: two runs never mail the same finding
        return run


def reconciliation_covered(*, run: ReconciliationRun) -> bool:
    """Whether the run under way (the lease's holder, the newest running) covers the
    window of ``run``, which it made skip, at both ends: a daily run skipped behind the
    last day's run an event asked for is not covered (its first day would go
    unreconciled), nor behind a past month's, nor behind a run killed long ago whose row
    still says running (its window ended then)."""
    holder = ReconciliationRun.objects.filter(status=ReconciliationRun.Status.RUNNING).exclude(
        pk=run.pk).order_by("-started_at").first()
    return holder is not None and holder.window_start <= run.window_start \
        and holder.window_end >= run.window_end - LEASE_TTL


# An event showed an order paid by an intent made outside the checkout (a second charge,
# made in Stripe's Dashboard or by another script): the next webhook task runs the
# reconciliation of the last day, which names it and mails ops, instead of the next
# morning's. At most one such run every SOON_AT_MOST_SECONDS, whatever the events say.
SOON_KEY = "payments:reconcile:soon"
SOON_RECENT_KEY = "payments:reconcile:soon-recent"
SOON_AT_MOST_SECONDS = 600


def reconcile_soon_request(*, order_reference: str = "", again: str = "") -> None:
    """Ask for the last day's reconciliation at the next webhook task: an intent made
    outside the checkout paid ``order_reference``, or (``again``: why) the run asked for
    was skipped, failed or could not be queued."""
    if again:
        log.warning("The reconciliation a payment made outside the checkout asked for %s: "
                    "asking again", again)
    else:
        log.error("An intent made outside the checkout paid order %s: reconciling the last "
                  "day now (a second charge?)", order_reference)
    cache.set(SOON_KEY, order_reference or again, SOON_AT_MOST_SECONDS * 6)


def reconcile_soon_take() -> bool:
    """True once per request, and not again within ``SOON_AT_MOST_SECONDS``: whether the
    caller (a task) should run the reconciliation now."""
    if cache.get(SOON_KEY) is None or not cache.add(SOON_RECENT_KEY, True,
                                                    SOON_AT_MOST_SECONDS):
        return False
    cache.delete(SOON_KEY)
    return True


def money_text(money: dict[str, int], *, write: Callable[[int, str], str] | None = None,
               none: str = "none") -> str:
    """A run's money per currency, never summed across currencies: "1,234.50 EUR ·
    4,500 JPY" (each amount as ``write`` puts it: the admin's, unbroken); ``none``
    for no money."""
    write = write or (lambda amount, currency: money_format(amount=amount,
                                                            currency=currency))
    return " · ".join(write(amount, currency)
                      for currency, amount in sorted(money.items())) or none


def reconciliation_found_counts(*, run: ReconciliationRun) -> dict[str, int]:
    """What ``run`` found, by kind (every kind, zero included)."""
    counts = dict.fromkeys(Kind.values, 0)
    for kind in ReconciliationMismatch.objects.filter(last_run=run, resolved=False).values_list(
            "kind", flat=True):
        counts[kind] += 1
    return counts


# --- comparing ---------------------------------------------------------------------------

def _compare(work: Work, *, since: datetime, until: datetime) -> list[Finding]:
    window = {"created_gte": int(since.timestamp()), "created_lt": int(until.timestamp())}
    for page in _pages(work, gateway.payment_intent_page, window):
        _intents_page(work, page)
    for page in _pages(work, gateway.charge_page, window):
        _charges_page(work, page)
    findings = _charged_twice(work)
    _ours_in_window(work, since=since, until=until)
    for intent_id in sorted(work.candidates):  # read again: a payment moving is no finding
        findings.extend(_intent_recheck(work, intent_id))
    findings.extend(_paid_without_attempt(work, since=since, until=until))
    return findings


def _pages(work: Work, lister: Callable[..., gateway.Page], window: dict[str, int]
           ) -> Iterator[list[Any]]:
    after: str | None = None
    while True:
        page = work.read(lambda a=after: lister(**window, starting_after=a,
                                                limit=work.page_size))
        yield page.items
        work.tick()
        after = page.cursor
        if after is None:
            return


def _intents_page(work: Work, intents: list[IntentData]) -> None:
    ours = _ours_of(intents)
    for intent in intents:
        mine = ours.get(intent.id)
        if mine is None:
            work.run.intents_outside += 1
            work.outside.add(intent.id)
            continue
        work.run.intents_compared += 1
        work.order_of_intent[intent.id] = mine.order_reference
        if intent.status == Status.SUCCEEDED:
            work.succeeded[intent.id] = (intent.latest_charge, intent.amount)
            if mine.attempt_id is None and mine.order_id is not None:
                work.charged_outside.add(mine.order_reference)
        if _intent_findings(intent, mine):
            work.candidates.add(intent.id)


def _charges_page(work: Work, charges: list[ChargeData]) -> None:
    work.run.charges_compared += len(charges)
    work.charges_listed.update(charge.id for charge in charges)
    # Captured charges, refunded ones too: the money lines count what was charged and,
    # apart, what went back; only money still held can make a second charge.
    captured = [charge for charge in charges if charge.status == "succeeded"
                and charge.captured and charge.payment_intent
                and charge.payment_intent not in work.outside]
    unknown = {charge.payment_intent for charge in captured} - set(work.order_of_intent)
    known = {row[0]: row[1] for row in PaymentAttempt.objects.filter(
        stripe_id__in=unknown).values_list("stripe_id", "order__reference")}
    for charge in captured:
        intent_id = charge.payment_intent or ""
        reference = work.order_of_intent.get(intent_id) or known.get(intent_id)
        if reference is None:  # an intent made before the window: Stripe names its order
            intent = work.read(lambda i=intent_id: gateway.payment_intent_retrieve(intent_id=i))
            reference = intent.metadata.get("order")
            if reference is None:  # not an order's: another integration's charge
                work.outside.add(intent_id)
                continue
            work.order_of_intent[intent_id] = reference
            work.charged_outside.add(reference)  # none of our attempts holds the intent
        currency = charge.currency.lower()
        for money, amount in ((work.run.money_at_stripe, charge.amount),
                              (work.run.money_refunded, charge.amount - charge.money_taken)):
            if amount:
                money[currency] = money.get(currency, 0) + amount
        if not charge.money_taken:
            continue  # refunded in full: holds nothing of the shopper's
        work.taken.setdefault(reference, {})[charge.id] = charge.money_taken
        work.charge_created[charge.id] = charge.created


def _charged_twice(work: Work) -> list[Finding]:
    # A succeeded intent's charge made before the window took money too.
    for intent_id, (charge_id, amount) in work.succeeded.items():
        if charge_id and charge_id not in work.charges_listed:
            work.taken.setdefault(work.order_of_intent[intent_id], {})[charge_id] = amount
    _earlier_charges_add(work)
    twice = {reference: charges for reference, charges in work.taken.items()
             if len(charges) > 1}
    orders = {order.reference: order for order in Order.objects.filter(
        reference__in=list(twice))}
    findings = []
    for reference, charges in sorted(twice.items()):
        order = orders.get(reference)
        # When the order was charged again: a later run whose window holds that moment
        # resolves the finding once the extra charge is refunded.
        newest = max((work.charge_created[charge] for charge in charges
                      if charge in work.charge_created), default=None)
        findings.append(Finding(
            kind=Kind.CHARGED_TWICE, subject=reference,
            occurred_at=datetime.fromtimestamp(newest, tz=UTC) if newest is not None
            else order.created_at if order else timezone.now(),
            order_id=order.pk if order else None, charge_ids=sorted(charges),
            amount_here=order.amount if order else None,
            amount_at_stripe=sum(charges.values()), currency=order.currency if order else "",
            status_here=order.status if order else "unknown order",
            status_at_stripe=f"{len(charges)} charges"))
    return findings


def _earlier_charges_add(work: Work) -> None:
    """An order charged in the window by an intent not of our checkout, that our checkout
    had paid before the window (charged again in Stripe's Dashboard days later): our
    payment's charge took money too, unless refunded since, which only Stripe knows. One
    read per such order, and only for those: the window's own charges need none."""
    if not work.charged_outside:
        return
    ours = PaymentAttempt.objects.filter(
        order__reference__in=sorted(work.charged_outside), status=Status.SUCCEEDED
    ).exclude(latest_charge="").values_list("order__reference", "latest_charge")
    for reference, charge_id in ours:
        if charge_id in work.charges_listed or charge_id in work.taken.get(reference, {}):
            continue
        try:
            charge = work.read(lambda c=charge_id: gateway.charge_retrieve(charge_id=c))
        except gateway.InvalidRequest as error:  # not Stripe's any more: nothing to count
            log.warning("reconciliation: the charge %s of order %s: %s", charge_id,
                        reference, error.message)
            continue
        if charge.money_taken:
            work.taken.setdefault(reference, {})[charge.id] = charge.money_taken
            work.charge_created[charge.id] = charge.created


def _ours_in_window(work: Work, *, since: datetime, until: datetime) -> None:
    """Our attempts of the window: each must agree with Stripe. Those whose intent the
    list did not bring (made at the window's edge, or unknown to Stripe) are read one by
    one if we hold them as succeeded."""
    attempts = PaymentAttempt.objects.filter(created_at__gte=since, created_at__lt=until)
    work.run.attempts_compared = attempts.count()
    paid = orders_paid_totals(since=since, until=until)
    work.run.orders_paid = paid.count
    work.run.money_here = {currency.lower(): amount for currency, amount in paid.amounts}
    succeeded = attempts.filter(status=Status.SUCCEEDED, stripe_id__isnull=False)
    work.candidates.update(stripe_id for stripe_id in succeeded.values_list(
        "stripe_id", flat=True).iterator() if stripe_id not in work.order_of_intent)


def _intent_recheck(work: Work, intent_id: str) -> list[Finding]:
    try:
        intent = work.read(lambda: gateway.payment_intent_retrieve(intent_id=intent_id))
    except gateway.IntentMissing:
        intent = None
    if intent is None:  # Stripe does not know it: only ours can say what it was
        attempt = PaymentAttempt.objects.select_related("order").filter(
            stripe_id=intent_id).first()
        if attempt is None or attempt.status != Status.SUCCEEDED:
            return []
        return [Finding(kind=Kind.PAID_HERE_ONLY, subject=intent_id,
                        occurred_at=attempt.created_at, order_id=attempt.order_id,
                        attempt_id=attempt.pk, stripe_id=intent_id,
                        amount_here=attempt.order.amount, currency=attempt.order.currency,
                        status_here=attempt.status, status_at_stripe="unknown to Stripe")]
    mine = _ours_of([intent]).get(intent.id)
    return _intent_findings(intent, mine) if mine else []


def _intent_findings(intent: IntentData, mine: Ours) -> list[Finding]:
    """What one intent of ours says against our rows (charged twice aside)."""
    base = {"subject": intent.id, "stripe_id": intent.id, "order_id": mine.order_id,
            "attempt_id": mine.attempt_id,
            "occurred_at": datetime.fromtimestamp(intent.created, tz=UTC),
            "amount_here": mine.order_amount, "currency": mine.order_currency or intent.currency,
            "status_at_stripe": intent.status}
    if intent.status == Status.SUCCEEDED:
        if mine.order_status != Order.Status.PAID:
            return [Finding(kind=Kind.PAID_AT_STRIPE_ONLY, amount_at_stripe=intent.amount,
                            status_here=mine.attempt_status or mine.order_status or
                            "unknown order", **base)]
        if (intent.amount, intent.currency) != (mine.order_amount, mine.order_currency):
            return [Finding(kind=Kind.AMOUNT_DIFFERS, amount_at_stripe=intent.amount,
                            status_here=mine.attempt_status, **base)]
    elif mine.attempt_status == Status.SUCCEEDED:
        return [Finding(kind=Kind.PAID_HERE_ONLY, amount_at_stripe=0,
                        status_here=mine.attempt_status, **base)]
    if mine.attempt_id is not None and mine.attempt_status != intent.status \
            and mine.attempt_status not in OURS_ONLY:
        return [Finding(kind=Kind.STATUS_DIFFERS, amount_at_stripe=intent.amount,
                        status_here=mine.attempt_status, **base)]
    return []


def _ours_of(intents: list[IntentData]) -> dict[str, Ours]:
    """Our rows for a page of intents, in three queries: attempts by intent id, then, for
    the rest, orders by the reference in the intent's metadata (a lost create, or an
    intent made for an order outside this checkout) and their attempt by number."""
    found: dict[str, Ours] = {}
    for row in PaymentAttempt.objects.filter(stripe_id__in=[i.id for i in intents]).values(
            "pk", "stripe_id", "status", "order_id", "order__reference", "order__status",
            "order__amount", "order__currency"):
        found[row["stripe_id"]] = Ours(
            order_id=row["order_id"], order_reference=row["order__reference"],
            order_status=row["order__status"], order_amount=row["order__amount"],
            order_currency=row["order__currency"], attempt_id=row["pk"],
            attempt_status=row["status"])
    named = [i for i in intents if i.id not in found and i.metadata.get("order")]
    if not named:
        return found
    orders = {order.reference: order for order in Order.objects.filter(
        reference__in={i.metadata["order"] for i in named})}
    attempts = {(a.order_id, a.number): a for a in PaymentAttempt.objects.filter(
        order__in=list(orders.values()), stripe_id__isnull=True)}
    for intent in named:
        order = orders.get(intent.metadata["order"])
        if order is None:
            found[intent.id] = Ours(order_id=None, order_reference=intent.metadata["order"],
                                    order_status="", order_amount=None, order_currency="")
            continue
        number = intent.metadata.get("attempt", "")
        attempt = attempts.get((order.pk, int(number))) if number.isdigit() else None
        found[intent.id] = Ours(
            order_id=order.pk, order_reference=order.reference, order_status=order.status,
            order_amount=order.amount, order_currency=order.currency,
            attempt_id=attempt.pk if attempt else None,
            attempt_status=attempt.status if attempt else "")
    return found


def _paid_without_attempt(work: Work, *, since: datetime, until: datetime) -> list[Finding]:
    """Orders of the window paid here with no succeeded attempt at all."""
    orders = Order.objects.filter(created_at__gte=since, created_at__lt=until,
                                  status=Order.Status.PAID).exclude(
        attempts__status=Status.SUCCEEDED)
    return [Finding(kind=Kind.PAID_HERE_ONLY, subject=order.reference,
                    occurred_at=order.created_at, order_id=order.pk,
                    amount_here=order.amount, amount_at_stripe=0, currency=order.currency,
                    status_here=order.status, status_at_stripe="no succeeded payment")
            for order in orders]


# --- recording ---------------------------------------------------------------------------

def _record(run: ReconciliationRun, findings: list[Finding], *, since: datetime,
            until: datetime, resolving: bool = True) -> None:
    """The run's findings as mismatches; with ``resolving``, the window's earlier ones not
    found again are resolved."""
    now = timezone.now()
    kept: list[int] = []
    for finding in findings:
        values = {"order_id": finding.order_id, "attempt_id": finding.attempt_id,
                  "stripe_id": finding.stripe_id, "charge_ids": finding.charge_ids,
                  "amount_here": finding.amount_here,
                  "amount_at_stripe": finding.amount_at_stripe, "currency": finding.currency,
                  "status_here": finding.status_here,
                  "status_at_stripe": finding.status_at_stripe,
                  "occurred_at": finding.occurred_at, "last_run": run, "last_found_at": now}
        mismatch, created = _mismatch_get_or_create(run, finding, values)
        if not created:
            reopened = mismatch.resolved
            for name, value in values.items():
                setattr(mismatch, name, value)
            if reopened:  # found again after it was resolved: news for ops again
                mismatch.resolved, mismatch.resolved_at, mismatch.mailed_at = False, None, None
            mismatch.save()
            created = reopened
        run.mismatches_new += int(created)
        kept.append(mismatch.pk)
    run.mismatches_found = len(kept)
    if not resolving:
        return
    # What this window held and was not found again is no longer a mismatch.
    run.mismatches_resolved = ReconciliationMismatch.objects.filter(
        resolved=False, occurred_at__gte=since, occurred_at__lt=until).exclude(
        pk__in=kept).update(resolved=True, resolved_at=now)


def _mismatch_get_or_create(run: ReconciliationRun, finding: Finding,
                            values: dict[str, Any]) -> tuple[ReconciliationMismatch, bool]:
    try:
        with transaction.atomic():
            return ReconciliationMismatch.objects.get_or_create(
                kind=finding.kind, subject=finding.subject,
                defaults={**values, "first_run": run})
    except IntegrityError:  # written meanwhile (the lease was lost): take that row
        return ReconciliationMismatch.objects.get(kind=finding.kind,
                                                  subject=finding.subject), False


def _mail(run: ReconciliationRun) -> None:
    """One mail to ops about the findings not mailed yet; a failed send is recorded on the
    run and tried again by the next run."""
    try:
        run.mailed = ops_mail.ops_reconciliation_alert_send(run=run)
    except OSError as error:
        log.warning("reconciliation #%s: ops mail failed", run.pk, exc_info=True)
        run.errors = f"ops mail not sent: {error!r}"
    run.save(update_fields=["mailed", "errors"])
