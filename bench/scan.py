#!/usr/bin/env python3
"""The monitoring scans against bare stripe-python, in one run.

    .venv/bin/python bench/scan.py [--intents 100000] [--memory-sizes 10000,100000]
                                   [--webhooks 2000] [--database-url URL] [--profile N]

Starts the Stripe sandbox in this process and seeds ``--intents`` intents over 30 days
with their events (a mix of states: mostly paid, some declined, failed or abandoned at
the bank), then measures, in one run:

  a. a backfill (``scan_backfill(days=31)``, pacing off) against bare stripe-python
     listing the same intents (``payment_intents.list(...).auto_paging_iter()``): intents
     per second and their ratio (goal >= 0.8). Twice: on an empty database (the first
     backfill opens every incident) and again (every incident already held). Also the
     ratio to the same pages read as plain JSON (``raw_request``, as the gateway reads
     them): what the backfill's own work costs over the listing's floor.
  b. an incremental events scan with nothing new: Stripe calls (goal <= 2); and with one
     new payment.
  a. also the peak resident memory each backfill adds to this process (the peak is reset
     before it, ``/proc/self/clear_refs``), next to the sandbox holding every intent;
  c. memory: peak resident memory added by a backfill of 10,000 and of 100,000 intents,
     each in a fresh subprocess with its own database (the sandbox stays in this
     process); flat means the growth does not scale with the intents.
  d. webhooks: signed ``payment_intent.*`` events (the sandbox's own, of the types the
     product uses) posted in-process with Django's test client to
     ``/stripe/webhook/<uuid>/`` (the intake: checked and stored; the processing it queues
     goes to an in-memory Celery broker), then the stored events processed one by one as
     a worker does (``payments.monitoring.events``): deliveries a second, events a second.

``--profile N`` also prints cProfile's top N functions of each backfill;
``--no-bare-expand`` skips the bare listing with ``expand`` (the backfill does not expand,
so that listing is a reference only; at 1,000,000 intents it costs minutes). Seeding goes
in calls of at most 200,000 intents (the sandbox's limit per call). The database is
a temporary SQLite file (tables made from the models, as the test suite does, not by the
70-second migrations) unless ``--database-url`` names a PostgreSQL database, which is
DROPPED and made afresh (each memory subprocess does it again). Nothing is asserted; one
table is printed.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import hmac
import io
import json
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stripe_sandbox import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY, SandboxServer  # noqa: E402,I001
from stripe_sandbox.controls import SandboxControls  # noqa: E402

from bench.django_models import django_setup_without_migrations  # noqa: E402

DAY = 86400
# This process's CPU seconds (the sandbox's thread included) of the last of each phase: on
# a loaded machine a steadier comparison than the wall clock (PostgreSQL's own CPU is not
# in it).
CPU: dict[str, float] = {}
PEAK_ADDED_KB: dict[str, int] = {}  # the last backfill's peak resident memory added
# A plausible month of card payments on a 3-D Secure-ready checkout, in percent.
MIX = {"succeeded": 80, "card_declined": 5, "authentication_not_handled": 3,
       "authentication_failed": 3, "requires_action": 3, "requires_confirmation": 2,
       "canceled": 4}


# --- set-up ------------------------------------------------------------------------------

SEED_CHUNK = 200_000  # the sandbox's most per seed call (stripe_sandbox.seed.MAX_SEED)


def seed(controls: SandboxControls, intents: int) -> dict:
    """``intents`` intents created over the last 30 days (the newest an hour old), with the
    events each state implies; in calls of at most ``SEED_CHUNK``, each with the mix."""
    total = {"total": 0, "events": 0}
    for start in range(0, intents, SEED_CHUNK):
        size = min(SEED_CHUNK, intents - start)
        batches, left = [], size
        for index, (kind, percent) in enumerate(MIX.items()):
            count = left if index == len(MIX) - 1 else size * percent // 100
            left -= count
            batches.append({"count": count, "kind": kind, "age_seconds": 3600,
                            "spread_seconds": 30 * DAY - 7200})
        seeded = controls.seed(batches=batches, events=True)
        total["total"] += seeded["total"]
        total["events"] += seeded["events"]
    return total


def database_url(given: str | None, sqlite_path: Path) -> str:
    """A fresh PostgreSQL database when ``given`` names one, else a new SQLite file."""
    if given and given.startswith("postgres"):
        import psycopg

        name = urlsplit(given).path.lstrip("/")
        if not name.replace("_", "").isalnum():
            raise SystemExit(f"--database-url: {name!r} is no plain database name")
        server = urlunsplit(urlsplit(given)._replace(path="/postgres"))
        with psycopg.connect(server, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return given
    sqlite_path.unlink(missing_ok=True)
    return f"sqlite:///{sqlite_path}"


def django_setup(*, sandbox_url: str, db_url: str) -> None:
    """Django on ``db_url``, pointed at the sandbox, DEBUG off (no query log), pacing off,
    tables created from the models (migrations off, as ``pytest --no-migrations``)."""
    django_setup_without_migrations(env={
        "DJANGO_SETTINGS_MODULE": "paymentsite.settings", "DATABASE_URL": db_url,
        "STRIPE_API_BASE": sandbox_url, "STRIPE_SECRET_KEY": DEFAULT_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": DEFAULT_PUBLISHABLE_KEY,
        "DEFAULT_FROM_EMAIL": "Bench <bench@localhost>", "STRIPE_MAX_NETWORK_RETRIES": "0",
        "DJANGO_SECRET_KEY": "bench-" + "x" * 40,
        "DJANGO_DEBUG": "0", "DJANGO_SECURE_COOKIES": "0",
        "SITE_URL": "http://127.0.0.1:8000",  # required with DEBUG off
        "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1", "DJANGO_LOG_LEVEL": "WARNING",
        # The scans against bare stripe-python, neither paced by the account's budget.
        "PAYMENTS_BACKGROUND_CALLS_PER_SECOND": "0", "STRIPE_RATE_LIMIT_PER_SECOND": "0",
        "REDIS_URL": "",
    })
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)
    # The receivers queue fresh reads; keep them in memory, off the var/ broker.
    from celery import current_app

    current_app.conf.broker_url = "memory://"
    current_app.conf.broker_transport_options = {}


def rss_peak_reset() -> int | None:
    """Reset this process's peak resident memory to what it holds now (Linux: ``5`` to
    ``/proc/self/clear_refs``) and return that; None where the kernel does not allow it.
    A backfill's peak then shows, in the process that also holds the seeded sandbox."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return rss_kb()[0]


