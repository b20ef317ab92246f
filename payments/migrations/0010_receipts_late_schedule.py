"""Celery beat's schedule for the late-receipt sweep, which the stale sweep did before the
mail moved into its own room: every minute, mail the receipts of paid orders that were
never queued (``payments.mail.receipts.receipts_late_send``).

Historical models skip PeriodicTask.save(), which tells beat that schedules changed, so
this touches PeriodicTasks.last_update itself (as 0005 does)."""

from django.db import migrations
from django.utils import timezone

LATE_RECEIPTS = ("Mail: receipts never queued", "payments.mail.receipts_late_task")
EVERY_SECONDS = 60
DESCRIPTION = "Created by payments migration 0010; see README, Mail."


def schedule_create(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    changes_model = apps.get_model("django_celery_beat", "PeriodicTasks")
    every, _ = interval_model.objects.get_or_create(every=EVERY_SECONDS, period="seconds")
    name, task = LATE_RECEIPTS
    task_model.objects.get_or_create(name=name, defaults={
        "task": task, "enabled": True, "description": DESCRIPTION, "interval": every})
    changes_model.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def schedule_remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=LATE_RECEIPTS[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0009_dashboard_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_create, schedule_remove)]
