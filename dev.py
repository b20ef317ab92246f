#!/usr/bin/env python3
"""One entry point for a fresh machine with only Python 3.11+.

    python3 dev.py run     # set up, then run the product on embedded defaults
    python3 dev.py test    # set up, then lint and run the whole test suite

Setting up means: a virtualenv in .venv with requirements.txt installed (done
again only when requirements.txt changes). Standard library only, on purpose.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".requirements.sha256"


def setup() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may run on an older python3
        sys.exit("Python 3.11 or newer is needed.")
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    wanted = hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        print("Installing requirements.txt into .venv ...", flush=True)
        subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                       check=True)
        subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "-r",
                        ROOT / "requirements.txt"], check=True)
        STAMP.write_text(wanted)
    (ROOT / "var").mkdir(exist_ok=True)


def test(args: list[str]) -> int:
    setup()
    lint = subprocess.run([BIN / "ruff", "check", "."], cwd=ROOT)
    if lint.returncode:
        return lint.returncode
    return subprocess.run([PYTHON, "-m", "pytest", *args], cwd=ROOT).returncode


def run(args: list[str]) -> int:
    setup()
    port = os.environ.get("SANDBOX_PORT", "12111")
    print(f"Starting the Stripe sandbox at http://127.0.0.1:{port} (Ctrl-C stops it)",
          flush=True)
    try:
        return subprocess.run([PYTHON, "-m", "stripe_sandbox", "--port", port, *args],
                              cwd=ROOT).returncode
    except KeyboardInterrupt:
        return 0


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
