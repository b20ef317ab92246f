"""The web worker outlives the Stripe budget of a request: the arithmetic, the system check
both ways, and gunicorn.conf.py using the same number."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from stripe._http_client import HTTPClient

from paymentsite.checks import (
    check_production_services,
    check_web_worker_timeout,
    stripe_call_budget_seconds,
    web_worker_timeout_default,
)

ROOT = Path(__file__).resolve().parents[2]
OURS = ("STRIPE_", "DJANGO_", "WEB_", "GUNICORN_", "PORT")


def clean_env(**env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    return {**clean, "DJANGO_SETTINGS_MODULE": "paymentsite.settings", **env}


@pytest.mark.parametrize("retries", [0, 1, 2, 3, 5, 8])
def test_the_budget_matches_stripe_pythons_longest_backoff(retries, monkeypatch):
    client = HTTPClient()
    monkeypatch.setattr(client, "_add_jitter_time", lambda seconds: seconds)  # the longest
    backoff = sum(client._sleep_time_seconds(n) for n in range(1, retries + 1))
    assert stripe_call_budget_seconds(timeout_seconds=10, max_network_retries=retries) \
        == 10 * (retries + 1) + backoff


def test_the_default_timeout_covers_three_calls_with_retries():
    # 3 calls × (10 s × 3 tries + 0.5 s + 1 s of backoff) = 94.5 s, plus a 5 s margin.
    assert web_worker_timeout_default(stripe_timeout_seconds=10, stripe_max_network_retries=2,
                                      stripe_calls_per_request=3) == 100


def test_the_check_passes_with_the_defaults(settings):
    assert check_web_worker_timeout() == []


def test_the_check_refuses_a_worker_timeout_within_the_stripe_budget(settings):
    settings.WEB_WORKER_TIMEOUT_SECONDS = 94  # the budget is 94.5 s
    [error] = check_web_worker_timeout()
    assert error.id == "paymentsite.E001" and error.is_serious()
    assert "WEB_WORKER_TIMEOUT_SECONDS=94" in error.msg and "94.5 s" in error.msg
    settings.WEB_WORKER_TIMEOUT_SECONDS = 95
    assert check_web_worker_timeout() == []
    settings.STRIPE_TIMEOUT_SECONDS = 30  # a slower Stripe timeout needs a longer worker
    assert [e.id for e in check_web_worker_timeout()] == ["paymentsite.E001"]


def test_manage_py_check_stops_on_a_short_worker_timeout():
    out = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True,
                         text=True, env=clean_env(WEB_WORKER_TIMEOUT_SECONDS="30"))
    assert out.returncode != 0
    assert "paymentsite.E001" in out.stderr
    out = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True,
                         text=True, env=clean_env(STRIPE_TIMEOUT_SECONDS="20"))
    assert out.returncode == 0, out.stderr  # the default follows the Stripe settings


GUNICORN_CONF = ("import json, runpy; c = runpy.run_path('gunicorn.conf.py'); "
                 "print(json.dumps({k: c[k] for k in ('bind', 'workers', 'worker_class', "
                 "'threads', 'timeout', 'graceful_timeout', 'accesslog', "
                 "'control_socket_disable')}))")


def gunicorn_conf(**env: str) -> dict:
    out = subprocess.run([sys.executable, "-c", GUNICORN_CONF], cwd=ROOT, capture_output=True,
                         text=True, env=clean_env(**env))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_gunicorn_conf_reads_the_environment():
    conf = gunicorn_conf(WEB_CONCURRENCY="3", GUNICORN_THREADS="16", PORT="5000",
                         STRIPE_TIMEOUT_SECONDS="20")
    assert conf == {"bind": ["0.0.0.0:5000"], "workers": 3, "worker_class": "gthread",
                    "threads": 16, "timeout": 190, "graceful_timeout": 190,
                    "accesslog": "-",  # ⌈3 × (20 × 3 + 1.5) + 5⌉, as the check computes
                    # not the user's one control socket, which a second gunicorn takes over
                    "control_socket_disable": True}
    assert gunicorn_conf(GUNICORN_CONTROL_SOCKET="/run/shop/gunicorn.ctl")[
        "control_socket_disable"] is False
    conf = gunicorn_conf(GUNICORN_BIND="127.0.0.1:9001,unix:/tmp/site.sock", PORT="5000",
                         WEB_WORKER_TIMEOUT_SECONDS="120")
    assert conf["bind"] == ["127.0.0.1:9001", "unix:/tmp/site.sock"]
    assert conf["timeout"] == conf["graceful_timeout"] == 120
    assert gunicorn_conf()["bind"] == ["127.0.0.1:8000"]


def test_gunicorn_refuses_to_start_on_settings_django_would_refuse():
    out = subprocess.run([sys.executable, "-m", "gunicorn", "--check-config",
                          "paymentsite.wsgi"], cwd=ROOT, capture_output=True, text=True,
                         env=clean_env(DJANGO_DEBUG="false"), timeout=60)
    assert out.returncode != 0
    assert "DJANGO_SECRET_KEY, STRIPE_SECRET_KEY" in out.stdout + out.stderr  # all named


def test_gunicorn_runs_djangos_checks_and_starts_no_worker_on_an_error():
    """A worker timeout inside the Stripe budget: `manage.py check` refuses it, and so does
    gunicorn now (it started and served before, the settings themselves being valid)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = subprocess.run([sys.executable, "-m", "gunicorn", "paymentsite.wsgi"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60,
                         env=clean_env(GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1",
                                       WEB_WORKER_TIMEOUT_SECONDS="20"))
    assert out.returncode != 0
    assert "paymentsite.E001" in out.stderr
    assert "Booting worker" not in out.stdout + out.stderr


def test_gunicorns_master_keeps_no_database_connection_after_the_checks():
    """The checks read the database; a connection left open in the master would be
    inherited by every worker it forks (one socket, several processes)."""
    code = ("import runpy; from django.db import connections; "
            "c = runpy.run_path('gunicorn.conf.py'); c['on_starting'](None); "
            "print(all(conn.connection is None for conn in connections.all()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=clean_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_gunicorn_serves_the_site_with_the_request_id_in_its_access_log(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "gunicorn.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "paymentsite.wsgi"],
                                  cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                  env=clean_env(GUNICORN_BIND=f"127.0.0.1:{port}",
                                                WEB_CONCURRENCY="1", GUNICORN_THREADS="2"))
    try:
        deadline = time.monotonic() + 30
        while True:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/no-such-page/",
                                             headers={"X-Request-ID": "probe-1"})
            try:
                urllib.request.urlopen(request, timeout=2)
            except urllib.error.HTTPError as error:
                assert error.code == 404 and error.headers["X-Request-ID"] == "probe-1"
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                assert server.poll() is None, log.read_text()
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert "gthread" in text and '"GET /no-such-page/ HTTP/1.1" 404' in text
    assert "request_id=probe-1" in text


