"""dev.py's set-up: run installs requirements.txt, test installs requirements-dev.txt, and a
change to either file (and only that) installs again."""

from __future__ import annotations

import importlib.util
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dev(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("dev_under_test", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "PYTHON", venv / "bin" / "python")
    monkeypatch.setattr(module, "STAMP", venv / ".requirements.sha256")
    module.installs = []

    def fake_run(command, **kwargs):
        if "-r" in command:
            module.installs.append(Path(command[command.index("-r") + 1]).name)

    monkeypatch.setattr(module.subprocess, "run", fake_run)
    return module


def test_the_requirements_are_split_and_pinned():
    runtime = (ROOT / "requirements.txt").read_text()
    development = (ROOT / "requirements-dev.txt").read_text()
    for tool in ("pytest", "pytest-django", "playwright", "ruff"):
        assert f"\n{tool}==" not in runtime and f"\n{tool}==" in development
    assert development.splitlines()[1] == "-r requirements.txt"
    for line in development.splitlines()[2:]:
        assert not line or line.startswith("#") or "==" in line


def test_run_installs_the_runtime_and_test_adds_the_tools_once(dev):
    dev.setup(dev=False)
    assert dev.installs == ["requirements.txt"]
    dev.setup(dev=False)
    dev.setup(dev=True)
    assert dev.installs == ["requirements.txt", "requirements-dev.txt"]
    dev.setup(dev=True)
    dev.setup(dev=False)  # the runtime is part of what test installed
    assert dev.installs == ["requirements.txt", "requirements-dev.txt"]


def test_a_changed_file_installs_again(dev):
    dev.setup(dev=True)
    with open(dev.ROOT / "requirements-dev.txt", "a") as file:
        file.write("pytest-timeout==2.4.0\n")
    dev.setup(dev=False)  # run does not need the tools
    dev.setup(dev=True)
    with open(dev.ROOT / "requirements.txt", "a") as file:
        file.write("structlog==25.4.0\n")
    dev.setup(dev=False)
    dev.setup(dev=True)  # the dev install includes requirements.txt: stale too
    assert dev.installs == ["requirements-dev.txt", "requirements-dev.txt",
                            "requirements.txt", "requirements-dev.txt"]


def test_an_old_single_hash_stamp_installs_again(dev):
    dev.STAMP.write_text("0c102546af7bfcca28bab29555890bb82c6c5aa2bc9a83dd5ffdcc2b7394c314")
    dev.setup(dev=False)
    assert dev.installs == ["requirements.txt"]


def sigint_ignored() -> None:
    """As a shell starts a background job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_run_stops_on_sigint_even_started_as_a_background_job(name):
    """A shell starts a background job with SIGINT ignored and Python keeps it so: `kill
    -INT` left `dev.py run` and its servers running. Each of these signals now stops it
    as Ctrl-C does (run's `finally` stops the children)."""
    code = ("import importlib.util, os, signal, sys, time\n"
            f"spec = importlib.util.spec_from_file_location('dev', {str(ROOT / 'dev.py')!r})\n"
            "dev = importlib.util.module_from_spec(spec); spec.loader.exec_module(dev)\n"
            "dev.stop_on_signals()\n"
            "try:\n"
            f"    os.kill(os.getpid(), signal.{name}); time.sleep(2)\n"
            "except KeyboardInterrupt:\n"
            "    sys.exit(0)\n"
            "sys.exit(3)  # the signal did nothing\n")
    stopped = subprocess.run([sys.executable, "-c", code], timeout=30,
                             preexec_fn=sigint_ignored)
    assert stopped.returncode == 0
