#!/usr/bin/env python3
"""/pay on a production server against a bare stripe-python script, in one run.

    .venv/bin/python bench/checkout.py [--checkouts 1000] [--concurrency 8,32]
                                       [--latency 0,100] [--database-url URL]

Starts the sandbox and the site under gunicorn (DEBUG off, rate limits off), then for
each added sandbox latency and client concurrency:
  1. places ``--checkouts`` orders over HTTP, each in its own session (not timed);
  2. pays them through /pay with a card mix of 70 % 4242, 20 % 3-D Secure (the bank's
     answer given through the sandbox's control, not timed) and 10 % 9995;
  3. makes the same Stripe calls with bare stripe-python at the same concurrency.
It prints throughput, p50/p99 of /pay and of the bare calls, Stripe calls per
checkout (from the sandbox's request log), the latency ratio, and our server's
overhead (p50 of /pay minus p50 of the bare call). Nothing is asserted.

The database is PostgreSQL (a ``paymentsbench`` database created next to
``DATABASE_URL`` or on 127.0.0.1) when reachable, else a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import stripe

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stripe_sandbox import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY  # noqa: E402
from stripe_sandbox.controls import SandboxControls  # noqa: E402

CARDS = ["pm_card_visa"] * 7 + ["pm_card_authenticationRequired"] * 2 + \
    ["pm_card_chargeDeclinedInsufficientFunds"]
PAY = {"Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def database_url(given: str | None) -> str:
    """A fresh ``paymentsbench`` PostgreSQL database, or a temporary SQLite file."""
    base = given or os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test"
    if base.startswith("postgres"):
        try:
            import psycopg

            with psycopg.connect(base, autocommit=True, connect_timeout=3) as conn:
                conn.execute("DROP DATABASE IF EXISTS paymentsbench WITH (FORCE)")
                conn.execute("CREATE DATABASE paymentsbench")
            parts = urlsplit(base)
            return urlunsplit(parts._replace(path="/paymentsbench"))
        except Exception as error:  # noqa: BLE001 - fall back, and say so
            print(f"PostgreSQL not usable ({error}); using SQLite.", flush=True)
    return f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"


@dataclass
class Checkout:
    index: int
    cookie: str = ""
    csrf: str = ""
    pay_ms: list[float] = field(default_factory=list)

    @property
    def card(self) -> str:
        return CARDS[self.index % len(CARDS)]


def place_orders(site: str, count: int, product_sku: str) -> list[Checkout]:
    def place(index: int) -> Checkout:
        with httpx.Client(base_url=site, timeout=30) as client:
            client.get("/")
            csrf = client.cookies["csrftoken"]
            client.post("/cart/", data={"action": "add", "sku": product_sku, "quantity": "1",
                                        "csrfmiddlewaretoken": csrf})
            client.post("/checkout/", data={"email": f"b{index}@example.com",
                                            "csrfmiddlewaretoken": csrf})
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            return Checkout(index=index, cookie=cookie, csrf=csrf)

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(place, range(count)))


def run_concurrently(items: list, concurrency: int, work: Callable) -> float:
    """Run ``work(item, client)`` over items with ``concurrency`` threads; wall seconds."""
    queue = iter(items)
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                work(item, client)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def pay_through_site(site: str, sandbox: SandboxControls) -> Callable:
    def work(checkout: Checkout, client: httpx.Client) -> None:
        headers = {**PAY, "Cookie": checkout.cookie, "X-CSRFToken": checkout.csrf}
        body = {"payment_method_id": checkout.card}
        while True:
            started = time.perf_counter()
            response = client.post(f"{site}/pay", content=json.dumps(body), headers=headers)
            checkout.pay_ms.append((time.perf_counter() - started) * 1000)
            answer = response.json()
            if not answer.get("requiresAction"):
                if response.status_code not in (200, 402):
                    raise SystemExit(f"/pay answered {response.status_code}: {answer}")
                return
            intent_id = answer["clientSecret"].split("_secret_")[0]
            sandbox.authenticate(intent_id, "complete")  # the bank modal's button
            body = {"payment_intent_id": intent_id}

    return work


def pay_with_bare_stripe(client: stripe.StripeClient, sandbox: SandboxControls) -> Callable:
    def work(checkout: Checkout, _http: httpx.Client) -> None:
        key = f"bare-{time.time_ns()}-{checkout.index}"
        params = {"amount": 1200, "currency": "eur", "payment_method_types": ["card"],
                  "payment_method": checkout.card, "confirm": True,
                  "confirmation_method": "manual", "metadata": {"order": key},
                  "expand": ["payment_method"]}
        started = time.perf_counter()
        try:
            intent = client.v1.payment_intents.create(params=params,
                                                      options={"idempotency_key": key})
        except stripe.CardError:
            checkout.pay_ms.append((time.perf_counter() - started) * 1000)
            return
        checkout.pay_ms.append((time.perf_counter() - started) * 1000)
        if intent.status == "requires_action":
            sandbox.authenticate(intent.id, "complete")
            started = time.perf_counter()
            client.v1.payment_intents.confirm(intent.id, params={"expand": ["payment_method"]},
                                              options={"idempotency_key": key + "-confirm"})
            checkout.pay_ms.append((time.perf_counter() - started) * 1000)

    return work


def cpu_seconds(root_pid: int) -> float:
    """CPU time (user + system) of a process and its children, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if root_pid in (pid, ppid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def stripe_calls(sandbox: SandboxControls) -> int:
    return sum(1 for entry in sandbox.requests("/v1/payment_intents")
               if entry["method"] == "POST" and not entry["publishable"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkouts", type=int, default=1000)
    parser.add_argument("--concurrency", default="8,32")
    parser.add_argument("--latency", default="0,100", help="added sandbox latency, ms")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                        help="cache and sessions, as in production ('' for none)")
    args = parser.parse_args()

    sandbox_port, site_port = free_port(), free_port()
    sandbox_url, site = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{site_port}"
    env = {**os.environ, "DATABASE_URL": database_url(args.database_url),
           "STRIPE_API_BASE": sandbox_url, "STRIPE_SECRET_KEY": DEFAULT_SECRET_KEY,
           "STRIPE_MAX_NETWORK_RETRIES": "0", "DJANGO_SECRET_KEY": "bench-" + "x" * 40,
           "DJANGO_DEBUG": "0", "DJANGO_SECURE_COOKIES": "0",
           "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
           # What production settings require with DEBUG off.
           "STRIPE_PUBLISHABLE_KEY": DEFAULT_PUBLISHABLE_KEY,
           "DEFAULT_FROM_EMAIL": "bench@example.com", "DJANGO_SECURE_SSL_REDIRECT": "0",
           # The limits are on, so their cost is measured, but too high to stop the run.
           "PAYMENTS_PAY_RATE_PER_SESSION": "1000/m", "PAYMENTS_PAY_RATE_PER_IP": "1000000/m",
           "REDIS_URL": args.redis_url}
    if not args.redis_url:
        env.pop("REDIS_URL")
    log = open(ROOT / "var" / "bench-checkout.log", "w")  # noqa: SIM115 - lives for the run
    processes = [subprocess.Popen([sys.executable, "-m", "stripe_sandbox", "--port",
                                   str(sandbox_port)], cwd=ROOT, stdout=log, stderr=log)]
    try:
        wait_for(sandbox_url + "/healthz")
        print(f"database: {env['DATABASE_URL'].split(':')[0]}; migrating ...", flush=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "manage.py", "demo_setup"], cwd=ROOT,
                       env={**env, "DJANGO_DEBUG": "1"}, check=True, stdout=subprocess.DEVNULL)
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "paymentsite.wsgi", "--bind",
             f"127.0.0.1:{site_port}", "--worker-class", "gthread", "--workers",
             str(args.workers), "--threads", str(args.threads), "--log-level", "warning",
             # gunicorn.conf.py recycles workers after max_requests: not mid-measurement.
             "--max-requests", "0"],
            cwd=ROOT, env=env, stdout=log, stderr=log))
        wait_for(site + "/")
        sandbox = SandboxControls(sandbox_url)
        bare = stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox_url},
                                   max_network_retries=0,
                                   http_client=stripe.RequestsClient(timeout=60))
        print(f"gunicorn gthread {args.workers}×{args.threads}; {os.cpu_count()} CPUs shared "
              f"with the sandbox, PostgreSQL and this client; {args.checkouts} checkouts per "
              f"row; cards 70 % 4242, 20 % 3-D Secure, 10 % 9995\n", flush=True)
        header = (f"{'latency':>7} {'conc':>4} | {'checkouts/s':>11} {'/pay p50':>9} "
                  f"{'p99':>7} | {'bare p50':>9} {'p99':>7} | {'calls/co':>8} {'bare':>5} | "
                  f"{'ratio p50':>9} {'p99':>5} | {'overhead p50':>12} | {'cpu/pay':>8}")
        print(header)
        print("-" * len(header))
        for latency in [int(x) for x in args.latency.split(",")]:
            for concurrency in [int(x) for x in args.concurrency.split(",")]:
                sandbox.reset()
                checkouts = place_orders(site, args.checkouts, "field-notebook")
                sandbox.set_latency(latency)
                sandbox.clear_requests()
                cpu_before = cpu_seconds(processes[1].pid)
                wall = run_concurrently(checkouts, concurrency, pay_through_site(site, sandbox))
                ours_calls = stripe_calls(sandbox)
                ours = [ms for c in checkouts for ms in c.pay_ms]
                server_cpu = (cpu_seconds(processes[1].pid) - cpu_before) * 1000 / len(ours)
                sandbox.clear_requests()
                baseline = [Checkout(index=c.index) for c in checkouts]
                run_concurrently(baseline, concurrency, pay_with_bare_stripe(bare, sandbox))
                bare_calls = stripe_calls(sandbox)
                theirs = [ms for c in baseline for ms in c.pay_ms]
                sandbox.set_latency(0)
                p50, p99 = percentile(ours, 50), percentile(ours, 99)
                b50, b99 = percentile(theirs, 50), percentile(theirs, 99)
                print(f"{latency:>5}ms {concurrency:>4} | {len(checkouts) / wall:>11.1f} "
                      f"{p50:>7.1f}ms {p99:>5.0f}ms | {b50:>7.1f}ms {b99:>5.0f}ms | "
                      f"{ours_calls / len(checkouts):>8.2f} {bare_calls / len(checkouts):>5.2f}"
                      f" | {p50 / b50:>9.2f} {p99 / b99:>5.2f} | {p50 - b50:>10.1f}ms"
                      f" | {server_cpu:>6.1f}ms", flush=True)
        print("\ncalls/co: Stripe calls per checkout (the floor: 1 without authentication, "
              "2 with it → 1.2 for this mix).\nratio: our /pay latency ÷ the bare "
              "stripe-python call's; goal ≤ 1.15 at 100 ms. overhead: goal ≤ 5 ms at p50.\n"
              "cpu/pay: CPU time of the gunicorn processes per /pay request.")
        return 0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