def test_production_without_its_services_is_named_by_the_deploy_check(settings, monkeypatch):
    """SQLite, no Redis, mail to localhost, the proxy's address for every shopper, the demo
    shop's name: each worked silently before, and `check --deploy` said nothing."""
    settings.DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3"}}
    settings.REDIS_URL = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    monkeypatch.delenv("EMAIL_HOST", raising=False)
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.PAYMENTS_CLIENT_ADDRESS_META = "REMOTE_ADDR"
    monkeypatch.delenv("SHOP_NAME", raising=False)
    assert [w.id for w in check_production_services()] == [
        "paymentsite.W002", "paymentsite.W003", "paymentsite.W004", "paymentsite.W005",
        "paymentsite.W006"]

    settings.DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql"}}
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("EMAIL_HOST", "localhost")  # named: a mail server listens there
    monkeypatch.setenv("SHOP_NAME", "Example Shop")
    settings.PAYMENTS_CLIENT_ADDRESS_META = "HTTP_X_REAL_IP"
    assert check_production_services() == []
    settings.SECURE_PROXY_SSL_HEADER = None  # no proxy: REMOTE_ADDR is the client's
    settings.PAYMENTS_CLIENT_ADDRESS_META = "REMOTE_ADDR"
    assert check_production_services() == []


def test_the_deploy_check_fails_a_production_site_on_embedded_defaults():
    env = clean_env(DJANGO_DEBUG="false", DJANGO_SECRET_KEY="k" * 50,
                    DJANGO_ALLOWED_HOSTS="shop.example.com",
                    STRIPE_SECRET_KEY="sk_test_" + "a" * 24,
                    STRIPE_PUBLISHABLE_KEY="pk_test_" + "a" * 24,
                    DEFAULT_FROM_EMAIL="Shop <shop@example.com>",
                    SITE_URL="https://shop.example.com")
    for name in ("DATABASE_URL", "REDIS_URL", "EMAIL_HOST", "PAYMENTS_CLIENT_ADDRESS_META",
                 "SHOP_NAME"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy",
                          "--fail-level", "WARNING"], cwd=ROOT, capture_output=True,
                         text=True, env=env)
    assert out.returncode != 0
    for check_id in ("W002", "W003", "W004", "W006"):
        assert f"paymentsite.{check_id}" in out.stderr
    assert "name the shop 'Sandbox Supply Co.'" in out.stderr
