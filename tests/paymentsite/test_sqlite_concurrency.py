"""Four tabs writing at once on the zero-setup SQLite database: no "database is locked".

Each thread is a tab: in one transaction it reads a row, waits a moment (a Stripe call, a
slow page) and writes it back. With SQLite's default deferred transactions two readers
that both go on to write deadlock, and SQLite answers one of them "database is locked" at
once. The settings take the write lock at BEGIN, so the tabs queue instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABS, ROUNDS = 4, 5

SCRIPT = r"""
import json, sys, threading, time
import django
from django.conf import settings

if sys.argv[1] == "django-defaults":
    settings.DATABASES["default"]["OPTIONS"] = {}  # what SQLite had before our settings
django.setup()
from django.db import connection, connections, transaction

with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    cursor.execute("INSERT INTO counter VALUES (1, 0)")
connection.close()

TABS, ROUNDS = int(sys.argv[2]), int(sys.argv[3])
start = threading.Barrier(TABS)
guard = threading.Lock()
busy = {"now": 0, "most": 0}  # transactions begun (waiting or holding) and not yet over
errors = []


def tab():
    try:
        start.wait(timeout=30)
        for _ in range(ROUNDS):
            with guard:
                busy["now"] += 1
                busy["most"] = max(busy["most"], busy["now"])
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("SELECT n FROM counter WHERE id = 1")
                    (n,) = cursor.fetchone()
                    time.sleep(0.05)  # the others arrive meanwhile
                    cursor.execute("UPDATE counter SET n = %s WHERE id = 1", [n + 1])
            finally:
                with guard:
                    busy["now"] -= 1
    except Exception as error:
        errors.append(f"{type(error).__name__}: {error}")
    finally:
        connections.close_all()


threads = [threading.Thread(target=tab) for _ in range(TABS)]
began = time.monotonic()
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with connection.cursor() as cursor:
    cursor.execute("SELECT n FROM counter WHERE id = 1")
    (total,) = cursor.fetchone()
    cursor.execute("PRAGMA journal_mode")
    (journal,) = cursor.fetchone()
print(json.dumps({"errors": errors, "total": total, "most_at_once": busy["most"],
                  "seconds": time.monotonic() - began, "journal": journal}))
"""


def tabs_writing(tmp_path: Path, mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="paymentsite.settings",
               DATABASE_URL=f"sqlite:///{tmp_path / f'{mode}.sqlite3'}")
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(TABS), str(ROUNDS)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_concurrent_tabs_queue_for_the_write_lock_instead_of_failing(tmp_path):
    result = tabs_writing(tmp_path, "settings")
    assert result["errors"] == []
    # The tabs really overlapped: all four were inside a transaction at the same moment...
    assert result["most_at_once"] == TABS
    # ...and none lost another's update, so each waited for the one before it.
    assert result["total"] == TABS * ROUNDS
    assert result["seconds"] >= TABS * ROUNDS * 0.05
    assert result["journal"] == "wal"


def test_the_same_tabs_fail_with_sqlites_default_transactions(tmp_path):
    """The workload above is a real race: with Django's default SQLite transactions two
    tabs fail with "database is locked", which the settings prevent."""
    result = tabs_writing(tmp_path, "django-defaults")
    assert any("database is locked" in error for error in result["errors"]), result
