"""Retention: the tables that would otherwise grow for ever, pruned daily by beat
(``retention_prune_task``) or by hand (``manage.py payments_retention``).

- ``ScanRun``: 2–4 rows a minute. Rows older than ``PAYMENTS_RETAIN_SCAN_RUNS_DAYS`` go,
  except each kind's latest finished run (by start and by finish), however old: /metrics'
  ``payments_scan_last_success_age_seconds`` and the stale sweep's catch-up
  (``scans._stale_last_done``) read it, and without it a backfill last run in spring
  would vanish from the gauge and the sweep would catch up each time.
- A ``running`` ScanRun whose worker was killed (kill -9, the hard time limit, out of
  memory) never gets its ``finally``: it is marked failed once older than
  ``CELERY_TASK_TIME_LIMIT`` (no beat-run scan lives longer: Celery kills it there) and
  its kind's lease is no longer held (``payments_scan`` by hand has no time limit, but
  holds the lease while it runs).
- ``WebhookEvent``: processed events ``PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS`` after their
  processing, whole rows. Their bodies are read by the admin (the event's page, the
  incident's list of events) and by nothing else once processed; the id tells a repeat
  (the intake's unique key, the events scan's skip) only while Stripe can send the event
  again: 30 days (``facts.EVENTS_LISTED_FOR``, a floor the setting enforces). A row kept
  with its body blanked would still grow for ever and break those admin pages. An event
  waiting or failing is never touched: it is work still to do.
- ``django_session``: expired sessions (Django's ``clear_expired`` never ran).

Every delete goes ``BATCH`` rows per statement, each its own transaction (autocommit):
no long lock, and a run stopped half-way (a time limit) keeps what it did; the next one
goes on. Running twice, or at once, is harmless.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from importlib import import_module

from django.conf import settings
from django.db.models import QuerySet

from payments.monitoring.models import ScanLock, ScanRun
from payments.stripe.models import WebhookEvent

BATCH = 5_000
ABANDONED = ("abandoned: still running past the task time limit ({seconds} s) with its "
             "lease gone; its worker was killed before it could record the end")


@dataclass(frozen=True)
class Pruned:
    """What one run deleted or marked (with ``dry_run``: would have)."""

    scan_runs_failed: int = 0
    scan_runs_deleted: int = 0
    webhook_events_deleted: int = 0
    sessions_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def retention_prune(*, now: datetime, batch: int = BATCH, dry_run: bool = False) -> Pruned:
    """Prune every table this module keeps in check (see the module's docstring); returns
    the counts. ``dry_run`` counts what would go and changes nothing."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    return Pruned(
        scan_runs_failed=scan_runs_abandoned_fail(now=now, dry_run=dry_run),
        scan_runs_deleted=_delete(scan_runs_old(now=now), batch=batch, dry_run=dry_run),
        webhook_events_deleted=_delete(webhook_events_old(now=now), batch=batch,
                                       dry_run=dry_run),
        sessions_deleted=sessions_expired_clear(now=now, batch=batch, dry_run=dry_run),
    )


def scan_runs_abandoned_fail(*, now: datetime, dry_run: bool = False) -> int:
    """Mark failed the runs left ``running`` by a killed worker; returns how many."""
    limit = settings.CELERY_TASK_TIME_LIMIT
    abandoned = ScanRun.objects.filter(status=ScanRun.Status.RUNNING,
                                       started_at__lt=now - timedelta(seconds=limit))
    live = set(ScanLock.objects.filter(name__startswith="scan:", expires_at__gte=now)
               .values_list("name", flat=True))
    for kind in ScanRun.Kind.values:
        if f"scan:{kind}" in live:  # its holder may be this run (a long one, by hand)
            newest = (ScanRun.objects.filter(kind=kind, status=ScanRun.Status.RUNNING)
                      .order_by("-started_at").values_list("pk", flat=True).first())
            abandoned = abandoned.exclude(pk=newest)
    if dry_run:
        return abandoned.count()
    return abandoned.update(status=ScanRun.Status.FAILED,
                            errors=ABANDONED.format(seconds=limit))


def scan_runs_old(*, now: datetime) -> QuerySet[ScanRun]:
    """The runs past ``PAYMENTS_RETAIN_SCAN_RUNS_DAYS``, less each kind's last finished
    run (by start: the stale sweep's catch-up; by finish: /metrics)."""
    kept = set()
    done = ScanRun.objects.filter(status=ScanRun.Status.DONE)
    for kind in ScanRun.Kind.values:
        for order in ("-started_at", "-finished_at"):
            kept.add(done.filter(kind=kind, finished_at__isnull=False).order_by(order)
                     .values_list("pk", flat=True).first())
    cutoff = now - timedelta(days=settings.PAYMENTS_RETAIN_SCAN_RUNS_DAYS)
    return ScanRun.objects.filter(started_at__lt=cutoff).exclude(
        pk__in=[pk for pk in kept if pk is not None])


def webhook_events_old(*, now: datetime) -> QuerySet[WebhookEvent]:
    """Events processed more than ``PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS`` ago (one
    waiting or failing has no ``processed_at``: never among them)."""
    days = settings.PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS
    return WebhookEvent.objects.filter(processed_at__lt=now - timedelta(days=days))


def sessions_expired_clear(*, now: datetime, batch: int = BATCH, dry_run: bool = False
                           ) -> int:
    """Delete expired sessions; returns how many. The database store's in batches (its
    ``clear_expired`` is one DELETE of them all: the first run's backlog held its lock
    for as long as it took); any other store's by its own ``clear_expired`` (uncounted)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):
        if not dry_run:
            store.clear_expired()
        return 0
    expired = store.get_model_class().objects.filter(expire_date__lt=now)
    return _delete(expired, batch=batch, dry_run=dry_run)


def _delete(rows: QuerySet, *, batch: int, dry_run: bool) -> int:
    """Delete ``rows`` ``batch`` at a time; each statement repeats their filter, so a row
    that changed since it was picked stays."""
    if dry_run:
        return rows.count()
    deleted = 0
    while True:
        pks = list(rows.order_by().values_list("pk", flat=True)[:batch])
        if not pks:
            return deleted
        count, _ = rows.filter(pk__in=pks).delete()
        deleted += count
        if len(pks) < batch:
            return deleted
