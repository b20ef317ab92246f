"""Celery beat's schedule for retention (payments.monitoring.retention): daily at 03:30 in
CELERY_TIMEZONE (the merchant's), when the shop is quiet and clear of the hour that
daylight saving skips or repeats (02:00–03:00 in Europe and North America). A run that
waited in the queue past 3 hours (the workers down) is dropped (``expire_seconds``): it
would run in the day's traffic, and a backlog of them would run the same deletes again;
the next night's run does the work.

Historical models skip PeriodicTask.save(), which tells beat that schedules changed, so
this touches PeriodicTasks.last_update itself (as 0005 does)."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

RETENTION = ("Retention: old scan runs, webhook events and sessions, daily",
             "payments.monitoring.retention_prune_task")
AT = {"minute": "30", "hour": "3", "day_of_week": "*", "day_of_month": "*",
      "month_of_year": "*"}
EXPIRE_SECONDS = 3 * 3600
DESCRIPTION = "Created by payments migration 0083; see README, Running in production."


def schedule_create(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    changes_model = apps.get_model("django_celery_beat", "PeriodicTasks")
    nightly, _ = crontab_model.objects.get_or_create(
        **AT, timezone=getattr(settings, "CELERY_TIMEZONE", None) or "UTC")
    name, task = RETENTION
    task_model.objects.get_or_create(name=name, defaults={
        "task": task, "enabled": True, "description": DESCRIPTION, "crontab": nightly,
        "expire_seconds": EXPIRE_SECONDS})
    changes_model.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def schedule_remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=RETENTION[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0082_beat_schedules_expire"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_create, schedule_remove)]
