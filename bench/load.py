#!/usr/bin/env python3
"""Sustained checkouts at Stripe's ceiling: the whole product against a sandbox that
enforces Stripe's test-mode rate limits.

    .venv/bin/python bench/load.py [--rates 10,15,18,20,22] [--seconds 60]
                                   [--database-url postgres://…/NAME] [--redis-url URL]
                                   [--workers 2] [--threads 8] [--flood 1000]

Starts, on this machine, the production shape: the sandbox (``--rate-limits test``: 25
calls a second for the account, 25 per endpoint; webhooks to the site), gunicorn
(DEBUG off, ``--workers``×``--threads``), one Celery worker and one beat, on PostgreSQL
(``--database-url``: dropped and made afresh, dropped at the end) and Redis
(``--redis-url``, a database the bench may empty). The site's Stripe budget is sized to
the test-mode limits (``STRIPE_RATE_LIMIT_PER_SECOND=25``).

For each offered rate (checkouts a second, open loop: a new shopper every 1/rate s,
whatever the site answers), for ``--seconds``:
  - orders are placed before the phase (not timed), one session each;
  - each shopper pays with the mix of 70 % 4242, 20 % 3-D Secure (the bank's modal
    answered through the sandbox's control, then the second confirm) and 10 % 9995,
    retrying after a 429 or 503 as a person would (once, after its Retry-After);
and it prints, per rate: checkouts/s achieved, shopper-facing 429/5xx, Stripe's 429s
by source, webhook lag p50/p99 (delivery → processed, from the stored events), Stripe
calls per checkout (the sandbox's log of every server-side call: /pay, webhooks, worker,
beat), and CPU per checkout of each process (web, worker, beat, sandbox, this load
generator) with the ceiling that CPU implies on this machine.

Then, apart: the webhook intake alone (signed deliveries to one web process: server
time p50 serially, deliveries a second at concurrency 8), and ``--flood`` bad-signature
deliveries sent during a phase at a moderate rate against the same phase without them
(/pay p50 and p99). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.checkout import (  # noqa: E402
    cpu_seconds,
    database_drop,
    database_url,
    free_port,
    percentile,
    wait_for,
)
from stripe_sandbox import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY  # noqa: E402
from stripe_sandbox.controls import SandboxControls  # noqa: E402
from stripe_sandbox.webhooks import signature_header  # noqa: E402

CARDS = ["pm_card_visa"] * 7 + ["pm_card_authenticationRequired"] * 2 + \
    ["pm_card_chargeDeclinedInsufficientFunds"]
PRODUCT = "field-notebook"
COUNTERS_HASH = "payments:metrics"  # payments.telemetry.counters.HASH


@dataclass
class Shopper:
    index: int
    cookie: str
    csrf: str
    statuses: list[int] = field(default_factory=list)
    pay_ms: list[float] = field(default_factory=list)
    paid: bool = False
    done_at: float = 0.0

    @property
    def card(self) -> str:
        return CARDS[self.index % len(CARDS)]


def place_orders(site: str, count: int, first: int) -> list[Shopper]:
    def place(index: int) -> Shopper:
        with httpx.Client(base_url=site, timeout=30) as client:
            client.get("/")
            csrf = client.cookies["csrftoken"]
            client.post("/cart/", data={"action": "add", "sku": PRODUCT, "quantity": "1",
                                        "csrfmiddlewaretoken": csrf})
            client.post("/checkout/", data={"email": f"load{index}@example.com",
                                            "csrfmiddlewaretoken": csrf})
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            return Shopper(index=index, cookie=cookie, csrf=csrf)

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(place, range(first, first + count)))


def pay(site: str, shopper: Shopper, sandbox: SandboxControls, client: httpx.Client) -> None:
    """The page's client: the card, the bank's modal if asked, the second confirm; one
    retry after a 429 or a 503, as a person would press Pay again."""
    headers = {"Content-Type": "application/json", "Cookie": shopper.cookie,
               "X-CSRFToken": shopper.csrf}
    body = {"payment_method_id": shopper.card}
    retried = False
    while True:
        started = time.perf_counter()
        try:
            response = client.post(f"{site}/pay", content=json.dumps(body), headers=headers)
            status, answer = response.status_code, response.json()
        except (httpx.HTTPError, ValueError):
            status, answer = 599, {}
        shopper.pay_ms.append((time.perf_counter() - started) * 1000)
        shopper.statuses.append(status)
        if status in (429, 503, 599) and not retried:
            retried = True
            time.sleep(min(float(response.headers.get("Retry-After", "1")), 2.0)
                       if status != 599 else 1.0)
            continue
        if answer.get("requiresAction"):
            intent_id = answer["clientSecret"].split("_secret_")[0]
            sandbox.authenticate(intent_id, "complete")  # the bank modal's button
            body = {"payment_intent_id": intent_id}
            continue
        shopper.paid = bool(answer.get("success"))
        shopper.done_at = time.monotonic()
        return


def drive(site: str, shoppers: list[Shopper], rate: float, sandbox: SandboxControls,
          pool: ThreadPoolExecutor) -> float:
    """Start a shopper every 1/rate seconds (open loop) and wait for all; returns when
    the first started (``time.monotonic``)."""
    clients = threading.local()

    def run(shopper: Shopper) -> None:
        if not hasattr(clients, "client"):
            clients.client = httpx.Client(timeout=60)
        pay(site, shopper, sandbox, clients.client)

    started = time.monotonic()
    futures = []
    for n, shopper in enumerate(shoppers):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        futures.append(pool.submit(run, shopper))
    for future in futures:
        future.result()
    return started


def process_tree_cpu(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def own_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def telemetry(redis_url: str) -> dict[str, float]:
    import redis

    raw = redis.Redis.from_url(redis_url).hgetall(COUNTERS_HASH)
    return {key.decode(): float(value) for key, value in raw.items()}


def stripe_429s_by_source(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    found: dict[str, int] = {}
    for key, value in after.items():
        name, _, labels = key.partition("|")
        if name == "stripe_calls" and "status=429" in labels:
            source = dict(pair.split("=", 1) for pair in labels.split(","))["source"]
            found[source] = found.get(source, 0) + int(value - before.get(key, 0))
    return {source: count for source, count in found.items() if count}


def webhook_lags(db_url: str, since_epoch: float) -> tuple[list[float], int]:
    """Seconds from delivery to processing of the events received since then, and how
    many are not processed yet."""
    import psycopg

    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT EXTRACT(EPOCH FROM processed_at - received_at) FROM payments_webhookevent "
            "WHERE received_at >= to_timestamp(%s)", [since_epoch]).fetchall()
    lags = [float(lag) for (lag,) in rows if lag is not None]
    return lags, sum(1 for (lag,) in rows if lag is None)


def server_calls(sandbox: SandboxControls) -> int:
    return sum(1 for entry in sandbox.requests() if not entry["publishable"])


def settle(db_url: str, since: float, timeout: float = 60) -> None:
    """Wait for the phase's webhooks to be processed (or the timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if webhook_lags(db_url, since)[1] == 0:
            return
        time.sleep(1)


