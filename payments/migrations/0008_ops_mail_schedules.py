"""Celery beat's schedules for ops mail, in the database (django-celery-beat), editable,
pausable and runnable in the admin: the digest of new incidents daily at 08:00 (in
CELERY_TIMEZONE, UTC by default) and the failed-authentication alert check every 15
minutes. Both do nothing until PAYMENTS_OPS_EMAILS is set.

Historical models skip PeriodicTask.save(), which tells beat that schedules changed, so
this touches PeriodicTasks.last_update itself (as 0005 does)."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

DIGEST = ("Ops mail: daily digest of new incidents", "payments.tasks.ops_digest_task")
ALERT = ("Ops mail: failed-authentication alert check", "payments.tasks.ops_alert_task")
DIGEST_AT = {"minute": "0", "hour": "8", "day_of_week": "*", "day_of_month": "*",
             "month_of_year": "*"}
ALERT_EVERY_SECONDS = 15 * 60
DESCRIPTION = "Created by payments migration 0008; see README, Ops mail."


def schedules_create(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    changes_model = apps.get_model("django_celery_beat", "PeriodicTasks")
    daily, _ = crontab_model.objects.get_or_create(
        **DIGEST_AT, timezone=getattr(settings, "CELERY_TIMEZONE", None) or "UTC")
    every, _ = interval_model.objects.get_or_create(every=ALERT_EVERY_SECONDS,
                                                    period="seconds")
    for (name, task), schedule in ((DIGEST, {"crontab": daily}),
                                   (ALERT, {"interval": every})):
        task_model.objects.get_or_create(name=name, defaults={
            "task": task, "enabled": True, "description": DESCRIPTION, **schedule})
    changes_model.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def schedules_remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[DIGEST[0], ALERT[0]]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0007_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedules_create, schedules_remove)]
