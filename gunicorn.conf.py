"""gunicorn settings for production; gunicorn reads this file from the working directory:

    gunicorn paymentsite.wsgi

Threads (gthread) because a request mostly waits on Stripe. The worker timeouts come from
Django's settings (``WEB_WORKER_TIMEOUT_SECONDS``, by default longer than the worst Stripe
budget of one request), so the server and ``manage.py check`` agree on one number; loading
the settings here also stops a misconfigured deploy before any worker starts.

Variables: ``GUNICORN_BIND`` (comma-separated; ``unix:/path`` works; default
``0.0.0.0:$PORT`` when ``PORT`` is set, else ``127.0.0.1:8000``), ``WEB_CONCURRENCY``
(worker processes; default the number of CPUs, at least 2), ``GUNICORN_THREADS`` (per
worker, default 8; each may hold a database connection), ``WEB_WORKER_TIMEOUT_SECONDS``,
``GUNICORN_CONTROL_SOCKET`` (a path: gunicorn's control socket, off without one).
"""

from __future__ import annotations

import multiprocessing
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paymentsite.settings")

from django.conf import settings  # noqa: E402 - after the settings module is named

from paymentsite.logging import gunicorn_logger_class  # noqa: E402


def _bind() -> list[str]:
    if os.environ.get("GUNICORN_BIND"):
        return [b.strip() for b in os.environ["GUNICORN_BIND"].split(",") if b.strip()]
    if os.environ.get("PORT"):  # platforms that route to $PORT expect every interface
        return [f"0.0.0.0:{os.environ['PORT']}"]
    return ["127.0.0.1:8000"]


bind = _bind()
workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 8)

# With gthread the worker's heartbeat runs beside busy threads, so `timeout` bites only a
# stuck worker; `graceful_timeout` is what bounds an in-flight payment on a restart or
# deploy. Both outlast the Stripe budget: a cut-off request loses Stripe's answer.
timeout = settings.WEB_WORKER_TIMEOUT_SECONDS
graceful_timeout = settings.WEB_WORKER_TIMEOUT_SECONDS
keepalive = 5  # behind a load balancer, a little longer than none

# gunicorn's control socket (for `gunicornc`) is per user, not per site, by default: a
# second gunicorn of the same user (a second site, a benchmark's) takes it over, and
# stopping either removes it. Off unless GUNICORN_CONTROL_SOCKET names this site's own.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

# Recycle workers now and then (a slow leak cannot grow forever); jitter spreads restarts.
max_requests = 2000
max_requests_jitter = 200

# Access log to stdout with the request id our middleware returns, error log to stderr
# (Django's own records are JSON lines on stderr too).
accesslog = "-"
errorlog = "-"
access_log_format = ('%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s" '
                     'request_id=%({x-request-id}o)s')
# Every line scrubbed as Django's are: a recovery link's token in a request line or a
# Referer is a key to a shopper's order.
logger_class = gunicorn_logger_class()


def on_starting(server) -> None:
    """Django's system checks before any worker starts, as `manage.py runserver` runs
    them: a setting Django refuses (a worker timeout inside the Stripe budget, say) stops
    the deploy here, not at the first payment it breaks."""
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    try:
        call_command("check", fail_level="ERROR")
    finally:
        # A check reads the database (dj-stripe's endpoints): the master must not keep
        # that connection for the workers it forks to inherit.
        connections.close_all()


# The heartbeat file on memory, not a container's overlay disk (gunicorn's advice).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
