"""Logs: one JSON line per record on stderr with the request id, 500 tracebacks with DEBUG
off, and no card number, client secret, session key, Stripe key or email address ever
written."""

from __future__ import annotations

import json
import logging
import os
import re
import re._constants as re_constants
import re._parser as re_parser
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from paymentsite import logging as site_logging
from paymentsite.logging import JsonFormatter, RedactingFilter, RequestIdFilter, redact
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
URLS = "tests.paymentsite.urls_for_logging"


@pytest.mark.parametrize(("text", "expected"), [
    ("confirm pi_3Abc123_secret_XyZ789 now", "confirm pi_3Abc123_secret_[redacted] now"),
    ("setup seti_1Q_secret_Zz", "setup seti_1Q_secret_[redacted]"),
    ("key sk_test_51HxYz00abc and rk_live_9Qp", "key sk_test_[redacted] and rk_live_[redacted]"),
    ("signed with whsec_AbC123+/=", "signed with whsec_[redacted]"),
    ("card 4242424242424242.", "card [card 4242]."),
    ("card 4000 0025 0000 3155 declined", "card [card 3155] declined"),
    ("card 4000-0000-0000-9995", "card [card 9995]"),
    ("Cookie: sessionid=k3v9x0q1w2e3r4t5y6u7i8o9p0a1s2d3", "Cookie: sessionid=[redacted]"),
    ('WHERE "django_session"."session_key" = \'k3v9x0q1w2e3r4t5\'',
     'WHERE "django_session"."session_key" = \'[redacted]\''),
    ('{"session_key": "k3v9x0q1w2e3r4t5"}', '{"session_key": "[redacted]"}'),
    # The tokens of links mailed to shoppers: a path, a full URL in a Referer, a 410's line.
    ("Gone: /recover/eyJhbGciOi:1tZq2x:AbC-d_E/", "Gone: /recover/[redacted]/"),
    ('"GET /recover/Ab1:x2:Yz HTTP/1.1" 410 "https://shop.example/recover/Q:w:e/"',
     '"GET /recover/[redacted] HTTP/1.1" 410 "https://shop.example/recover/[redacted]/"'),
    ("/order-status/MTI:1tZq:sig/?x=1", "/order-status/[redacted]/?x=1"),
    # Email addresses: smtplib's refused recipients, a display name's, any case and script.
    ("SMTPRecipientsRefused: {'carol@example.com': (550, b'no')}",
     "SMTPRecipientsRefused: {'[email redacted]': (550, b'no')}"),
    ("To: Anna <Anna.Mueller+shop@Example.co.uk>, order ord_1",
     "To: Anna <[email redacted]>, order ord_1"),
    ("for jürgen@bücher.de.", "for [email redacted]."),
    # Not an address: a database URL's user at its host.
    ("postgres://postgres@127.0.0.1:5432/db", "postgres://postgres@127.0.0.1:5432/db"),
    # Not secrets: ids, amounts, millisecond timestamps failing the card checksum.
    ("order ord_123 of 4999 eur for pi_3Abc123", "order ord_123 of 4999 eur for pi_3Abc123"),
    ("at 1700000000001 ms", "at 1700000000001 ms"),
    # A uuid whose "768-6368-4451-84" passes the card checksum stays as it is ...
    ("Stripe webhook 11a3b768-6368-4451-84ae-508630811ae8 refused",
     "Stripe webhook 11a3b768-6368-4451-84ae-508630811ae8 refused"),
    ("11a3b768-6368-4451-84ae-508630811ae8 4242424242424242",
     "11a3b768-6368-4451-84ae-508630811ae8 [card 4242]"),
    # ... while a card number touching letters is still one (review).
    ("next=%2Fx%3Fn%3D4242424242424242", "next=%2Fx%3Fn%3D[card 4242]"),
    ("'line1\\n4242424242424242'", "'line1\\n[card 4242]'"),
    ("pan4242424242424242exp1230", "pan[card 4242]exp1230"),
])
def test_redact(text, expected):
    assert redact(text) == expected


