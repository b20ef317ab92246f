"""Celery beat's schedule for resuming ops actions no worker has: every minute, run the
ones submitted while the broker was down (their publish failed) or whose worker died
(``payments.recovery.actions.recovery_stalled_resume``).

Historical models skip PeriodicTask.save(), which tells beat that schedules changed, so
this touches PeriodicTasks.last_update itself (as 0005 does)."""

from django.db import migrations
from django.utils import timezone

RESUME = ("Recovery: ops actions no worker has",
          "payments.recovery.tasks.ops_actions_resume_task")
EVERY_SECONDS = 60
DESCRIPTION = "Created by payments migration 0030; see README, When Redis is down."


def schedule_create(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    changes_model = apps.get_model("django_celery_beat", "PeriodicTasks")
    every, _ = interval_model.objects.get_or_create(every=EVERY_SECONDS, period="seconds")
    name, task = RESUME
    task_model.objects.get_or_create(name=name, defaults={
        "task": task, "enabled": True, "description": DESCRIPTION, "interval": every})
    changes_model.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def schedule_remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=RESUME[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0017_incidents_card_declined_payment_made"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_create, schedule_remove)]
