"""Ops actions on incidents: confirm now, send an authentication link, cancel, refresh
from Stripe.

An action is planned first (``recovery_plan``), so the confirmation page can say what
will happen to how many payments; ``recovery_issue`` stores the page's one-time token
with the payments it shows (``OpsAction`` and its items, each with the version shown);
``recovery_submit`` takes that token once; ``recovery_run`` does the work, one payment
at a time, each with its own result (in the request for one payment, in a Celery job
for several: ``payments.recovery.tasks``). Each payment goes through the checkout's own
services, under the same order lock and idempotency keys, so an ops confirm racing the
shopper's confirm charges once; the ledger and Django's admin history name the staff
user.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop, ngettext

from payments.checkout.errors import (
    CheckoutError,
    PaymentInvalid,
    PaymentRateLimited,
    PaymentUnavailable,
)
from payments.checkout.locks import OrderLockTimeout
from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.checkout.services import checkout_cancel, checkout_finalize, checkout_order_held
from payments.checkout.status import payment_status_record_missing
from payments.monitoring import refresh
from payments.monitoring.incidents import incident_finalize_sent
from payments.monitoring.leases import lease_hold, lease_ttl
from payments.monitoring.models import Incident, ScanLock
from payments.recovery.links import recovery_link_create, recovery_link_mail
from payments.recovery.models import OpsAction, OpsActionItem, RecoveryLink
from payments.shop.models import Order
from payments.stripe import facts, gateway

log = logging.getLogger(__name__)

Action = OpsAction.Kind
Result = OpsActionItem.Result
Status = PaymentAttempt.Status
ADMIN = PaymentEvent.Source.ADMIN
FINISHED = (OpsAction.Status.ISSUED, OpsAction.Status.DONE, OpsAction.Status.FAILED,
            OpsAction.Status.STOPPED)
AT_WORK = (OpsAction.Status.QUEUED, OpsAction.Status.RUNNING)
LEASE_PREFIX = "ops-action:"
# A submitted action still queued this long was never handed to a worker (the broker was
# down when it was submitted): the resume runs it.
RESUME_AFTER = timedelta(minutes=2)
RESUME_PAGE = 20

# The reasons ops may give (Stripe's "duplicate" is for payments made twice, which the
# checkout never does).
CANCEL_REASONS = {reason: label for reason, label in facts.CANCELLATION_REASONS.items()
                  if reason != "duplicate"}
# What an action writes (an item's detail, its summary, the admin's history) is stored in
# English, whatever language the staff member who ran it reads: the same action writes the
# same words. A detail that is one of the msgids marked here reads translated on a page
# (``detail_words``).
STORED_LANGUAGE = "en"
# "3 confirmed": what the action did, in the active language, with the count's plural
# (French: "1 annulé", "2 annulés").
DONE = {
    Action.CONFIRM: lambda n: ngettext("%(count)s confirmed", "%(count)s confirmed", n),
    Action.SEND_LINK: lambda n: ngettext("%(count)s link sent", "%(count)s links sent", n),
    Action.CANCEL: lambda n: ngettext("%(count)s canceled", "%(count)s canceled", n),
    Action.REFRESH: lambda n: ngettext("%(count)s refreshed", "%(count)s refreshed", n)}
# What one payment's row says when the action did it.
DONE_ONE = {Action.CONFIRM: gettext_noop("confirmed"),
            Action.SEND_LINK: gettext_noop("link sent"),
            Action.CANCEL: gettext_noop("canceled"), Action.REFRESH: gettext_noop("refreshed")}
# The permission (on Incident) each action needs: the admin checks it when the action is
# submitted, and every payment checks it again, so a user deactivated or taken out of
# the group mid-run stops acting (a 500-payment cancel ran on for its author's minutes).
ACTION_PERMISSIONS = {Action.CONFIRM: "confirm_payment",
                      Action.SEND_LINK: "send_recovery_link",
                      Action.CANCEL: "cancel_payment", Action.REFRESH: "refresh_payment"}
ACCESS_WITHDRAWN = gettext_noop("not done: the user who started this action no longer has "
                                "access (the payment is as it was)")
STOPPED_BY_OPS = gettext_noop("stopped before its turn (the payment is as it was)")
# Why a payment is skipped when its incident has ended already.
ALREADY = {Incident.Status.RECOVERED: gettext_noop("already recovered (paid later)"),
           Incident.Status.AUTO_FINALIZED: gettext_noop("already auto-finalized"),
           Incident.Status.CANCELED: gettext_noop("already canceled"),
           Incident.Status.LOST: gettext_noop("already lost")}
# A payment settled since the page was shown says how, rather than "changed since you
# looked".
SETTLED = {*ALREADY.values(), gettext_noop("already paid")}
# Kinds a shopper can fix by authenticating again, or by paying with another card.
LINKABLE = {Incident.Kind.ACTION_ABANDONED, Incident.Kind.AUTHENTICATION_FAILED,
            Incident.Kind.REQUIRES_ACTION_NOT_HANDLED, Incident.Kind.EXPIRED}
# A card decline is the shopper's bank saying no: monitoring shows it, ops have nothing
# to act on.
NOT_ACTIONABLE = {Incident.Kind.CARD_DECLINED}
# A confirmation page older than this is refused: what it showed is long out of date.
TOKEN_LIFETIME = timedelta(hours=12)
NOT_SHOWN = gettext_noop("This confirmation page is not one this site showed you.")
# How a stored summary says the run stopped (an exception's class name).
STOPPED = re.compile(r" \(stopped: (?P<error>\w+)\)$")
STRIPE_UNKNOWN = gettext_noop("Stripe does not know this payment (keys or account changed?)")
# Stripe down, slow or refusing with 429: ops' words, not the shopper's ("Nothing was
# charged twice; please try again" said nothing to ops about a cancel).
STRIPE_SILENT = gettext_noop("Stripe did not answer; try again")
CONFIRM_READ = gettext_noop("Stripe did not answer the confirm; read since, the payment "
                            "is not paid (its ledger says where it stands)")
CONFIRM_UNKNOWN = gettext_noop("Stripe did not answer: whether the card was charged is not "
                               "known yet; Refresh from Stripe before acting again")


@dataclass
class Plan:
    action: str
    eligible: list[Incident] = field(default_factory=list)
    skipped: list[tuple[Incident, str]] = field(default_factory=list)


@dataclass
class Outcome:
    action: str
    done: int = 0
    skipped: Counter = field(default_factory=Counter)
    unfinished: int = 0  # payments not yet acted on (a job continues)

    @property
    def message(self) -> str:
        """"3 confirmed, 1 skipped: already paid", in English: what is stored (the
        action's summary), whichever language the staff member reads."""
        with translation.override(STORED_LANGUAGE):
            return self.words()

    def words(self) -> str:
        """The message in the active language ("1 storniert" in German, "2 annulés" in
        French): what a page or a message after the action shows."""
        parts = [DONE[self.action](self.done) % {"count": self.done}]
        parts += [ngettext("%(count)s skipped: %(reason)s", "%(count)s skipped: %(reason)s",
                           count) % {"count": count, "reason": detail_words(reason)}
                  for reason, count in self.skipped.items()]
        if self.unfinished:
            parts.append(ngettext("%(count)s still to do", "%(count)s still to do",
                                  self.unfinished) % {"count": self.unfinished})
        return ", ".join(parts)


class AlreadySubmitted(Exception):
    """This form was submitted before; ``previous`` says what it did then."""

    def __init__(self, previous: OpsAction) -> None:
        super().__init__(previous.summary)
        self.previous = previous


class TokenRefused(Exception):
    """The form's token was not issued to this user for this action, or is too old."""


class StopRefused(Exception):
    """The action is not at work, or the user may not take this action."""


# --- ops actions -------------------------------------------------------------------------

def recovery_plan(*, action: str, incidents: Sequence[Incident]) -> Plan:
    """What ``action`` would do to each incident, without doing it."""
    plan, seen = Plan(action=action), set()
    # Each order's latest attempt, in one query for the page (up to 500 payments).
    latest = dict(PaymentAttempt.objects.filter(
        order_id__in={incident.order_id for incident in incidents if incident.order_id})
        .order_by().values("order_id").annotate(latest=Max("number"))
        .values_list("order_id", "latest"))
    for incident in incidents:
        reason = _skip_reason(action, incident, seen, latest_numbers=latest)
        if reason:
            plan.skipped.append((incident, reason))
        else:
            plan.eligible.append(incident)
            seen.add(incident.stripe_id)
    return plan


def recovery_issue(*, action: str, incidents: Sequence[Incident], user: User) -> OpsAction:
    """The confirmation page's one-time token, stored with the payments the page shows and
    the version of each it shows. Pages shown and never submitted are forgotten after
    ``TOKEN_LIFETIME``."""
    if action not in Action.values:
        raise ValueError(f"Unknown ops action {action!r}.")
    now = timezone.now()
    OpsAction.objects.filter(status=OpsAction.Status.ISSUED,
                             created_at__lt=now - TOKEN_LIFETIME).delete()
    with transaction.atomic():
        record = OpsAction.objects.create(kind=action, user=user, requested=len(incidents))
        OpsActionItem.objects.bulk_create([
            OpsActionItem(ops_action=record, incident=incident, position=position,
                          version=incident_version(incident))
            for position, incident in enumerate(incidents)])
    return record


def recovery_issued(*, token: uuid.UUID, action: str, user: User) -> OpsAction:
    """The issued, not yet submitted action of this token (to show its page again)."""
    record = OpsAction.objects.filter(pk=token, kind=action, user=user,
                                      status=OpsAction.Status.ISSUED).first()
    if record is None:
        raise TokenRefused(NOT_SHOWN)
    return record


def recovery_submit(*, token: uuid.UUID, action: str, user: User,
                    reason: str = "") -> OpsAction:
    """Take the page's token, once: the action is then queued (``recovery_run`` does it).

    Raises ``TokenRefused`` for a token this site did not issue to this user for this
    action (a made-up one, another person's, another action's) or one older than
    ``TOKEN_LIFETIME``; ``AlreadySubmitted`` when it was taken before; ``ValueError`` for a
    cancellation without one of ``CANCEL_REASONS``."""
    record = OpsAction.objects.filter(pk=token, kind=action, user=user).first()
    if record is None:
        raise TokenRefused(NOT_SHOWN)
    if record.status != OpsAction.Status.ISSUED:
        raise AlreadySubmitted(record)
    if record.created_at < timezone.now() - TOKEN_LIFETIME:
        raise TokenRefused(gettext_noop("This confirmation page is too old."))
    if action == Action.CANCEL and reason not in CANCEL_REASONS:
        raise ValueError(f"Unknown cancellation reason {reason!r}.")
    taken = OpsAction.objects.filter(pk=token, status=OpsAction.Status.ISSUED).update(
        status=OpsAction.Status.QUEUED, submitted_at=timezone.now(),
        reason=reason if action == Action.CANCEL else "")
    record.refresh_from_db()
    if not taken:  # a second submit at the same moment
        raise AlreadySubmitted(record)
    return record


def recovery_run(*, action_id: uuid.UUID, budget_seconds: float | None = None) -> Outcome:
    """Act on the payments of a submitted action, each once, each with its result; those
    changed since the page showed them are skipped, not acted on.

    Runs until every payment has a result, or ``budget_seconds`` have passed (the job
    then continues in a new task: ``Outcome.unfinished``). A run after a lost worker
    picks up the payments without a result. Nothing a payment raises stops the others:
    Stripe's refusals and errors of ours alike become that payment's result."""
    record = OpsAction.objects.select_related("user").get(pk=action_id)
    if record.status in FINISHED:
        return _outcome(record)
    # One run at a time (a redelivered message, the resume, a continuation): the lease
    # also tells the resume which running actions still have a live worker.
    with lease_hold(name=f"{LEASE_PREFIX}{record.pk}", ttl=lease_ttl()) as lease:
        record.refresh_from_db(fields=["status"])
        if lease is None or record.status in FINISHED:
            return _outcome(record)
        # In the request for one payment the staff member's language is active; what is
        # stored must not depend on it (the shopper's mails set the order's own language).
        with translation.override(STORED_LANGUAGE):
            return _run_held(record, budget_seconds)


def recovery_stop(*, action_id: uuid.UUID, user: User) -> OpsAction:
    """Stop an action at work (its progress page's Stop): the payment being acted on
    finishes, the others are left as they were, each with that said. Anyone who may take
    the action may stop it (a colleague stops a mistaken bulk cancel whose author has
    gone home). An action still waiting for a worker stops at once; one at work at its
    next payment (``_run_held`` looks before each).

    Raises ``StopRefused`` when the action has finished or the user lacks its
    permission."""
    record = OpsAction.objects.filter(pk=action_id).first()
    if record is None or not user.has_perm(f"payments.{ACTION_PERMISSIONS[record.kind]}"):
        raise StopRefused(gettext_noop("You may not stop this action."))
    asked = OpsAction.objects.filter(pk=action_id, status__in=AT_WORK).update(
        stop_requested_at=timezone.now(), stop_requested_by=user)
    if not asked:
        raise StopRefused(gettext_noop("This action has finished: there is nothing to "
                                       "stop."))
    # Nobody runs it yet: stopped now (a worker taking it meanwhile finds the stop asked
    # at its first payment and ends it the same way).
    with transaction.atomic(), translation.override(STORED_LANGUAGE):
        waiting = OpsAction.objects.select_for_update().filter(
            pk=action_id, status=OpsAction.Status.QUEUED).first()
        if waiting is not None:
            _stopped(waiting)
    record.refresh_from_db()
    return record


def _stop_requested(record: OpsAction) -> bool:
    return OpsAction.objects.filter(pk=record.pk, stop_requested_at__isnull=False).exists()


def _stopped(record: OpsAction) -> Outcome:
    """End the action as stopped: its payments not yet acted on say so, or why the action
    would have skipped them anyway (a card decline read "stopped before its turn" where
    a finished action said "card decline"; user test)."""
    by_detail: dict[str, list[int]] = {}
    for item in record.items.filter(result=Result.PENDING).select_related(
            "incident__attempt", "incident__order"):
        detail = _skip_reason(record.kind, item.incident, set()) or STOPPED_BY_OPS
        by_detail.setdefault(detail, []).append(item.pk)
    for detail, pks in by_detail.items():
        OpsActionItem.objects.filter(pk__in=pks, result=Result.PENDING).update(
            result=Result.SKIPPED, detail=detail, finished_at=timezone.now())
    _counts_save(record)
    outcome = _outcome(record)
    OpsAction.objects.filter(pk=record.pk).update(
        status=OpsAction.Status.STOPPED, finished_at=timezone.now(), summary=outcome.message)
    return outcome


def recovery_stalled_resume(*, budget_seconds: float, now: datetime | None = None) -> int:
    """Run the submitted actions no worker has (beat, every minute): queued for longer
    than ``RESUME_AFTER`` (their publish failed: the broker was down) or running with no
    live lease (their worker died). Stops starting new ones after ``budget_seconds``;
    returns how many it ran."""
    now = now or timezone.now()
    held = set(ScanLock.objects.filter(name__startswith=LEASE_PREFIX, expires_at__gte=now)
               .values_list("name", flat=True))
    stalled = (OpsAction.objects
               .filter(Q(status=OpsAction.Status.QUEUED, submitted_at__lt=now - RESUME_AFTER)
                       | Q(status=OpsAction.Status.RUNNING))
               .order_by("submitted_at").values_list("pk", flat=True)[:RESUME_PAGE])
    started, ran = time.monotonic(), 0
    for action_id in stalled:
        remaining = budget_seconds - (time.monotonic() - started)
        if remaining <= 0:
            break
        if f"{LEASE_PREFIX}{action_id}" in held:
            continue
        try:
            recovery_run(action_id=action_id, budget_seconds=remaining)
        except Exception:  # recorded on the action (FAILED); the others go on
            log.warning("ops action %s not resumed", action_id, exc_info=True)
        ran += 1
    return ran


def _run_held(record: OpsAction, budget_seconds: float | None) -> Outcome:
    if not OpsAction.objects.filter(pk=record.pk, status__in=AT_WORK).update(
            status=OpsAction.Status.RUNNING):
        return _outcome(record)  # stopped while it waited for this worker
    started = time.monotonic()
    try:
        items = (record.items.filter(result=Result.PENDING)
                 .select_related("incident__attempt", "incident__order").order_by("position"))
        acted = set(record.items.filter(result=Result.DONE)
                    .values_list("incident__stripe_id", flat=True))
        for item in items:
            if budget_seconds is not None and time.monotonic() - started > budget_seconds:
                break
            if _stop_requested(record):
                return _stopped(record)
            item.result, item.detail = _item_run(record, item, acted)
            item.finished_at = timezone.now()
            item.save(update_fields=["result", "detail", "finished_at"])
            if item.result == Result.DONE:
                acted.add(item.incident.stripe_id)
                _history_write(record, item)
            _counts_save(record)
    except BaseException as error:  # a time limit, a lost database: said, then raised
        log.exception("ops action %s stopped", record.pk)
        _counts_save(record)
        outcome = _outcome(record)
        OpsAction.objects.filter(pk=record.pk).update(
            status=OpsAction.Status.FAILED, finished_at=timezone.now(),
            summary=f"{outcome.message} (stopped: {type(error).__name__})")  # STOPPED
        raise
    outcome = _outcome(record)
    if not outcome.unfinished:
        OpsAction.objects.filter(pk=record.pk).update(
            status=OpsAction.Status.DONE, finished_at=timezone.now(), summary=outcome.message)
    return outcome


def recovery_history(*, incidents: Sequence[Incident] | None = None,
                     order: Order | None = None) -> QuerySet[OpsActionItem]:
    """What submitted ops actions did to these incidents (or to every payment of
    ``order``), newest first, each row with its action and staff user."""
    items = (OpsActionItem.objects.exclude(ops_action__status=OpsAction.Status.ISSUED)
             .select_related("ops_action__user", "incident")
             .order_by("-ops_action__submitted_at", "-pk"))
    if order is not None:
        return items.filter(incident__order=order)
    return items.filter(incident__in=list(incidents or []))


def recovery_summaries(*, records: Sequence[OpsAction]) -> dict[uuid.UUID, str]:
    """Each finished action's summary in the reader's language, from its payments'
    results (the stored ``summary`` is English: it is what was written then); one query
    for all of them. An action still at work has none yet ("")."""
    finished = [record for record in records if record.summary]
    outcomes = {record.pk: Outcome(action=record.kind) for record in finished}
    rows = (OpsActionItem.objects.filter(ops_action__in=list(outcomes))
            .values_list("ops_action", "result", "detail")
            .annotate(n=Count("pk"), first=Min("position")).order_by("ops_action", "first"))
    for action_id, result, detail, n, _first in rows:
        outcome = outcomes[action_id]
        if result == Result.DONE:
            outcome.done += n
        elif result == Result.PENDING:
            outcome.unfinished += n
        else:
            outcome.skipped[detail] += n
    summaries = {}
    for record in finished:
        text = outcomes[record.pk].words()
        stopped = STOPPED.search(record.summary)
        if stopped:
            text += " " + gettext("(stopped: %(error)s)") % {"error": stopped["error"]}
        summaries[record.pk] = text
    return summaries


def detail_words(detail: str) -> str:
    """A stored detail or skip reason (English) in the reader's language, when it is one of
    the msgids marked above; any other (Stripe's own words) as stored."""
    return gettext(detail) if detail else detail


def incident_version(incident: Incident) -> str:
    """What the action depends on, as the confirmation page showed it: the incident's
    status and kind, its payment's and order's status, the amount, where a link would go
    and the links already sent. The execution compares it: a payment paid, canceled,
    re-challenged or sent a link since is skipped. A scan that only saw the payment again
    changes none of it (the page would otherwise be stale within a minute)."""
    attempt, order = incident.attempt, incident.order
    parts = [incident.status, incident.kind, incident.intent_status,
             attempt.status if attempt else "", str(attempt.confirmations) if attempt else "",
             order.status if order else "", order.email if order else "",
             f"{incident.amount}{incident.currency}",
             ",".join(sorted(str(link.pk) for link in incident.recovery_links.all()))]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _outcome(record: OpsAction) -> Outcome:
    outcome = Outcome(action=record.kind)
    for result, detail in record.items.order_by("position").values_list("result", "detail"):
        if result == Result.DONE:
            outcome.done += 1
        elif result == Result.PENDING:
            outcome.unfinished += 1
        else:
            outcome.skipped[detail] += 1
    return outcome


def _counts_save(record: OpsAction) -> None:
    """The action's counts so far, for its progress page (one query, whatever its size)."""
    counts = record.items.aggregate(
        done=Count("pk", filter=Q(result=Result.DONE)),
        skipped=Count("pk", filter=Q(result__in=[Result.SKIPPED, Result.FAILED])))
    OpsAction.objects.filter(pk=record.pk).update(**counts)


def _item_run(record: OpsAction, item: OpsActionItem, acted: set[str]) -> tuple[str, str]:
    """One payment: (result, what happened in words). Read, checked and acted on under
    its order's lock: two ops people's actions on one payment (a cancel and a link, two
    cancels) then run one after the other, the second seeing what the first did."""
    incident, skip = item.incident, None
    if not _author_may_act(record):
        return Result.SKIPPED, ACCESS_WITHDRAWN
    try:
        with _payment_held(incident):
            incident = _incident_reread(incident)
            skip = _skip_reason(record.kind, incident, acted)
            if incident_version(incident) != item.version and skip not in SETTLED:
                return Result.SKIPPED, gettext_noop("changed since you looked")
            if skip:
                return Result.SKIPPED, skip
            if record.kind == Action.SEND_LINK:
                # The link's row under the lock (a cancel waiting for it sees the link, and
                # none is made for an order just canceled); its mail after, as a slow mail
                # server must not hold the shopper's /pay.
                link, token = recovery_link_create(incident=incident, user=record.user)
            elif record.kind != Action.REFRESH:
                skip = _act(record.kind, incident, user=record.user, reason=record.reason)
        if record.kind == Action.SEND_LINK:
            skip = _link_mail(link, token)
        elif record.kind == Action.REFRESH:  # decides nothing: its Stripe read needs no lock
            skip = _act(record.kind, incident, user=record.user, reason=record.reason)
    except OrderLockTimeout:
        return Result.SKIPPED, gettext_noop("the payment was busy (the shopper or another "
                                            "action); try again")
    except Exception:  # ours, not Stripe's: logged, this payment fails, the others go on
        log.exception("ops action %s on incident %s", record.pk, incident.pk)
        return Result.FAILED, gettext_noop("failed with an error of ours (logged)")
    if skip is not None:
        return Result.SKIPPED, skip
    return Result.DONE, DONE_ONE[record.kind]


def _author_may_act(record: OpsAction) -> bool:
    """Read afresh (Django caches a user's permissions on the object): still active and
    still holding the action's permission."""
    author = User.objects.filter(pk=record.user_id).first()
    return author is not None and author.has_perm(
        f"payments.{ACTION_PERMISSIONS[record.kind]}")


def _payment_held(incident: Incident) -> AbstractContextManager[None]:
    if incident.order is None:  # not a payment of the checkout: nothing to lock
        return nullcontext()
    return checkout_order_held(order_reference=incident.order.reference)


def _incident_reread(incident: Incident) -> Incident:
    """The incident, its payment and its order as they are now, under the lock."""
    return Incident.objects.select_related("attempt", "order").get(pk=incident.pk)


def _history_write(record: OpsAction, item: OpsActionItem) -> None:
    """Django's admin history ("History", "Recent actions") of the incident and its order:
    what ops did, by whom, through which action. Each entry names its object by the
    order's reference and the incident's kind (``Incident.history_name``), not by the
    shopper's email, which Django's ``log_actions`` would copy from ``str(incident)``."""
    action = record.get_kind_display()
    if record.kind == Action.CANCEL:
        action += f" ({CANCEL_REASONS.get(record.reason, record.reason)})"
    message = f"{action}: {item.detail} (ops action {record.pk})"
    incident = item.incident
    named = [(incident, incident.history_name())]
    if incident.order is not None:
        named.append((incident.order, incident.order.reference))
    LogEntry.objects.bulk_create([
        LogEntry(user_id=record.user_id, action_flag=CHANGE, change_message=message,
                 content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
                 object_id=str(obj.pk), object_repr=name[:200])
        for obj, name in named])


def _skip_reason(action: str, incident: Incident, acted: set[str], *,
                 latest_numbers: dict[int, int] | None = None) -> str | None:
    """Why ``action`` would not act on ``incident`` now, or None. ``latest_numbers``:
    order id -> its latest attempt's number, read for many at once (else read here)."""
    if incident.stripe_id in acted:
        return gettext_noop("same payment as another selected")
    if incident.kind in NOT_ACTIONABLE:
        return gettext_noop("card decline (nothing for ops to do)")
    if action == Action.REFRESH:
        return None
    # Lost is monitoring's verdict (left past a day), not Stripe's: the order is still
    # open and its intent still waits, so ops may still send the link or cancel it (an
    # expired link left the shopper, ops and an erasure request with no way on).
    if incident.status not in (Incident.Status.OPEN, Incident.Status.LOST):
        return ALREADY.get(incident.status, gettext_noop("already ended"))
    attempt, order = incident.attempt, incident.order
    if attempt is None or order is None:
        return gettext_noop("not a payment of this shop's checkout")
    if order.status == Order.Status.PAID or attempt.status == Status.SUCCEEDED:
        return gettext_noop("already paid")
    if order.status == Order.Status.CANCELED or attempt.status == Status.CANCELED:
        return gettext_noop("already canceled")
    if attempt.status == Status.MISSING:
        return gettext_noop("unknown to Stripe")
    replaced = latest_numbers.get(order.pk, attempt.number) > attempt.number \
        if latest_numbers is not None else \
        order.attempts.filter(number__gt=attempt.number).exists()
    if replaced:
        # Its order's shopper paid again since: acting on the old payment (a cancel ends
        # the order too, a confirm may charge it twice) would undo the newer one.
        return gettext_noop("a later payment of the order replaced it")
    if action == Action.CONFIRM and attempt.status != Status.REQUIRES_CONFIRMATION:
        return gettext_noop("not awaiting confirmation")
    if action == Action.SEND_LINK:
        if incident.kind not in LINKABLE:
            return gettext_noop("nothing for the shopper to do")
        if not order.email:
            return gettext_noop("no email address")
    return None


def _act(action: str, incident: Incident, *, user: User, reason: str) -> str | None:
    """Do it; None when done, or why it was skipped after all (Stripe said otherwise)."""
    actor = f"user:{user.get_username()}"
    order = incident.order
    try:
        if action == Action.CONFIRM:
            if not checkout_finalize(order_reference=order.reference, source=ADMIN,
                                     payment_intent_id=incident.stripe_id, actor=actor):
                return gettext_noop("already paid")
        elif action == Action.CANCEL:
            if not checkout_cancel(order_reference=order.reference, reason=reason,
                                   payment_intent_id=incident.stripe_id, source=ADMIN,
                                   actor=actor):
                return gettext_noop("already canceled")
        elif action == Action.REFRESH:
            refresh.intent_refresh(intent_id=incident.stripe_id, source=ADMIN, actor=actor)
    except PaymentInvalid as error:  # ops read Stripe's own words, the shopper the shop's
        return f"Stripe refused: {(error.stripe_message or error.message).rstrip('.')}"
    except PaymentUnavailable:
        if action == Action.CONFIRM:  # Stripe may have charged: learn it before saying
            return _confirm_outcome_learn(incident, actor)
        return STRIPE_SILENT
    except PaymentRateLimited:
        return STRIPE_SILENT
    except CheckoutError as error:
        return error.message.rstrip(".")
    except (gateway.StripeUnavailable, gateway.RateLimited):
        return STRIPE_SILENT
    except gateway.IntentMissing:
        # A key or account change, or a sandbox reset: the ledger says so, and the order
        # may be paid anew.
        if incident.attempt is not None:
            payment_status_record_missing(attempt=incident.attempt, source=ADMIN, actor=actor)
        return STRIPE_UNKNOWN
    except gateway.PaymentError as error:
        return f"Stripe refused: {error.message.rstrip('.')}"
    return None  # the checkout's status record has ended the incidents (payment_settled)


def _confirm_outcome_learn(incident: Incident, actor: str) -> str | None:
    """A confirm whose answer was lost, or kept by Stripe as a 500 after it did the work:
    the card may have been charged. One read of the intent says (and records it); None
    when it went through (the action confirmed it), otherwise why it is not known."""
    # Ours was the last confirm sent: if the read finds it paid, ops paid it, not a
    # sweep's earlier confirm that failed (it labelled the incident "Auto-finalized").
    incident_finalize_sent(stripe_id=incident.stripe_id, sent=False)
    try:
        observed = refresh.intent_refresh(intent_id=incident.stripe_id, source=ADMIN,
                                          actor=actor)
    except gateway.PaymentError:
        return CONFIRM_UNKNOWN
    status = observed.attempt.status if observed.attempt is not None else None
    if status == Status.SUCCEEDED:
        return None
    if status == Status.REQUIRES_CONFIRMATION:  # Stripe did nothing: as it was
        return STRIPE_SILENT
    return CONFIRM_READ  # processing, declined, back at the bank: the ledger says which


def _link_mail(link: RecoveryLink, token: str) -> str | None:
    try:
        recovery_link_mail(link=link, token=token)
    except OSError:  # smtplib's errors: the link exists, the mail did not go
        return gettext_noop("the mail server did not answer; try again")
    return None
