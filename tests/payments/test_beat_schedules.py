"""The beat schedules migration 0005 creates, run against the test database (the suite
builds tables without migrations), and each schedule naming a task Celery knows."""

from __future__ import annotations

import importlib

from django.apps import apps as django_apps
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