def rss_kb() -> tuple[int, int]:
    """(resident now, peak resident) of this process, in kB (Linux)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text()
                  .splitlines() if line.startswith(("VmRSS", "VmHWM")))
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


# --- a: backfill against bare stripe-python ---------------------------------------------

def bare_list(sandbox_url: str, since: int, until: int, *, expand: bool) -> tuple[int, float]:
    import stripe

    client = stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox_url},
                                 max_network_retries=0)
    params: dict = {"limit": 100, "created": {"gte": since, "lt": until}}
    if expand:  # what our gateway asks for: the card's brand, last4 and country
        params["expand"] = ["data.payment_method"]
    started, cpu = time.perf_counter(), time.process_time()
    count = sum(1 for _ in client.v1.payment_intents.list(params=params).auto_paging_iter())
    CPU[f"bare{'-expand' if expand else ''}"] = time.process_time() - cpu
    return count, time.perf_counter() - started


def bare_list_raw(sandbox_url: str, since: int, until: int) -> tuple[int, float]:
    """The same listing as plain JSON pages (``raw_request``, no stripe-python objects),
    as the gateway reads a backfill's pages since 2026-12-06: the floor of the listing."""
    import stripe

    client = stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox_url},
                                 max_network_retries=0)
    params: dict = {"limit": 100, "created": {"gte": since, "lt": until}}
    started, cpu, count = time.perf_counter(), time.process_time(), 0
    while True:
        page = client.raw_request("get", "/v1/payment_intents", **params).data
        count += len(page["data"])
        if not page["has_more"] or not page["data"]:
            break
        params["starting_after"] = page["data"][-1]["id"]
    CPU["bare-raw"] = time.process_time() - cpu
    return count, time.perf_counter() - started