@dataclass
class Row:
    rate: float
    checkouts: int
    per_second: float
    shopper_errors: dict[int, int]
    stripe_429s: dict[str, int]
    lag_p50: float
    lag_p99: float
    unprocessed: int
    calls_per_checkout: float
    cpu_ms: dict[str, float]
    pay_p50: float
    pay_p99: float


def phase(args, site: str, sandbox: SandboxControls, db_url: str, pids: dict[str, int],
          rate: float, pool: ThreadPoolExecutor, first: int, flood_url: str | None = None
          ) -> Row:
    count = max(1, int(rate * args.seconds))
    shoppers = place_orders(site, count, first)
    time.sleep(2)  # the placing's webhooks and scans out of the way
    sandbox.clear_requests()
    before = telemetry(args.redis_url)
    cpu_before, own_before = process_tree_cpu(pids), own_cpu()
    since = time.time()
    flood = threading.Thread(target=flood_bad, args=(flood_url, args.flood)) \
        if flood_url else None
    if flood:
        flood.start()
    started = drive(site, shoppers, rate, sandbox, pool)
    if flood:
        flood.join()
    elapsed = max(s.done_at for s in shoppers) - started
    settle(db_url, since)
    cpu_after, own_after = process_tree_cpu(pids), own_cpu()
    lags, unprocessed = webhook_lags(db_url, since)
    errors: dict[int, int] = {}
    for shopper in shoppers:
        for status in shopper.statuses:
            if status == 429 or status >= 500:
                errors[status] = errors.get(status, 0) + 1
    cpu = {name: (cpu_after[name] - cpu_before[name]) * 1000 / count for name in pids}
    cpu["load generator"] = (own_after - own_before) * 1000 / count
    pay_ms = [ms for s in shoppers for ms in s.pay_ms]
    # A checkout is done when the shopper got its final answer: paid, or the decline.
    done = sum(s.paid or s.statuses[-1] == 402 for s in shoppers)
    return Row(rate=rate, checkouts=count, per_second=done / elapsed,
               shopper_errors=errors,
               stripe_429s=stripe_429s_by_source(before, telemetry(args.redis_url)),
               lag_p50=percentile(lags, 50) if lags else float("nan"),
               lag_p99=percentile(lags, 99) if lags else float("nan"),
               unprocessed=unprocessed,
               calls_per_checkout=server_calls(sandbox) / count, cpu_ms=cpu,
               pay_p50=percentile(pay_ms, 50), pay_p99=percentile(pay_ms, 99))


