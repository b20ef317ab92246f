"""The Celery app: configured from Django's settings (``CELERY_*``), tasks found in every
installed app's ``tasks`` module.

    celery -A paymentsite worker      # runs the tasks
    celery -A paymentsite beat        # one per deployment: schedules live in the database

The broker is Redis when ``REDIS_URL`` is set, else kombu's filesystem transport under
``var/celery/`` (one host, no setup), as settings.py decides.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_process_shutdown

from paymentsite.celery_broker import transports_register

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paymentsite.settings")
transports_register()  # kombu's filesystem and Redis transports, mended

app = Celery("paymentsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _filesystem_broker_folders(sender: Celery, **kwargs) -> None:
    """kombu's filesystem transport needs its folders to exist; make them on first use."""
    if str(sender.conf.broker_url).startswith("filesystem:"):
        options = sender.conf.broker_transport_options or {}
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            if options.get(key):
                Path(options[key]).mkdir(parents=True, exist_ok=True)


@app.task(name="paymentsite.debug_ping")
def debug_ping(token: str = "") -> str:
    """A task with no side effect, to see a worker take work from the broker."""
    return f"pong {token}".strip()


@worker_process_shutdown.connect
def _counters_send(**kwargs) -> None:
    """A pool process leaves by os._exit (no atexit): its counts not sent yet go now."""
    from payments.telemetry import counters

    counters.counters_send()
