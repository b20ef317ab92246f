"""Celery tasks of monitoring: thin, each calls one service. Beat runs the scans and the
ops mail (schedules live in the database, django-celery-beat); the webhook intake queues
``webhook_events_drain_task``.

Names are pinned (``name=``) to where the tasks were first defined: beat's rows in the
database, and any message in a queue, refer to them by name, so moving code must not
rename them. Every task may run twice (acks_late, a worker lost mid-task) or on several
workers at once: the services are idempotent and the scans hold a lease.

Beat's scans wait for the account's Stripe budget at most ``SCAN_BUDGET_PATIENCE_SECONDS``
a read: while shoppers spend it all, a scan that waited without end would hold a worker
process, and the webhook events queued behind it would wait with it. It stops instead,
and the next run (a minute later) goes on from where the scans always start.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from payments.monitoring import events, ops_mail, reconcile, retention, scans
from payments.monitoring.models import ScanRun
from payments.stripe.budget import background_patience, stripe_calls_for

log = logging.getLogger(__name__)

SCAN_BUDGET_PATIENCE_SECONDS = 5.0
RECONCILE_TRIES = 6  # a skipped daily run tries again for an hour (LEASE_TTL apart)


def _summary(run: ScanRun) -> dict[str, object]:
    return {"run": run.pk, "kind": run.kind, "status": run.status,
            "stripe_calls": run.stripe_calls, "intents_seen": run.intents_seen,
            "incidents_opened": run.incidents_opened,
            "incidents_resolved": run.incidents_resolved, "finalized": run.finalized}


@shared_task(name="payments.tasks.scan_events_task", acks_late=True)
def scan_events_task() -> dict[str, object]:
    with stripe_calls_for("scan"), background_patience(seconds=SCAN_BUDGET_PATIENCE_SECONDS):
        return _summary(scans.scan_events())


@shared_task(name="payments.tasks.scan_stale_task", acks_late=True)
def scan_stale_task() -> dict[str, object]:
    with stripe_calls_for("scan"), background_patience(seconds=SCAN_BUDGET_PATIENCE_SECONDS):
        return _summary(scans.scan_stale())


@shared_task(name="payments.tasks.scan_backfill_task", acks_late=True)
def scan_backfill_task(days: int = 7) -> dict[str, object]:
    with stripe_calls_for("scan"):
        return _summary(scans.scan_backfill(days=days))


@shared_task(name="payments.monitoring.reconcile_task", acks_late=True)
def reconcile_task(days: int = reconcile.DAYS_DEFAULT, trigger: str = "beat",
                   tries_left: int = RECONCILE_TRIES) -> dict[str, object]:
    """Beat, daily: compare Stripe with the shop (background priority in the budget).
    ``trigger="event"``: asked for by a payment made outside the checkout; a run skipped
    (another held the lease) or failed asks again, for the next webhook task. Another
    run skipped behind one that does not cover its window (the last day's, asked for by
    an event) runs again once the lease is free, ``tries_left`` times at most."""
    with stripe_calls_for("scan"):
        run = reconcile.reconciliation_run(days=days, trigger=trigger)
    if trigger == "event" and run.status != run.Status.DONE:
        reconcile.reconcile_soon_request(again=f"ended {run.status}")
    elif run.status == run.Status.SKIPPED and tries_left > 0 \
            and not reconcile.reconciliation_covered(run=run):
        log.warning("reconciliation #%s of %s days skipped behind a narrower run: again in "
                    "%s", run.pk, days, reconcile.LEASE_TTL)
        reconcile_task.apply_async(
            kwargs={"days": days, "trigger": trigger, "tries_left": tries_left - 1},
            countdown=reconcile.LEASE_TTL.total_seconds())
    return {"run": run.pk, "status": run.status, "stripe_calls": run.stripe_calls,
            "mismatches_found": run.mismatches_found, "mismatches_new": run.mismatches_new,
            "mailed": run.mailed}


@shared_task(name="payments.monitoring.webhook_events_drain_task", acks_late=True)
def webhook_events_drain_task() -> int:
    """Process the webhook events waiting (queued by the intake, once for a burst)."""
    with stripe_calls_for("webhook"):
        drained = events.webhook_events_drain()
    _reconcile_if_asked()
    return drained


@shared_task(name="payments.monitoring.webhook_events_sweep_task", acks_late=True)
def webhook_events_sweep_task() -> int:
    """Beat, every minute: events stored but not processed (never queued, or their
    worker died, or a retry is due)."""
    with stripe_calls_for("webhook"):
        swept = events.webhook_events_sweep()
    _reconcile_if_asked()
    return swept


def _reconcile_if_asked() -> None:
    """An event showed an order paid outside the checkout: the last day's reconciliation
    now, in its own task (it may take minutes), at most every 10 minutes."""
    if reconcile.reconcile_soon_take():
        try:
            reconcile_task.delay(days=1, trigger="event")
        except Exception:  # the broker down: asked again, for the next task that can
            reconcile.reconcile_soon_request(again="could not be queued")
            raise


@shared_task(name="payments.tasks.ops_digest_task", acks_late=True,
             autoretry_for=(OSError,), retry_backoff=60, retry_backoff_max=900, max_retries=5)
def ops_digest_task() -> int:
    """Beat, daily: the digest of new incidents to ops (once per day however often it
    runs); a mail server that refuses (OSError, smtplib's errors) is tried again later."""
    return ops_mail.ops_digest_send()


@shared_task(name="payments.tasks.ops_alert_task", acks_late=True)
def ops_alert_task() -> bool:
    """Beat, every 15 minutes: alert ops if too many authentications failed (at most
    once per 24 hours); a failed send is tried at the next check."""
    return ops_mail.ops_alert_check()


@shared_task(name="payments.monitoring.retention_prune_task", acks_late=True)
def retention_prune_task() -> dict[str, int]:
    """Beat, daily at a quiet hour: old scan runs, processed webhook events and expired
    sessions deleted, in batches; a run cut short by the time limit keeps what it did."""
    return retention.retention_prune(now=timezone.now()).as_dict()