def record(msg: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("payments.checkout", logging.ERROR, __file__, 1, msg, args,
                             exc_info)


def test_the_filter_scrubs_message_args_and_traceback():
    try:
        raise ValueError("bad pi_9_secret_zz")
    except ValueError:
        entry = record("paying %s with %s", "pi_1_secret_abc", "sk_live_xyz",
                       exc_info=sys.exc_info())
    assert RedactingFilter().filter(entry)
    assert entry.getMessage() == "paying pi_1_secret_[redacted] with sk_live_[redacted]"
    assert "pi_9_secret_[redacted]" in entry.exc_text and "zz" not in entry.exc_text


def test_one_json_line_per_record_with_the_traceback_in_one_field():
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        entry = record("failed for %s", "order-1", exc_info=sys.exc_info())
    RequestIdFilter().filter(entry)
    line = JsonFormatter().format(entry)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "ERROR" and data["logger"] == "payments.checkout"
    assert data["message"] == "failed for order-1" and data["request_id"] is None
    assert data["time"].endswith("Z")
    assert data["exception"].startswith("Traceback") and "second line" in data["exception"]


@pytest.mark.urls(URLS)
def test_the_request_id_is_taken_when_safe_and_made_otherwise(client):
    response = client.get("/request-id/", headers={"X-Request-ID": "lb-7f3a.9c:01"})
    assert response["X-Request-ID"] == "lb-7f3a.9c:01"
    assert response.content == b"lb-7f3a.9c:01"  # the view's code sees it too
    for unsafe in ("", "a b", "x" * 65, "id\u00e9", "<script>"):
        response = client.get("/request-id/", headers={"X-Request-ID": unsafe})
        made = response["X-Request-ID"]
        assert made != unsafe and len(made) == 32 and made == response.content.decode()
    first, second = client.get("/request-id/"), client.get("/request-id/")
    assert first["X-Request-ID"] != second["X-Request-ID"]


SERVE_FAILING_VIEW = f"""
import django
django.setup()
from django.test import Client, override_settings
with override_settings(ROOT_URLCONF={URLS!r}):
    response = Client(raise_request_exception=False).get(
        "/fail/", secure=True, headers={{"X-Request-ID": "req-42"}})
    Client().get("/declined/", secure=True, headers={{"X-Request-ID": "req-43"}})
print(response.status_code, response["X-Request-ID"])
"""


def test_a_500_with_debug_off_is_one_json_line_on_stderr_with_id_and_traceback():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "STRIPE_", "DEFAULT_FROM_EMAIL", "SITE_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="paymentsite.settings", DJANGO_DEBUG="false",
               DJANGO_SECRET_KEY="test-" + "x" * 50,
               DJANGO_ALLOWED_HOSTS="testserver,shop.example.com",
               STRIPE_SECRET_KEY="sk_test_" + "a" * 24,
               STRIPE_PUBLISHABLE_KEY="pk_test_" + "a" * 24,
               DEFAULT_FROM_EMAIL="shop@example.com", SITE_URL="https://shop.example.com")
    out = subprocess.run([sys.executable, "-c", SERVE_FAILING_VIEW], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["500", "req-42"]
    lines = out.stderr.strip().splitlines()
    errors = [json.loads(line) for line in lines if '"level": "ERROR"' in line]
    assert len(errors) == 1, out.stderr
    [error] = errors
    assert error["level"] == "ERROR" and error["request_id"] == "req-42"
    assert error["message"] == "Internal Server Error: /fail/" and error["status"] == 500
    assert "Traceback" in error["exception"] and "RuntimeError" in error["exception"]
    assert "in failing_view" in error["exception"]
    # The exception's message was scrubbed; nothing secret reached the log.
    assert "charging [card 4242] for pi_3Abc_secret_[redacted] with sk_test_[redacted]" \
        in error["exception"]
    for secret in ("4242 4242", "XyZ123", "51Hsecret"):
        assert secret not in out.stderr
    # A 4xx is logged after the middleware returned; it carries the request's id all the same.
    [declined] = [json.loads(line) for line in lines if "Payment Required" in line]
    assert declined["request_id"] == "req-43" and declined["status"] == 402


TOKEN = "eyJzaG9wIjoxfQ:1tZq2x:SeCrEtSiGnAtUrE0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS_URL"))}
    # No database is touched by a badly signed link's 404.
    env.update(DJANGO_SETTINGS_MODULE="paymentsite.settings", DJANGO_DEBUG="true",
               DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", PYTHONUNBUFFERED="1")
    return env


def served_log(command: list[str], tmp_path: Path) -> str:
    """Start a server, open a recovery link (a Referer holding another), stop it; its
    output, stdout and stderr together."""
    port = free_port()
    out = tmp_path / "server.log"
    with out.open("w") as sink:
        server = subprocess.Popen([*command, f"127.0.0.1:{port}"], cwd=ROOT,
                                  env=server_env(tmp_path), stdout=sink,
                                  stderr=subprocess.STDOUT)
        try:
            def answered() -> bool:
                try:
                    request = urllib.request.Request(
                        f"http://127.0.0.1:{port}/recover/{TOKEN}/",
                        headers={"Referer": f"http://127.0.0.1:{port}/recover/{TOKEN}x/"})
                    urllib.request.urlopen(request, timeout=2)
                except urllib.error.HTTPError as error:
                    return error.code == 404
                except OSError:
                    return False
                return False
            wait_until(answered, timeout=30, what="the server to answer the link")
            # The request line, written after the response went out (Django's "Not
            # Found: /recover/…" comes before it): stopping the server sooner loses it.
            wait_until(lambda: "GET /recover/" in out.read_text(), timeout=10,
                       what="the request's log line")
        finally:
            server.terminate()
            server.wait(timeout=15)
    return out.read_text()


def test_gunicorns_access_log_and_the_json_log_never_hold_a_links_token(tmp_path):
    text = served_log([sys.executable, "-m", "gunicorn", "paymentsite.wsgi", "--workers",
                       "1", "--bind"], tmp_path)
    assert "/recover/[redacted]" in text, text
    assert '"GET /recover/[redacted]/ HTTP/1.1" 404' in text, text  # the access log's
    assert "SeCrEtSiGnAtUrE" not in text and TOKEN not in text


def test_runservers_request_lines_never_hold_a_links_token(tmp_path):
    text = served_log([sys.executable, "manage.py", "runserver", "--noreload"], tmp_path)
    assert 'GET /recover/[redacted]/ HTTP/1.1' in text, text
    assert "SeCrEtSiGnAtUrE" not in text


def test_a_host_the_site_does_not_serve_is_a_warning_without_a_traceback(client, caplog):
    """Scanners send them all day: each was an ERROR with thirty lines of traceback."""
    with caplog.at_level(logging.INFO):
        assert client.get("/", headers={"Host": "scanner.example.net"}).status_code == 400
    [record] = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert "scanner.example.net" in record.getMessage()


def test_celery_leaves_stdout_and_stderr_alone():
    """Else each write to them is a log record: a traceback printed by a beat that cannot
    reach the database became a JSON line per fragment (1,600 of them)."""
    from paymentsite.celery import app

    assert app.conf.worker_redirect_stdouts is False


def test_celery_says_failed_tasks_not_every_task_received_and_succeeded():
    """An idle worker wrote 55,000 INFO lines a day (the receipts drain every 5 s)."""
    for name in ("celery.app.trace", "celery.worker.strategy"):
        task_log = logging.getLogger(name)
        assert not task_log.isEnabledFor(logging.INFO), name
        assert task_log.isEnabledFor(logging.ERROR), name


def unbounded_repeats(pattern: re.Pattern) -> list[str]:
    """The repeats of ``pattern`` with no upper bound (``+``, ``*``, ``{n,}``)."""
    found: list[str] = []

    def walk(items) -> None:
        for op, argument in items:
            if op in (re_constants.MAX_REPEAT, re_constants.MIN_REPEAT):
                low, high, body = argument
                if high == re_constants.MAXREPEAT:
                    found.append(f"{{{low},}}")
                walk(body)
            elif op in (re_constants.SUBPATTERN, re_constants.ATOMIC_GROUP):
                walk(argument[-1])
            elif op == re_constants.BRANCH:
                for branch in argument[1]:
                    walk(branch)

    walk(re_parser.parse(pattern.pattern))
    return found


def test_the_email_pattern_bounds_every_repeat():
    """Unbounded repeats, tried at every character of a line, made redact() take 1 s of
    CPU over one access line with a long Referer (3 s over 32,000 letters): anyone's
    request. Bounded, each position costs at most a fixed number of steps."""
    assert unbounded_repeats(site_logging.EMAIL) == []
    assert site_logging.redact("mail carol@example.com now") == "mail [email redacted] now"
    assert site_logging.redact("a" * 32000 + "@example.com").endswith("[email redacted]")