def flood_bad(url: str, count: int) -> None:
    """``count`` deliveries with a wrong signature, as fast as they go."""
    body = json.dumps({"id": "evt_flood", "object": "event", "type": "payment_intent.succeeded",
                       "created": int(time.time()), "livemode": False,
                       "data": {"object": {"id": "pi_flood", "object": "payment_intent"}}})
    with httpx.Client(timeout=30) as client:
        for _ in range(count):
            client.post(url, content=body, headers={
                "Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}",
                "Content-Type": "application/json"})


def intake(url: str, secret: str, count: int, web_pid: int) -> tuple[float, float, float]:
    """Signed deliveries of new events: p50 ms serially (as the client sees it), then at
    concurrency 8 deliveries a second and the web processes' CPU ms per delivery (which
    bounds a process's rate whatever else the machine runs)."""
    def delivery() -> tuple[bytes, str]:
        body = json.dumps({
            "id": f"evt_bench{uuid.uuid4().hex[:20]}", "object": "event",
            "type": "payment_intent.succeeded", "created": int(time.time()),
            "livemode": False, "data": {"object": {
                "id": f"pi_bench{uuid.uuid4().hex[:16]}", "object": "payment_intent",
                "status": "succeeded", "amount": 100, "currency": "eur",
                "confirmation_method": "manual", "created": int(time.time())}}}).encode()
        return body, signature_header(secret, body)

    serial = []
    with httpx.Client(timeout=30) as client:
        for _ in range(count // 4):
            body, signature = delivery()
            started = time.perf_counter()
            client.post(url, content=body, headers={"Stripe-Signature": signature,
                                                    "Content-Type": "application/json"})
            serial.append((time.perf_counter() - started) * 1000)
    prepared = [delivery() for _ in range(count)]

    clients = threading.local()  # one client a thread: making one costs milliseconds

    def send(item: tuple[bytes, str]) -> None:
        if not hasattr(clients, "client"):
            clients.client = httpx.Client(timeout=30)
        clients.client.post(url, content=item[0], headers={
            "Stripe-Signature": item[1], "Content-Type": "application/json"})

    started, cpu_before = time.perf_counter(), cpu_seconds(web_pid)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, prepared))
    per_second = count / (time.perf_counter() - started)
    return statistics.median(serial), per_second, (cpu_seconds(web_pid) - cpu_before) * 1000 / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="10,15,18,20,22")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--flood", type=int, default=1000,
                        help="bad-signature deliveries during a phase of 5 checkouts/s")
    parser.add_argument("--intake", type=int, default=2000, help="deliveries to time")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9",
                        help="a Redis database the bench may empty")
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    sandbox_port, site_port = free_port(), free_port()
    sandbox_url, site = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{site_port}"
    db_url, db_server = database_url(args.database_url)
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": args.redis_url,
           "STRIPE_API_BASE": sandbox_url, "STRIPE_SECRET_KEY": DEFAULT_SECRET_KEY,
           "STRIPE_PUBLISHABLE_KEY": DEFAULT_PUBLISHABLE_KEY,
           "STRIPE_MAX_NETWORK_RETRIES": "0", "DJANGO_SECRET_KEY": "bench-" + "x" * 40,
           "DJANGO_DEBUG": "0", "DJANGO_SECURE_COOKIES": "0", "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
           "SITE_URL": "http://127.0.0.1:8000",  # required with DEBUG off
           "DJANGO_SECURE_SSL_REDIRECT": "0", "DEFAULT_FROM_EMAIL": "bench@example.com",
           "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
           "DJANGO_LOG_LEVEL": "WARNING",
           # The account's budget at test mode's limits; the card-testing throttle off (one
           # address sends every shopper).
           "STRIPE_RATE_LIMIT_PER_SECOND": "25", "PAYMENTS_PAY_RATE_PER_SESSION": "",
           "PAYMENTS_PAY_RATE_PER_IP": ""}
    (ROOT / "var").mkdir(exist_ok=True)  # a fresh clone has none before the first run
    log = open(ROOT / "var" / "bench-load.log", "w")  # noqa: SIM115 - lives for the run
    spawn = lambda argv, **kw: subprocess.Popen(  # noqa: E731
        [sys.executable, *argv], cwd=ROOT, env={**env, **kw}, stdout=log, stderr=log)
    processes: dict[str, subprocess.Popen] = {}
    try:
        processes["sandbox"] = spawn(["-m", "stripe_sandbox", "--port", str(sandbox_port),
                                      "--rate-limits", "test"])
        wait_for(sandbox_url + "/healthz")
        print(f"database: {db_url.split(':')[0]}; migrating ...", flush=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "manage.py", "demo_setup", "--webhooks-to", site],
                       cwd=ROOT, env={**env, "DJANGO_DEBUG": "1"}, check=True,
                       stdout=subprocess.DEVNULL)
        processes["web"] = spawn([
            "-m", "gunicorn", "paymentsite.wsgi", "--bind", f"127.0.0.1:{site_port}",
            "--worker-class", "gthread", "--workers", str(args.workers), "--threads",
            str(args.threads), "--log-level", "warning", "--max-requests", "0"])
        processes["worker"] = spawn(["-m", "celery", "-A", "paymentsite", "worker",
                                     "--loglevel", "WARNING", "--concurrency", "2"])
        processes["beat"] = spawn(["-m", "celery", "-A", "paymentsite", "beat",
                                   "--loglevel", "WARNING"])
        wait_for(site + "/")
        sandbox = SandboxControls(sandbox_url)
        pids = {name: process.pid for name, process in processes.items()}
        print(f"gunicorn gthread {args.workers}×{args.threads}, one Celery worker (2 "
              f"processes), one beat; sandbox at Stripe's test-mode limits; "
              f"{os.cpu_count()} CPUs for all of it and this client; {args.seconds:.0f} s a "
              "rate; cards 70 % 4242, 20 % 3-D Secure completed, 10 % 9995\n", flush=True)
        rows = []
        first = 0
        with ThreadPoolExecutor(256) as pool:
            for rate in [float(r) for r in args.rates.split(",") if r]:
                rows.append(phase(args, site, sandbox, db_url, pids, rate, pool, first))
                first += rows[-1].checkouts
                print_row(rows[-1])
            endpoint_url, secret = webhook_endpoint(db_url, site)
            print("\nWebhook intake alone (signed deliveries of new events to the site):",
                  flush=True)
            p50, per_second, cpu_ms = intake(endpoint_url, secret, args.intake, pids["web"])
            print(f"- p50 serially, as the client sees it: {p50:.1f} ms (goal ≤ 5 ms of "
                  f"server time)\n- web CPU per delivery: {cpu_ms:.2f} ms, so one process "
                  f"takes at most {1000 / cpu_ms:.0f} deliveries/s (goal ≥ 500)\n- achieved "
                  f"here, concurrency 8, {args.workers} web processes sharing "
                  f"{os.cpu_count()} CPUs with everything else: {per_second:.0f}/s")
            calm_rate = 5.0
            calm = phase(args, site, sandbox, db_url, pids, calm_rate, pool, first)
            first += calm.checkouts
            flooded = phase(args, site, sandbox, db_url, pids, calm_rate, pool, first,
                            flood_url=endpoint_url)
            print(f"\n{args.flood} bad-signature deliveries during a phase at {calm_rate:g} "
                  f"checkouts/s: /pay p50 {calm.pay_p50:.0f} → {flooded.pay_p50:.0f} ms, "
                  f"p99 {calm.pay_p99:.0f} → {flooded.pay_p99:.0f} ms; Stripe calls per "
                  f"checkout {calm.calls_per_checkout:.2f} → {flooded.calls_per_checkout:.2f}")
        print_goals(rows)
        return 0
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
        database_drop(db_url, db_server)


