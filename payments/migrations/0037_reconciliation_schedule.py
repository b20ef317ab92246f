"""Celery beat's schedule for the reconciliation: daily at 07:00 (in CELERY_TIMEZONE, UTC
by default), an hour before the ops digest, comparing the last two days of Stripe with
the shop (payments.monitoring.reconcile; the day before overlaps, so a payment that
changed late is compared again).

Historical models skip PeriodicTask.save(), which tells beat that schedules changed, so
this touches PeriodicTasks.last_update itself (as 0005 does)."""

import json

from django.conf import settings
from django.db import migrations
from django.utils import timezone

RECONCILE = ("Reconciliation: Stripe against the shop, daily",
             "payments.monitoring.reconcile_task")
AT = {"minute": "0", "hour": "7", "day_of_week": "*", "day_of_month": "*",
      "month_of_year": "*"}
DAYS = 2
DESCRIPTION = "Created by payments migration 0037; see README, Reconciliation."


def schedule_create(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    changes_model = apps.get_model("django_celery_beat", "PeriodicTasks")
    daily, _ = crontab_model.objects.get_or_create(
        **AT, timezone=getattr(settings, "CELERY_TIMEZONE", None) or "UTC")
    name, task = RECONCILE
    task_model.objects.get_or_create(name=name, defaults={
        "task": task, "enabled": True, "description": DESCRIPTION, "crontab": daily,
        "kwargs": json.dumps({"days": DAYS})})
    changes_model.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def schedule_remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=RECONCILE[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0036_reconciliation_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_create, schedule_remove)]
