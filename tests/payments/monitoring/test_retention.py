"""payments/monitoring/retention.py: old scan runs, processed webhook events and expired
sessions deleted in bounded batches; each kind's last finished run, every event still to
process and every live session kept; runs a killed worker left ``running`` marked failed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import import_module

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models.query import QuerySet
from django.test.utils import CaptureQueriesContext

from payments.models import ScanRun, WebhookEvent
from payments.monitoring import retention
from payments.monitoring.leases import lease_hold
from payments.stripe.facts import EVENTS_LISTED_FOR
from paymentsite import metrics

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 7, 3, 30, tzinfo=UTC)
Kind, Status = ScanRun.Kind, ScanRun.Status


def run_of(kind: str, *, days: float, status: str = Status.DONE,
           finished_days: float | None = None) -> ScanRun:
    started = NOW - timedelta(days=days)
    finished = None if status == Status.RUNNING else \
        NOW - timedelta(days=days if finished_days is None else finished_days)
    return ScanRun.objects.create(kind=kind, status=status, started_at=started,
                                  finished_at=finished)


def event_of(name: str, *, received_days: float, processed_days: float | None,
             last_error: str = "") -> WebhookEvent:
    received = NOW - timedelta(days=received_days)
    return WebhookEvent.objects.create(
        id=f"evt_{name}", type="payment_intent.succeeded", object_id=f"pi_{name}",
        created=received, livemode=False, body=json.dumps({"id": f"evt_{name}"}),
        received_at=received, last_error=last_error,
        processed_at=None if processed_days is None else NOW - timedelta(days=processed_days))


def session_of(*, expires_in: timedelta) -> str:
    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    store["cart"] = {"1": 2}
    store.create()
    store.get_model_class().objects.filter(session_key=store.session_key).update(
        expire_date=NOW + expires_in)
    return store.session_key


def session_keys() -> set[str]:
    model = import_module(django_settings.SESSION_ENGINE).SessionStore.get_model_class()
    return set(model.objects.values_list("session_key", flat=True))


def test_the_defaults_keep_scan_runs_30_days_and_events_90_and_never_under_stripes_30():
    assert django_settings.PAYMENTS_RETAIN_SCAN_RUNS_DAYS == 30
    assert django_settings.PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS == 90
    assert EVENTS_LISTED_FOR == timedelta(days=30)  # the floor settings.py refuses below


def test_old_scan_runs_go_and_each_kinds_latest_finished_run_stays_however_old():
    last_backfill = run_of(Kind.BACKFILL, days=400)
    run_of(Kind.BACKFILL, days=500)
    last_stale = run_of(Kind.STALE, days=45)  # the beat stopped 45 days ago
    run_of(Kind.STALE, days=46)
    run_of(Kind.STALE, days=40, status=Status.FAILED)  # later, but not finished well
    run_of(Kind.STALE, days=35, status=Status.SKIPPED)
    recent = [run_of(Kind.EVENTS, days=29), run_of(Kind.EVENTS, days=1, status=Status.SKIPPED)]

    pruned = retention.retention_prune(now=NOW)

    assert pruned.scan_runs_deleted == 4
    assert set(ScanRun.objects.all()) == {last_backfill, last_stale, *recent}


def test_the_run_that_finished_last_stays_beside_the_one_that_started_last():
    """/metrics reads the latest finish, the stale sweep's catch-up the latest start: a
    long backfill can hold the one and a short later one the other."""
    long_one = run_of(Kind.BACKFILL, days=100, finished_days=50)
    short_one = run_of(Kind.BACKFILL, days=90, finished_days=89)
    retention.retention_prune(now=NOW)
    assert set(ScanRun.objects.all()) == {long_one, short_one}


def test_metrics_still_say_when_each_kind_last_finished_after_a_prune(settings):
    settings.REDIS_URL = ""
    for days in (400, 300, 200):
        run_of(Kind.BACKFILL, days=days)
    retention.retention_prune(now=NOW)
    [gauge] = [family for family in metrics._gauges()
               if family.name == "payments_scan_last_success_age_seconds"]
    ages = {sample.labels["kind"]: sample.value for sample in gauge.samples}
    assert set(ages) == {"backfill"} and ages["backfill"] > 199 * 86400


def deleted_per_statement(monkeypatch) -> list[int]:
    """How many rows each queryset DELETE removed, in order."""
    seen: list[int] = []
    real = QuerySet.delete

    def delete(self):
        count, per_model = real(self)
        seen.append(count)
        return count, per_model

    monkeypatch.setattr(QuerySet, "delete", delete)
    return seen


def test_scan_runs_are_deleted_in_bounded_batches(monkeypatch):
    for day in range(7):
        run_of(Kind.EVENTS, days=31 + day, status=Status.SKIPPED)
    seen = deleted_per_statement(monkeypatch)
    with CaptureQueriesContext(connection) as queries:
        pruned = retention.retention_prune(now=NOW, batch=3)
    deletes = [q["sql"] for q in queries
               if q["sql"].startswith("DELETE") and "scanrun" in q["sql"]]
    assert pruned.scan_runs_deleted == 7 and not ScanRun.objects.exists()
    assert seen[:3] == [3, 3, 1]  # never one DELETE of them all
    assert len(deletes) == 3


def test_a_run_its_killed_worker_left_running_is_marked_failed(settings):
    settings.CELERY_TASK_TIME_LIMIT = 300
    killed = run_of(Kind.STALE, days=301 / 86400, status=Status.RUNNING)
    young = run_of(Kind.EVENTS, days=200 / 86400, status=Status.RUNNING)

    pruned = retention.retention_prune(now=NOW)

    killed.refresh_from_db()
    young.refresh_from_db()
    assert pruned.scan_runs_failed == 1
    assert killed.status == Status.FAILED and "time limit (300 s)" in killed.errors
    assert young.status == Status.RUNNING  # may still be at work, within the limit


def test_a_long_run_by_hand_that_holds_its_lease_is_left_running():
    """``payments_scan --backfill`` has no time limit; its lease says it is alive."""
    stuck = run_of(Kind.BACKFILL, days=2, status=Status.RUNNING)
    live = run_of(Kind.BACKFILL, days=1, status=Status.RUNNING)
    with lease_hold(name="scan:backfill", ttl=timedelta(days=3), heartbeat=False):
        assert retention.retention_prune(now=NOW).scan_runs_failed == 1
    stuck.refresh_from_db()
    live.refresh_from_db()
    assert (stuck.status, live.status) == (Status.FAILED, Status.RUNNING)


def test_processed_events_go_and_waiting_failing_or_lately_processed_ones_stay():
    event_of("old", received_days=120, processed_days=119)
    kept = {
        event_of("recent", received_days=10, processed_days=10),
        event_of("waiting", received_days=200, processed_days=None),
        event_of("failing", received_days=200, processed_days=None, last_error="Boom"),
        event_of("late", received_days=200, processed_days=80),  # failed for months
    }
    assert retention.retention_prune(now=NOW).webhook_events_deleted == 1
    assert set(WebhookEvent.objects.all()) == kept


def test_events_are_deleted_in_bounded_batches(monkeypatch):
    for n in range(5):
        event_of(f"old{n}", received_days=100, processed_days=100)
    seen = deleted_per_statement(monkeypatch)
    assert retention.retention_prune(now=NOW, batch=2).webhook_events_deleted == 5
    assert seen[:3] == [2, 2, 1] and not WebhookEvent.objects.exists()


def test_expired_sessions_are_cleared_and_live_ones_kept():
    expired = {session_of(expires_in=timedelta(seconds=-1)) for _ in range(3)}
    live = session_of(expires_in=timedelta(hours=1))
    assert retention.retention_prune(now=NOW, batch=2).sessions_deleted == 3
    assert session_keys() == {live}
    assert not expired & session_keys()


def test_a_dry_run_counts_and_changes_nothing():
    run_of(Kind.EVENTS, days=40, status=Status.SKIPPED)
    run_of(Kind.STALE, days=3, status=Status.RUNNING)
    event_of("old", received_days=100, processed_days=100)
    session_of(expires_in=timedelta(days=-1))
    pruned = retention.retention_prune(now=NOW, dry_run=True)
    assert pruned.as_dict() == {"scan_runs_failed": 1, "scan_runs_deleted": 1,
                                "webhook_events_deleted": 1, "sessions_deleted": 1}
    assert ScanRun.objects.filter(status=Status.RUNNING).count() == 1
    assert (ScanRun.objects.count(), WebhookEvent.objects.count(), len(session_keys())) == \
        (2, 1, 1)


def test_a_second_run_finds_nothing_left():
    run_of(Kind.EVENTS, days=40, status=Status.SKIPPED)
    event_of("old", received_days=100, processed_days=100)
    retention.retention_prune(now=NOW)
    assert retention.retention_prune(now=NOW) == retention.Pruned()


def test_the_task_prunes_and_returns_the_counts():
    from payments.monitoring.tasks import retention_prune_task

    event_of("old", received_days=1000, processed_days=1000)
    assert retention_prune_task.name == "payments.monitoring.retention_prune_task"
    assert retention_prune_task()["webhook_events_deleted"] == 1
