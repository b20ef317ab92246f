"""Celery beat's schedule for the webhook events sweep: every minute, process the events
the intake stored and no worker processed (the broker was down, a worker died, or a
retry is due; ``payments.monitoring.events.webhook_events_sweep``).

Historical models skip PeriodicTask.save(), which tells beat that schedules changed, so
this touches PeriodicTasks.last_update itself (as 0005 does)."""

from django.db import migrations
from django.utils import timezone

SWEEP = ("Monitoring: webhook events not yet processed",
         "payments.monitoring.webhook_events_sweep_task")
EVERY_SECONDS = 60
DESCRIPTION = "Created by payments migration 0012; see README, Webhooks."


def schedule_create(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    changes_model = apps.get_model("django_celery_beat", "PeriodicTasks")
    every, _ = interval_model.objects.get_or_create(every=EVERY_SECONDS, period="seconds")
    name, task = SWEEP
    task_model.objects.get_or_create(name=name, defaults={
        "task": task, "enabled": True, "description": DESCRIPTION, "interval": every})
    changes_model.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def schedule_remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=SWEEP[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0011_webhook_events"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_create, schedule_remove)]
