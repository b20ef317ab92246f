"""The beat schedules the migrations create, run against the test database (the suite
builds tables without migrations), and each schedule naming a task Celery knows."""

from __future__ import annotations

import importlib
import pkgutil

from django.apps import apps as django_apps
from django.db import migrations
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from paymentsite.celery import app

schedules = importlib.import_module("payments.migrations.0005_monitoring_beat_schedules")


def test_the_migration_schedules_both_scans_every_minute_and_tells_beat(db):
    schedules.schedules_create(django_apps, None)  # the function uses no schema editor
    schedules.schedules_create(django_apps, None)  # idempotent
    tasks = PeriodicTask.objects.filter(name__startswith="Monitoring:")
    assert sorted(tasks.values_list("task", flat=True)) == \
        ["payments.tasks.scan_events_task", "payments.tasks.scan_stale_task"]
    assert {(t.interval.every, t.interval.period, t.enabled) for t in tasks} == \
        {(60, "seconds", True)}
    assert PeriodicTasks.last_change() is not None
    app.loader.import_default_modules()
    assert all(task.task in app.tasks for task in tasks)


def schedule_migrations() -> list[migrations.Migration]:
    """Our migrations that write django-celery-beat's tables."""
    package = importlib.import_module("payments.migrations")
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        migration = importlib.import_module(f"payments.migrations.{info.name}").Migration
        if any(app_label == "django_celery_beat" for app_label, _ in migration.dependencies):
            found.append(migration)
    return found


def test_every_scheduled_task_name_resolves_to_a_registered_task(db):
    """Beat finds a task by the name stored in its row: a task moved to another module
    must keep its name, or beat sends messages no worker knows."""
    for migration in schedule_migrations():
        for operation in migration.operations:
            if isinstance(operation, migrations.RunPython):
                operation.code(django_apps, None)
    names = set(PeriodicTask.objects.values_list("task", flat=True))
    assert names >= {"payments.tasks.scan_events_task", "payments.tasks.scan_stale_task",
                     "payments.tasks.ops_digest_task", "payments.tasks.ops_alert_task",
                     "payments.mail.receipts_late_task",
                     "payments.monitoring.webhook_events_sweep_task",
                     "payments.recovery.tasks.ops_actions_resume_task",
                     "payments.monitoring.reconcile_task",
                     "payments.monitoring.retention_prune_task"}
    app.loader.import_default_modules()
    assert names - set(app.tasks) == set()


def test_the_reconciliation_runs_daily_over_two_days_before_the_digest(db):
    reconciliation = importlib.import_module(
        "payments.migrations.0037_reconciliation_schedule")
    reconciliation.schedule_create(django_apps, None)
    reconciliation.schedule_create(django_apps, None)  # idempotent
    task = PeriodicTask.objects.get(task="payments.monitoring.reconcile_task")
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "7", "*")
    assert task.kwargs == '{"days": 2}' and task.enabled and task.interval is None
    assert PeriodicTasks.last_change() is not None


def test_the_receipts_due_are_drained_every_5_seconds_in_place_of_the_late_sweep(db):
    late_sweep = importlib.import_module("payments.migrations.0010_receipts_late_schedule")
    outbox = importlib.import_module("payments.migrations.0054_receipt_outbox")
    late_sweep.schedule_create(django_apps, None)
    outbox.schedule_create(django_apps, None)
    outbox.schedule_create(django_apps, None)  # idempotent
    [task] = PeriodicTask.objects.filter(task="payments.mail.receipts_late_task")
    assert task.name == "Mail: receipts due" and task.enabled
    assert (task.interval.every, task.interval.period, task.expire_seconds) == \
        (5, "seconds", 5)
    app.loader.import_default_modules()
    assert app.tasks[task.task].name == "payments.mail.receipts_late_task"
    outbox.schedule_remove(django_apps, None)
    [task] = PeriodicTask.objects.filter(task="payments.mail.receipts_late_task")
    assert (task.name, task.interval.every) == ("Mail: receipts never queued", 60)


def test_every_repeating_task_expires_before_its_next_run(db):
    """A message that waited in the queue past its next run (a worker outage) is dropped:
    the next run does its work, without a backlog of old scans spending Stripe calls."""
    for migration in schedule_migrations():
        for operation in migration.operations:
            if isinstance(operation, migrations.RunPython):
                operation.code(django_apps, None)
    repeating = PeriodicTask.objects.filter(interval__isnull=False).select_related("interval")
    assert repeating.count() >= 6
    for task in repeating:
        assert task.interval.period == "seconds"
        assert task.expire_seconds is not None and \
            0 < task.expire_seconds <= task.interval.every, task.name
    minute = PeriodicTask.objects.get(task="payments.tasks.scan_stale_task")
    assert minute.expire_seconds == 55
    expire = importlib.import_module("payments.migrations.0082_beat_schedules_expire")
    expire.expiry_unset(django_apps, None)
    assert PeriodicTask.objects.get(pk=minute.pk).expire_seconds is None
    assert PeriodicTask.objects.get(task="payments.mail.receipts_late_task").expire_seconds == 5


def test_retention_runs_nightly_at_half_past_three_and_a_late_run_expires(db, settings):
    """In the merchant's time (CELERY_TIMEZONE), clear of the hour daylight saving skips or
    repeats; a run that waited 3 hours for a worker is dropped, not run in the day's
    traffic or twice with the next night's."""
    retention = importlib.import_module("payments.migrations.0083_retention_schedule")
    retention.schedule_create(django_apps, None)
    retention.schedule_create(django_apps, None)  # idempotent
    [task] = PeriodicTask.objects.filter(task="payments.monitoring.retention_prune_task")
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week,
            task.crontab.day_of_month) == ("30", "3", "*", "*")
    assert str(task.crontab.timezone) == (settings.CELERY_TIMEZONE or "UTC")
    assert task.expire_seconds == 3 * 3600 and task.enabled and task.interval is None
    assert PeriodicTasks.last_change() is not None
    app.loader.import_default_modules()
    assert task.task in app.tasks
    retention.schedule_remove(django_apps, None)
    assert not PeriodicTask.objects.filter(task=task.task).exists()
