"""The chaos run at its small size (bench/chaos.py --small): forty shoppers pay while
Stripe, the web workers, the Celery worker, Redis and the webhook deliveries fail, then
every payment invariant is checked against the sandbox's state. It needs what the
production shape needs: PostgreSQL, ``redis-server`` and gunicorn; without them it skips
(under ``.ci/run`` it must run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .conftest import need

ROOT = Path(__file__).resolve().parents[1]


def test_every_payment_invariant_holds_under_combined_faults():
    url = os.environ.get("DATABASE_URL", "")
    need(url.startswith("postgres"), "DATABASE_URL does not name a PostgreSQL database")
    need(shutil.which("redis-server") is not None, "redis-server is not on PATH")
    chaos_db = urlunsplit(urlsplit(url)._replace(path="/test_chaos"))
    run = subprocess.run(
        [sys.executable, "bench/chaos.py", "--small", "--database-url", chaos_db],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    report = run.stdout + run.stderr[-3000:]
    assert run.returncode == 0, report
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ")][2:]
    assert len(rows) >= 12, report  # every invariant was checked ...
    assert all("| yes |" in row for row in rows), report  # ... and held
    for fault in ("web worker SIGKILLed", "Celery worker restarted", "Redis restarted",
                  "Stripe: ", "webhooks: "):  # the faults were injected, not only planned
        assert fault in run.stdout, report
