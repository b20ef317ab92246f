#!/usr/bin/env python3
"""/pay with Redis up, killed and hung, in-process (issue 17).

    .venv/bin/python bench/redis_outage.py [--requests 30]
        [--database-url postgres://postgres@127.0.0.1:5432/bench_redis_outage]

Starts a redis-server of its own on a free port, the sandbox (latency 0), makes the
database afresh (migrate, demo_setup; dropped at the end) and loads the site as
``bench/pay_profile.py`` does (DEBUG off, the throttle and the Stripe budget on, Redis
for everything it is used for, with the default REDIS_TIMEOUT_SECONDS and
REDIS_RETRY_AFTER_SECONDS). Then three phases, each ``--requests`` checkouts paid with
4242 and as many with a 3-D Secure card (both steps), serially through Django's
WSGIHandler: Redis up; Redis killed (SIGKILL); Redis hung (started again, then SIGSTOP:
it accepts connections and never answers). The pages before /pay (store, cart,
checkout, order page) run in every phase too (a failure stops the run). Prints each
step's median with its ratio to the phase with Redis up and its slowest (the wall time
includes the receipt's publish after the response, as a gunicorn thread spends it),
and the log's warnings by logger. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.checkout import database_drop, database_url, free_port, wait_for  # noqa: E402
from bench.pay_profile import (  # noqa: E402
    STEPS,
    THREE_DS,
    VISA,
    checkout_ours,
    connections_close,
    median,
    pay_card,
)
from stripe_sandbox import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY  # noqa: E402
from stripe_sandbox.controls import SandboxControls  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

PHASES = ("Redis up", "Redis killed", "Redis hung")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="checkouts per card and phase")
    parser.add_argument("--database-url",
                        default="postgres://postgres@127.0.0.1:5432/bench_redis_outage")
    args = parser.parse_args()

    redis_server = RedisServer()
    redis_server.start()
    sandbox_url = f"http://127.0.0.1:{free_port()}"
    db_url, db_server = database_url(args.database_url)
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "paymentsite.settings", "DATABASE_URL": db_url,
        "STRIPE_API_BASE": sandbox_url, "STRIPE_SECRET_KEY": DEFAULT_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": DEFAULT_PUBLISHABLE_KEY, "STRIPE_MAX_NETWORK_RETRIES": "0",
        "DJANGO_SECRET_KEY": "bench-" + "x" * 40, "DJANGO_DEBUG": "0",
        "SITE_URL": "http://127.0.0.1:8000",  # required with DEBUG off
        "DJANGO_SECURE_COOKIES": "0", "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "DEFAULT_FROM_EMAIL": "bench@example.com",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "PAYMENTS_PAY_RATE_PER_SESSION": "1000/m", "PAYMENTS_PAY_RATE_PER_IP": "1000000/m",
        "STRIPE_RATE_LIMIT_PER_SECOND": "1000000", "REDIS_URL": redis_server.url})
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "bench-redis-outage.log", "w")  # noqa: SIM115 - for the run
    sandbox_process = subprocess.Popen(
        [sys.executable, "-m", "stripe_sandbox", "--port", sandbox_url.rsplit(":", 1)[1]],
        cwd=ROOT, stdout=log, stderr=log)
    try:
        wait_for(sandbox_url + "/healthz")
        print(f"database: {db_url.split(':')[0]}; migrating ...", flush=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=ROOT, check=True)
        subprocess.run([sys.executable, "manage.py", "demo_setup"], cwd=ROOT, check=True,
                       env={**os.environ, "DJANGO_DEBUG": "1"}, stdout=subprocess.DEVNULL)
        from paymentsite.wsgi import application as ours

        for handler in logging.getLogger().handlers:  # our JSON lines, to the file
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                handler.setStream(log)
        warnings: Counter[str] = Counter()
        counter = logging.Handler(logging.WARNING)
        counter.emit = lambda record: warnings.update([record.name])
        logging.getLogger().addHandler(counter)
        sandbox = SandboxControls(sandbox_url)
        sandbox.reset()
        sandbox.set_latency(0)
        made = [0]

        def checkout():
            made[0] += 1
            return checkout_ours(ours, made[0])

        for index in range(10):  # warm-up
            pay_card(checkout(), (VISA, THREE_DS)[index % 2], sandbox, {})
        timings: dict[str, dict] = {}
        for phase in PHASES:
            if phase == "Redis killed":
                redis_server.kill()
            elif phase == "Redis hung":
                redis_server.start()
                redis_server.pause()
            timings[phase] = {}
            for _ in range(args.requests):
                pay_card(checkout(), VISA, sandbox, timings[phase])  # exits on a failure
                pay_card(checkout(), THREE_DS, sandbox, timings[phase])
        redis_server.resume()

        print(f"\n{args.requests} checkouts per card and phase, serial, in-process, sandbox "
              f"at 0 ms; every /pay answered 200 and paid; {os.cpu_count()} CPUs\n")
        print("Median (its ratio to Redis up) and slowest of each step:\n")
        print("| step | " + " | ".join(PHASES) + " |\n" + "| --- " * (len(PHASES) + 1) + "|")
        up = timings["Redis up"]
        for step, label in STEPS.items():
            cells = []
            for phase in PHASES:
                times = timings[phase].get(step, [])
                value = median(times, 0)
                ratio = value / median(up.get(step, []), 0)
                cells.append(f"{value:.1f} ms" + ("" if phase == "Redis up" else
                                                  f" (×{ratio:.1f})")
                             + f", max {max(t[0] for t in times):.0f} ms")
            print(f"| {label} | " + " | ".join(cells) + " |")
        print(f"\nWarnings by logger: {dict(warnings) or 'none'} (var/bench-redis-outage.log)")
        return 0
    finally:
        sandbox_process.terminate()
        redis_server.close()
        for cleanup in (connections_close, lambda: sandbox_process.wait(timeout=10),
                        lambda: database_drop(db_url, db_server)):
            try:
                cleanup()
            except Exception as error:  # noqa: BLE001 - say so, and go on cleaning up
                print(f"cleanup: {error!r}", file=sys.stderr)
        if sandbox_process.poll() is None:
            sandbox_process.kill()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
