"""Celery beat's schedules for the monitoring scans, in the database (django-celery-beat):
editable, pausable and runnable ("Run selected tasks") in the admin.

Historical models skip PeriodicTask.save(), which tells beat that schedules changed, so
this touches PeriodicTasks.last_update itself."""

from django.db import migrations
from django.utils import timezone

SCHEDULES = [
    ("Monitoring: incremental events scan", "payments.tasks.scan_events_task"),
    ("Monitoring: stale sweep and auto-finalize", "payments.tasks.scan_stale_task"),
]
EVERY_SECONDS = 60


def schedules_create(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    changes_model = apps.get_model("django_celery_beat", "PeriodicTasks")
    every, _ = interval_model.objects.get_or_create(every=EVERY_SECONDS, period="seconds")
    for name, task in SCHEDULES:
        task_model.objects.get_or_create(name=name, defaults={
            "task": task, "interval": every, "enabled": True,
            "description": "Created by payments migration 0005; see README, Monitoring."})
    changes_model.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def schedules_remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[name for name, _ in SCHEDULES]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0004_monitoring_incidents_scans"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedules_create, schedules_remove)]