def backfill(days: int = 31, profile: int = 0):
    from payments.monitoring import scans

    profiler = cProfile.Profile() if profile else None
    before = rss_peak_reset()
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    run = scans.scan_backfill(days=days)
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    CPU["backfill"] = time.process_time() - cpu
    PEAK_ADDED_KB["backfill"] = rss_kb()[1] - before if before is not None else -1
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        out.write(f"--- backfill profile: top {profile} by own time ---\n")
        stats.sort_stats("tottime").print_stats(profile)
        out.write("--- backfill profile: our functions and the ORM by cumulative time ---\n")
        stats.sort_stats("cumulative").print_stats(r"payments/|db/models/query\.py|"
                                                   r"stripe/_stripe_object|_http_client",
                                                   profile)
        print(out.getvalue().replace(str(ROOT) + "/", "").replace(
            str(Path(sys.prefix)) + "/", ""))
    return run, elapsed


# --- b: incremental events scan ----------------------------------------------------------

def events_scans(controls: SandboxControls, sandbox_url: str) -> tuple[int, int, int, int]:
    """(Stripe calls of the anchoring first scan, with nothing new, after one new payment;
    Stripe requests the sandbox saw for the nothing-new scan)."""
    import stripe

    from payments.monitoring import scans

    first = scans.scan_events()
    controls.clear_requests()
    idle = scans.scan_events()
    seen = len([r for r in controls.requests("/v1/") if not r["publishable"]])
    stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox_url}).v1. \
        payment_intents.create(params={"amount": 1000, "currency": "usd",
                                       "payment_method": "pm_card_visa", "confirm": True})
    one_new = scans.scan_events()
    return first.stripe_calls, idle.stripe_calls, seen, one_new.stripe_calls


# --- c: memory, one subprocess per size --------------------------------------------------

def memory_child(args: argparse.Namespace) -> None:
    """In a fresh process: set up Django, then backfill; print the memory it added."""
    django_setup(sandbox_url=args.sandbox_url,
                 db_url=database_url(args.database_url, Path(args.sqlite_path)))
    from django.db import connection

    from payments.models import ScanRun

    ScanRun.objects.exists()  # connect before measuring
    connection.ensure_connection()
    before, _ = rss_kb()
    run, elapsed = backfill()
    _, peak = rss_kb()
    print(json.dumps({"intents": run.intents_seen, "status": run.status,
                      "seconds": elapsed, "before_kb": before, "peak_kb": peak}))


def memory_run(controls: SandboxControls, sandbox_url: str, size: int, args, tmp: Path
               ) -> dict:
    controls.reset()
    seed(controls, size)
    command = [sys.executable, __file__, "--memory-child", "--sandbox-url", sandbox_url,
               "--sqlite-path", str(tmp / f"memory-{size}.sqlite3")]
    if args.database_url:
        command += ["--database-url", args.database_url]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"memory child for {size} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- d: webhooks -------------------------------------------------------------------------

