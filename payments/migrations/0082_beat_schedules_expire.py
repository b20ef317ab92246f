"""Beat's repeating tasks (the scans, the webhook events sweep, the ops actions' resume,
the failed-authentication alert) expire when they waited in the queue past their next run
(``expire_seconds``, as 0054 does for the receipts drain): after a worker outage of 150
minutes the worker ran 600 such messages one by one, spent 415 Stripe calls on old scans
and kept webhooks waiting behind them, though each next run does their work.

Historical models skip PeriodicTask.save(), which tells beat that schedules changed, so
this touches PeriodicTasks.last_update itself (as 0005 does)."""

from django.db import migrations
from django.utils import timezone

SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
MARGIN_SECONDS = 5  # the next run is due this much later than the expiry


def _ours(apps):
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    return task_model.objects.filter(task__startswith="payments.", interval__isnull=False)


def _tell_beat(apps) -> None:
    changes_model = apps.get_model("django_celery_beat", "PeriodicTasks")
    changes_model.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def expiry_set(apps, schema_editor):
    for task in _ours(apps).filter(expire_seconds__isnull=True).select_related("interval"):
        if task.interval.period not in SECONDS:  # microseconds: none of ours
            continue
        every = task.interval.every * SECONDS[task.interval.period]
        task.expire_seconds = max(every - MARGIN_SECONDS, 1)
        task.save(update_fields=["expire_seconds"])
    _tell_beat(apps)


def expiry_unset(apps, schema_editor):
    for task in _ours(apps).select_related("interval"):
        every = task.interval.every * SECONDS.get(task.interval.period, 0)
        if every > MARGIN_SECONDS and task.expire_seconds == every - MARGIN_SECONDS:
            task.expire_seconds = None
            task.save(update_fields=["expire_seconds"])
    _tell_beat(apps)


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0081_product_price_help_text"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(expiry_set, expiry_unset)]