HEADER = ("| offered /s | achieved /s | shopper 429/5xx | Stripe 429s by source | webhook lag "
          "p50 / p99 | not processed | Stripe calls/checkout | CPU ms/checkout web, worker, "
          "beat, sandbox, load | CPU ceiling /s |")
printed_header = False


def print_row(row: Row) -> None:
    global printed_header
    if not printed_header:
        print(HEADER)
        print("| --- " * 9 + "|")
        printed_header = True
    cpu = row.cpu_ms
    total = sum(cpu.values())
    ceiling = (os.cpu_count() or 1) * 1000 / total if total else float("inf")
    print(f"| {row.rate:g} | {row.per_second:.1f} | "
          f"{sum(row.shopper_errors.values())} {row.shopper_errors or ''} | "
          f"{row.stripe_429s or 0} | {row.lag_p50:.2f} / {row.lag_p99:.2f} s | "
          f"{row.unprocessed} | {row.calls_per_checkout:.2f} | "
          f"{cpu['web']:.0f}, {cpu['worker']:.0f}, {cpu['beat']:.0f}, {cpu['sandbox']:.0f}, "
          f"{cpu['load generator']:.0f} | {ceiling:.1f} |", flush=True)


def print_goals(rows: list[Row]) -> None:
    print("\nGoals (the Stripe-budget issue), per offered rate below Stripe's ceiling of "
          "20.8 checkouts/s:")
    for row in rows:
        verdicts = [f"calls/checkout {row.calls_per_checkout:.2f} "
                    f"({'met' if row.calls_per_checkout <= 1.3 else 'NOT met'}, ≤ 1.3)",
                    f"shopper 429/5xx {sum(row.shopper_errors.values())}",
                    f"webhook lag p99 {row.lag_p99:.1f} s "
                    f"({'met' if row.lag_p99 <= 10 else 'NOT met'}, ≤ 10 s)"]
        if row.rate >= 18:
            verdicts.append(f"achieved {row.per_second:.1f}/s "
                            f"({'met' if row.per_second >= 18 else 'NOT met'}, ≥ 18)")
        print(f"- {row.rate:g}/s: " + "; ".join(verdicts))


def webhook_endpoint(db_url: str, site: str) -> tuple[str, str]:
    import psycopg

    with psycopg.connect(db_url) as conn:
        endpoint_uuid, secret = conn.execute(
            "SELECT djstripe_uuid, secret FROM djstripe_webhookendpoint").fetchone()
    return f"{site}/stripe/webhook/{endpoint_uuid}/", secret


if __name__ == "__main__":
    sys.exit(main())