def webhooks(controls: SandboxControls, sandbox_url: str, count: int
             ) -> tuple[int, float, float, dict]:
    """Post ``count`` signed payment_intent.* events, then process what was stored as a
    worker would; (events stored, intake seconds, processing seconds, statuses)."""
    import uuid
    from urllib.parse import urljoin

    import httpx
    import stripe
    from django.test import Client
    from django.urls import reverse
    from djstripe.models import WebhookEndpoint

    from payments.models import WebhookEvent
    from payments.monitoring import events
    from payments.stripe.facts import WEBHOOK_EVENT_TYPES

    stripe.api_base = sandbox_url  # dj-stripe uses stripe-python's module-level API
    endpoint_uuid = uuid.uuid4()
    path = reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint_uuid})
    data = WebhookEndpoint._api_create(
        url=urljoin("http://testserver", path), enabled_events=list(WEBHOOK_EVENT_TYPES),
        metadata={"djstripe_uuid": str(endpoint_uuid)})
    endpoint = WebhookEndpoint.sync_from_stripe_data(data)
    endpoint.secret = data["secret"]
    endpoint.save()

    bodies: list[bytes] = []  # the events as Stripe sends them: raw JSON, one per body
    http = httpx.Client(base_url=sandbox_url,
                        headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"})
    after = None
    while len(bodies) < count:
        params = {"types[]": list(WEBHOOK_EVENT_TYPES), "limit": 100}
        if after:
            params["starting_after"] = after
        page = http.get("/v1/events", params=params).json()
        if not page["data"]:
            break
        bodies += [json.dumps(event).encode() for event in page["data"]]
        after = page["data"][-1]["id"]
    bodies = bodies[:count]

    client = Client()
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    for body in bodies:
        timestamp = int(time.time())
        digest = hmac.new(endpoint.secret.encode(), f"{timestamp}.".encode() + body,
                          hashlib.sha256).hexdigest()
        response = client.post(path, body, content_type="application/json",
                               headers={"Stripe-Signature": f"t={timestamp},v1={digest}"})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    intake_s = time.perf_counter() - started
    stored = list(WebhookEvent.objects.values_list("pk", flat=True))
    started = time.perf_counter()
    for event_id in stored:
        events.webhook_event_process(event_id=event_id)
    return len(stored), intake_s, time.perf_counter() - started, statuses


# --- the run -----------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intents", type=int, default=100_000)
    parser.add_argument("--memory-sizes", default="10000,100000",
                        help="comma-separated sizes for the memory check; '' skips it")
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server (postgres://...); default: a SQLite file")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print cProfile's top N functions of each backfill")
    parser.add_argument("--no-bare-expand", dest="bare_expand", action="store_false",
                        help="skip bare stripe-python's listing with expand (reference only: "
                             "the backfill does not expand)")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sandbox-url", help=argparse.SUPPRESS)
    parser.add_argument("--sqlite-path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args)
        return

    print(f"load average at start: {_load()}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    rows: list[tuple[str, str, str, str]] = []
    with SandboxServer() as server:
        url = server.url
        controls = SandboxControls(url)
        started = time.perf_counter()
        seeded = seed(controls, args.intents)
        print(f"sandbox {url}: seeded {seeded['total']:,} intents and {seeded['events']:,} "
              f"events in {time.perf_counter() - started:.1f} s", flush=True)
        db_url = database_url(args.database_url, tmp / "bench_scan.sqlite3")
        django_setup(sandbox_url=url, db_url=db_url)
        print(f"database: {db_url.split(':')[0]}", flush=True)

        # a. backfill vs bare, after one warm-up list of both (connections, imports)
        now = int(time.time())
        since, until = now - 31 * DAY, now
        bare_list(url, now - 3600 * 3, until, expand=True)
        bare_count, bare_s = bare_list(url, since, until, expand=False)
        if args.bare_expand:
            bare_x_count, bare_x_s = bare_list(url, since, until, expand=True)
        else:  # the backfill does not expand either; this listing is for reference only
            bare_x_count, bare_x_s = 0, float("nan")
        bare_cpu = CPU["bare"]
        raw_count, raw_s = bare_list_raw(url, since, until)
        raw_cpu = CPU["bare-raw"]
        print(f"bare list: {bare_count:,} in {bare_s:.1f} s (CPU {bare_cpu:.1f} s); with "
              f"expand {bare_x_s:.1f} s; as plain JSON {raw_count:,} in {raw_s:.1f} s "
              f"(CPU {raw_cpu:.1f} s)", flush=True)
        first, first_s = backfill(profile=args.profile)
        first_cpu, first_kb = CPU["backfill"], PEAK_ADDED_KB["backfill"]
        print(f"first backfill: {first.status}, {first.intents_seen:,} intents, "
              f"{first.incidents_opened:,} incidents opened, {first.stripe_calls} calls, "
              f"{first_s:.1f} s (CPU {first_cpu:.1f} s)", flush=True)
        again, again_s = backfill(profile=args.profile)
        again_cpu, again_kb = CPU["backfill"], PEAK_ADDED_KB["backfill"]
        print(f"second backfill: {again.status}, {again.intents_seen:,} intents, "
              f"{again_s:.1f} s (CPU {again_cpu:.1f} s)", flush=True)
        bare_rate, bare_x_rate = bare_count / bare_s, bare_x_count / bare_x_s
        raw_rate = raw_count / raw_s
        for label, run, seconds, cpu in (
                ("first (opens incidents)", first, first_s, first_cpu),
                ("again (incidents held)", again, again_s, again_cpu)):
            rate = run.intents_seen / seconds
            ratio = rate / bare_rate
            cpu_ratio = (bare_cpu / bare_count) / (cpu / max(1, run.intents_seen))
            raw_cpu_ratio = (raw_cpu / raw_count) / (cpu / max(1, run.intents_seen))
            rows.append((f"a. backfill {label}: intents/s",
                         f"{rate:,.0f} vs bare {bare_rate:,.0f} ({bare_x_rate:,.0f} with "
                         f"expand; {raw_rate:,.0f} as plain JSON)",
                         f"ratio {ratio:.2f} ({rate / bare_x_rate:.2f} vs expand; "
                         f"CPU {cpu_ratio:.2f}; vs plain JSON {rate / raw_rate:.2f}, "
                         f"CPU {raw_cpu_ratio:.2f})",
                         _met(ratio >= 0.8, "≥ 0.8×")))
        rows.append(("a. peak RSS added by each backfill, in this process (sandbox's "
                     "pages included)", f"{first_kb / 1024:.1f} MB, {again_kb / 1024:.1f} MB "
                     f"(process {rss_kb()[0] / 1024:,.0f} MB)", "", ""))
        rows.append(("a. Stripe calls per 100 intents (backfill, bare)",
                     f"{100 * first.stripe_calls / max(1, first.intents_seen):.2f}, "
                     f"{100 * -(-bare_count // 100) / max(1, bare_count):.2f}", "", ""))

        # b. events scan
        anchor, idle, seen, one_new = events_scans(controls, url)
        rows.append(("b. events scan, nothing new: Stripe calls",
                     f"{idle} (sandbox saw {seen}; first scan anchors with {anchor}; "
                     f"one new payment: {one_new})", "", _met(idle <= 2, "≤ 2")))

        # d. webhooks (before c, which resets the sandbox)
        stored, intake_s, process_s, statuses = webhooks(controls, url, args.webhooks)
        rows.append(("d. webhook deliveries taken per second, in-process",
                     f"{sum(statuses.values()) / intake_s:,.0f}/s ({stored:,} stored, "
                     f"statuses {statuses})", "", ""))
        rows.append(("d. webhook events processed per second, one worker",
                     f"{stored / process_s:,.0f}/s", "", ""))

        # c. memory, fresh process per size
        sizes = [int(s) for s in args.memory_sizes.split(",") if s.strip()]
        if sizes:
            results = {size: memory_run(controls, url, size, args, tmp) for size in sizes}
            for size, result in results.items():
                grown = (result["peak_kb"] - result["before_kb"]) / 1024
                rows.append((f"c. backfill of {size:,} intents: peak RSS added",
                             f"{grown:.1f} MB (from {result['before_kb'] / 1024:.0f} MB; "
                             f"{result['intents']:,} intents in {result['seconds']:.1f} s)",
                             "", ""))
            small, large = results[min(sizes)], results[max(sizes)]
            growth = [(r["peak_kb"] - r["before_kb"]) / 1024 for r in (small, large)]
            rows.append((f"c. growth {max(sizes):,} vs {min(sizes):,}",
                         f"{growth[1] - growth[0]:+.1f} MB for "
                         f"{max(sizes) / min(sizes):.0f}× the intents", "",
                         _met(growth[1] <= growth[0] + 20, "flat (within 20 MB)")))
        controls.close()

    print(f"\nload average at the end: {_load()}")
    print("| measure | figure | ratio | goal |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _met(ok: bool, goal: str) -> str:
    return f"{goal}: {'met' if ok else 'NOT met'}"


if __name__ == "__main__":
    main()
