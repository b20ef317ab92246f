"""The order row is the receipt's outbox: a partial index on the receipts due (paid, no
``receipt_sent_at``), and beat's row of the late-receipt sweep (migration 0010) becomes the
drain that mails them every 5 s (``payments.mail.receipts.receipts_due_send``), since
``/pay`` no longer queues a receipt. The task keeps its pinned name. A drain that waited
in the queue past the next run's is dropped (``expire_seconds``): that run does its work.

Historical models skip PeriodicTask.save(), which tells beat that schedules changed, so
this touches PeriodicTasks.last_update itself (as 0005 does)."""

from django.db import migrations, models
from django.utils import timezone

TASK = "payments.mail.receipts_late_task"
NAME, OLD_NAME = "Mail: receipts due", "Mail: receipts never queued"
EVERY_SECONDS, OLD_EVERY_SECONDS = 5, 60
DESCRIPTION = "Created by payments migration 0054; see README, Mail."


def _schedule(apps, *, name: str, every: int, expires: int | None, old_name: str) -> None:
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    changes_model = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval, _ = interval_model.objects.get_or_create(every=every, period="seconds")
    task_model.objects.filter(name=old_name).delete()
    task_model.objects.update_or_create(name=name, defaults={
        "task": TASK, "enabled": True, "description": DESCRIPTION, "interval": interval,
        "expire_seconds": expires})
    changes_model.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def schedule_create(apps, schema_editor):
    _schedule(apps, name=NAME, every=EVERY_SECONDS, expires=EVERY_SECONDS, old_name=OLD_NAME)


def schedule_remove(apps, schema_editor):
    _schedule(apps, name=OLD_NAME, every=OLD_EVERY_SECONDS, expires=None, old_name=NAME)


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0053_order_language"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="order",
            index=models.Index(condition=models.Q(("receipt_sent_at__isnull", True),
                                                  ("status", "paid")),
                               fields=["paid_at", "id"], name="order_receipt_due"),
        ),
        migrations.RunPython(schedule_create, schedule_remove),
    ]
