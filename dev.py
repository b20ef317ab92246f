#!/usr/bin/env python3
"""One entry point for a fresh machine with only Python 3.11+.

    python3 dev.py run     # set up, then run the product on embedded defaults
    python3 dev.py test    # set up, then lint and run the whole test suite
    python3 dev.py setup   # only set up .venv (with the test tools)

Setting up means: a virtualenv in .venv with requirements.txt installed for
``run``, requirements-dev.txt (the same plus test and lint tools) for ``test``
and ``setup``; done again only when one of them changes; then the translations
compiled (locale/*/django.po to .mo). Standard library only, on purpose.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".requirements.sha256"


def setup(*, dev: bool = True) -> None:
    """The virtualenv with requirements.txt (``run``) or requirements-dev.txt (``test``).

    The stamp keeps one hash per file installed; the dev hash covers requirements.txt
    too (it is included with ``-r``), so a change to either reinstalls.
    """
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may run on an older python3
        sys.exit("Python 3.11 or newer is needed.")
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    runtime = (ROOT / "requirements.txt").read_bytes()
    wanted = {"requirements.txt": hashlib.sha256(runtime).hexdigest()}
    if dev:
        wanted["requirements-dev.txt"] = hashlib.sha256(
            runtime + (ROOT / "requirements-dev.txt").read_bytes()).hexdigest()
    stamp = installed_stamp()
    name = "requirements-dev.txt" if dev else "requirements.txt"
    if any(stamp.get(file) != digest for file, digest in wanted.items()):
        print(f"Installing {name} into .venv ...", flush=True)
        subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                       check=True)
        subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "-r", ROOT / name],
                       check=True)
        STAMP.write_text(json.dumps({**stamp, **wanted}, indent=1))
    (ROOT / "var").mkdir(exist_ok=True)
    # The translations' .mo files, from the committed .po (Babel: no GNU gettext needed).
    subprocess.run([PYTHON, "-m", "paymentsite.translations", "compile"], cwd=ROOT, check=True)


def installed_stamp() -> dict[str, str]:
    """What setup installed last: {file: hash}; empty when unknown (an older stamp)."""
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def test(args: list[str]) -> int:
    setup()
    lint = subprocess.run([BIN / "ruff", "check", "."], cwd=ROOT)
    if lint.returncode:
        return lint.returncode
    return subprocess.run([PYTHON, "-m", "pytest", *args], cwd=ROOT).returncode


def run(args: list[str]) -> int:
    """The sandbox and the site on embedded defaults, with demo data and an admin login."""
    setup(dev=False)
    sandbox_port = os.environ.get("SANDBOX_PORT", "12111")
    site_port = os.environ.get("SITE_PORT", "8000")
    # The sandbox keeps its objects across restarts, as Stripe would, beside the database.
    state_file = os.environ.get("SANDBOX_STATE_FILE") or str(ROOT / "var" / "sandbox-state.json")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("STRIPE_API_BASE", f"http://127.0.0.1:{sandbox_port}")
    site = f"http://127.0.0.1:{site_port}"
    env.setdefault("SITE_URL", site)
    # Demo thresholds: an abandoned bank challenge or confirmation becomes an incident
    # within a minute or two instead of half an hour (production defaults: settings.py).
    env.setdefault("PAYMENTS_ACTION_ABANDONED_AFTER_SECONDS", "60")
    env.setdefault("PAYMENTS_CONFIRMATION_ABANDONED_AFTER_SECONDS", "30")
    for name, port in (("SANDBOX_PORT", sandbox_port), ("SITE_PORT", site_port)):
        if not port_free(int(port)):
            sys.exit(f"Port {port} is in use (another copy running?); set {name} to another.")
    manage = [str(PYTHON), "manage.py"]
    children: list[subprocess.Popen] = []
    stop_on_signals()
    try:
        children.append(start_child(
            [PYTHON, "-m", "stripe_sandbox", "--port", sandbox_port, "--state-file", state_file],
            env))
        wait_for(f"http://127.0.0.1:{sandbox_port}/healthz", children)
        print("Migrating the database (the first run takes a minute or two) ...", flush=True)
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                       check=True)
        # Products, the admin login, and a webhook endpoint at the sandbox for this site.
        subprocess.run([*manage, "demo_setup", "--webhooks-to", site], cwd=ROOT, env=env,
                       check=True)
        # The Celery worker and beat, on Redis if REDIS_URL is set, else the filesystem
        # broker in var/celery/; after migrate, as beat reads its schedules from the database.
        celery = [str(PYTHON), "-m", "celery", "-A", "paymentsite"]
        children.append(start_child([*celery, "worker", "--loglevel", "INFO",
                                     "--concurrency", "2", "--without-gossip",
                                     "--without-mingle"], env))
        children.append(start_child([*celery, "beat", "--loglevel", "INFO"], env))
        children.append(start_child(
            [*manage, "runserver", "--noreload", f"127.0.0.1:{site_port}", *args], env))
        wait_for(f"{site}/", children)
        print(f"""
  Store:    {site}/
  Admin:    {site}/admin/   (logins: admin / admin, merchant / merchant, ops / ops)
  Sandbox:  {env["STRIPE_API_BASE"]}/   (Stripe's test mode, offline)
  Mail:     {mail_destination(env)}
  Celery:   worker and beat, broker {broker_destination(env)}
  Monitor:  sandbox webhooks, scans every minute; a bank challenge left for
            {env["PAYMENTS_ACTION_ABANDONED_AFTER_SECONDS"]} s is an incident (Admin → Incidents)

  Test cards (any future date, any CVC):
    4242 4242 4242 4242   pays
    4000 0025 0000 3155   asks your bank: Complete or Fail authentication
    4000 0000 0000 9995   declined, insufficient funds

  Ctrl-C stops everything.
""", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        return 1  # a child died on its own; its output says why
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM / SIGHUP (see stop_on_signals)
        return 0
    except subprocess.CalledProcessError as error:
        return error.returncode or 1
    finally:
        stop_children(children)


def mail_destination(env: dict[str, str]) -> str:
    """Where the site's mail goes under `run` (DEBUG on): settings.py's choice, in words."""
    backend = env.get("EMAIL_BACKEND", "")
    if backend and not backend.endswith("filebased.EmailBackend"):
        return f"{backend} (EMAIL_BACKEND)"
    folder = Path(env.get("EMAIL_FILE_PATH") or ROOT / "var" / "mail")
    shown = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
    return f"{shown}/   (every email the site sends is a file here; nothing is sent)"


def broker_destination(env: dict[str, str]) -> str:
    """Celery's broker under `run`, as settings.py chooses it."""
    if env.get("REDIS_URL"):
        return "Redis (REDIS_URL)"
    folder = Path(env.get("CELERY_BROKER_FOLDER") or ROOT / "var" / "celery")
    shown = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
    return f"{shown}/ (files; set REDIS_URL for Redis)"


def stop_on_signals() -> None:
    """SIGTERM (a supervisor, `kill`), SIGHUP (the terminal closed) and SIGINT stop
    everything as Ctrl-C does, instead of killing dev.py alone and leaving its servers
    running. SIGINT too: a shell starts a background job with it ignored, and Python
    then keeps it so (`kill -INT` did nothing)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), interrupt)


def start_child(command: list, env: dict[str, str]) -> subprocess.Popen:
    # A process group of its own: stopping it reaches its children too (a server's
    # workers), and a Ctrl-C in the terminal reaches dev.py, which stops them in order.
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def stop_children(children: list[subprocess.Popen], grace: float = 10) -> None:
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):  # a second Ctrl-C must not cut this short
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    for child in children:  # the leader first: a worker stops its own pool in order
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(child)
            child.wait()
    for child in children:  # whatever a child left behind in its group
        kill_group(child)


def kill_group(child: subprocess.Popen) -> None:
    try:
        if os.name == "posix":  # the group start_child made: its id is the child's pid
            os.killpg(child.pid, signal.SIGKILL)
        elif child.poll() is None:
            child.kill()
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_for(url: str, children: list[subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            raise SystemExit(f"A process exited before {url} answered; see its output above.")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s.")


def main() -> int:
    command, *args = sys.argv[1:] or ["help"]
    if command == "setup":
        setup()
        return 0
    if command == "test":
        return test(args)
    if command == "run":
        return run(args)
    print(__doc__)
    return 0 if command == "help" else 2


if __name__ == "__main__":
    sys.exit(main())
