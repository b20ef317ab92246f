"""The Celery app as settings.py configures it: a real worker takes a task from the broker,
Redis when REDIS_URL is set, kombu's filesystem transport under a folder otherwise.

Each case runs in a fresh process (the broker is chosen when settings load) with a queue of
its own, so a worker of a running ``dev.py run`` cannot take the test's message. The task
is published before the worker starts, and seen waiting in the broker, so the worker can
only have got it from there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, os, sys, threading
import django
django.setup()
from celery.contrib.testing.worker import start_worker
from celery.signals import task_success
from paymentsite.celery import app, debug_ping

queue, token = sys.argv[1], sys.argv[2]
done, seen = threading.Event(), {}


@task_success.connect
def on_success(sender=None, result=None, **kwargs):
    seen.update(result=result, routing_key=sender.request.delivery_info.get("routing_key"))
    done.set()


def waiting():
    # What sits in the broker for our queue, read straight from it.
    if app.conf.broker_url.startswith("filesystem"):
        folder = app.conf.broker_transport_options["data_folder_out"]
        return sum(name.endswith(f".{queue}.msg") for name in os.listdir(folder))
    import redis
    return redis.Redis.from_url(app.conf.broker_url).llen(queue)


debug_ping.apply_async(args=[token], queue=queue)
before = waiting()
with start_worker(app, perform_ping_check=False, queues=[queue], shutdown_timeout=30):
    finished = done.wait(30)
print(json.dumps({"broker": app.conf.broker_url, "options": app.conf.broker_transport_options,
                  "transport": type(app.connection().transport).__module__,
                  "before": before, "after": waiting(), "finished": finished, **seen}))
"""


def worker_takes_a_task(env: dict[str, str]) -> dict:
    queue, token = f"test-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex[:8]
    clean = {k: v for k, v in os.environ.items()
             if k not in ("REDIS_URL", "CELERY_BROKER_FOLDER")}
    out = subprocess.run([sys.executable, "-c", SCRIPT, queue, token], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={**clean, "DJANGO_SETTINGS_MODULE": "paymentsite.settings", **env})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["finished"], out.stderr
    assert result["before"] == 1 and result["after"] == 0  # it waited in the broker, then went
    assert result["result"] == f"pong {token}" and result["routing_key"] == queue
    return result


def test_a_worker_takes_a_task_from_the_filesystem_broker(tmp_path):
    result = worker_takes_a_task({"CELERY_BROKER_FOLDER": str(tmp_path / "celery")})
    assert result["broker"].startswith("filesystem://")
    assert result["transport"] == "paymentsite.celery_broker"  # messages renamed into place
    queue = str(tmp_path / "celery" / "queue")
    assert result["options"] == {"data_folder_in": queue, "data_folder_out": queue,
                                 "control_folder": str(tmp_path / "celery" / "control")}


def test_a_worker_takes_a_task_from_redis():
    url = os.environ.get("REDIS_URL", "")
    need(bool(url), "REDIS_URL is not set")
    result = worker_takes_a_task({"REDIS_URL": url})
    assert result["broker"] == url and result["transport"] == "paymentsite.celery_broker"
    # The fail-fast publish options (no filesystem folders) leave the worker working.
    assert result["options"]["socket_timeout"] >= 2 and result["options"]["max_retries"] == 1
    assert "data_folder_in" not in result["options"]


def test_the_task_settings_suit_idempotent_tasks_and_one_beat(settings):
    from paymentsite.celery import app

    assert app.conf.task_acks_late is True and app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_serializer == "json" and app.conf.accept_content == ["json"]
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit
    assert app.conf.result_backend is None and app.conf.worker_hijack_root_logger is False
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert "django_celery_beat" in settings.INSTALLED_APPS
