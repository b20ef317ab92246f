"""The admin at scale: the failed payments list and the dashboard on PostgreSQL.

Seeds 1,000,000 attempts (one order each) and 200,000 incidents over 120 days with
``INSERT ... SELECT generate_series`` (seconds, not minutes), then requests each page
through Django's test ``Client`` as a logged-in superuser (DEBUG off) and prints per page:
p50 and p90 over ``--runs`` requests after a warm-up, the number of queries, and the
slowest query. Last, ``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest query of all. Goals
(issue 9): list p50 < 300 ms, dashboard p50 < 1 s; queries independent of the rows.

    .venv/bin/python bench/admin.py                       # 1,000,000 / 200,000
    .venv/bin/python bench/admin.py --attempts 100000 --incidents 20000 --runs 5

It creates (dropping it first) the database named in ``--database-url`` (default
``postgres://postgres@127.0.0.1:5432/bench_admin``) and drops it at the end unless
``--keep``. Tables come from the models with migrations off, as the test suite makes them
(``migrate`` from an empty database stops at 0007_roles; see bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.django_models import django_setup_without_migrations  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_admin"


def database_recreate(url: str, *, drop_only: bool = False) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if name in ("", "postgres", "test", "template0", "template1"):
        raise SystemExit(f"refusing to drop the database {name!r}")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(url: str) -> None:
    from stripe_sandbox import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY

    django_setup_without_migrations(env={
        "STRIPE_SECRET_KEY": DEFAULT_SECRET_KEY, "STRIPE_PUBLISHABLE_KEY": DEFAULT_PUBLISHABLE_KEY,
        "DEFAULT_FROM_EMAIL": "Bench <bench@localhost>", "STRIPE_API_BASE": "http://127.0.0.1:9",
        "DJANGO_SETTINGS_MODULE": "paymentsite.settings", "DATABASE_URL": url,
        "DJANGO_DEBUG": "0", "DJANGO_SECURE_COOKIES": "0", "DJANGO_SECRET_KEY": "bench-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "testserver", "DJANGO_LOG_LEVEL": "WARNING", "REDIS_URL": "",
    })


SEED_SQL = """
INSERT INTO payments_order (reference, email, amount, currency, status, session_hash, created_at)
SELECT 'ord_bench' || lpad(i::text, 10, '0'), 'shopper' || (i %% 50000) || '@example.com',
       amt, cur, CASE WHEN i %% 10 < 8 THEN 'paid' ELSE 'open' END, '', ts
FROM (SELECT i, 500 + (i::bigint * 7919) %% 20000 AS amt,
             (ARRAY['eur','eur','eur','usd','gbp'])[1 + i %% 5] AS cur,
             now() - make_interval(secs => (i * 10.37)::int %% (120 * 86400)) AS ts
      FROM generate_series(1, %(attempts)s) AS i) s;

INSERT INTO payments_paymentattempt (order_id, number, stripe_id, create_payment_method,
    create_requested_at, status, amount, currency, confirmation_method, confirmations,
    last_error_code, last_decline_code, last_error_message, card_brand, card_last4,
    card_country, latest_charge, created_at, updated_at, requires_action_at,
    requires_confirmation_at, final_at)
SELECT o.id, 1, 'pi_bench' || lpad(o.id::text, 10, '0'), 'pm_card', o.created_at,
       CASE WHEN o.id %% 1000 = 0 THEN 'requires_confirmation'
            WHEN o.id %% 10 < 8 THEN 'succeeded' ELSE 'requires_payment_method' END,
       o.amount, o.currency, 'manual', 1, '', '', '',
       (ARRAY['visa','visa','mastercard','amex','cartes_bancaires'])[1 + o.id %% 5],
       lpad((o.id %% 10000)::text, 4, '0'),
       (ARRAY['DE','FR','US','GB','IT','NL','ES'])[1 + o.id %% 7], '', o.created_at, o.created_at,
       CASE WHEN o.id %% 3 = 0 THEN o.created_at END,
       CASE WHEN o.id %% 1000 = 0 THEN now() - make_interval(secs => o.id %% 3600) END,
       CASE WHEN o.id %% 10 < 8 THEN o.created_at END
FROM payments_order o;

INSERT INTO payments_incident (kind, status, stripe_id, attempt_id, order_id, amount, currency,
    card_brand, card_last4, card_country, customer_email, error_code, decline_code,
    error_message, intent_status, intent_created_at, first_seen_at, last_seen_at, resolved_at,
    source)
SELECT (ARRAY['requires_action_not_handled','authentication_failed','authentication_failed',
              'action_abandoned','confirmation_abandoned','expired'])[1 + a.id %% 6],
       (ARRAY['open', 'recovered', 'lost', 'lost', 'canceled', 'auto_finalized',
              'open'])[1 + (a.id / 5) %% 7],
       a.stripe_id, a.id, a.order_id, a.amount, a.currency,
       (ARRAY['visa', 'visa', 'mastercard', 'amex', 'cartes_bancaires'])[1 + (a.id / 7) %% 5],
       a.card_last4,
       a.card_country, o.email, '',
       (ARRAY['', '', 'insufficient_funds', 'authentication_not_handled',
              'do_not_honor'])[1 + (a.id / 3) %% 5],
       '', 'requires_payment_method', a.created_at, a.created_at + interval '20 minutes',
       a.created_at + interval '20 minutes',
       CASE WHEN (a.id / 5) %% 7 NOT IN (0, 6) THEN a.created_at + interval '2 hours' END,
       (ARRAY['webhook','scan'])[1 + a.id %% 2]
FROM payments_paymentattempt a JOIN payments_order o ON o.id = a.order_id
WHERE a.id %% (%(attempts)s / %(incidents)s) = 0;
"""


def seed(*, attempts: int, incidents: int) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for statement in SEED_SQL.split(";\n"):
            if statement.strip():
                cursor.execute(statement, {"attempts": attempts, "incidents": incidents})
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def pages(*, incidents: int) -> list[tuple[str, str]]:
    from django.utils import timezone

    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    week = {"first_seen_at__gte": str(today - timezone.timedelta(days=7)),
            "first_seen_at__lt": str(today + timezone.timedelta(days=1))}
    from urllib.parse import urlencode

    lst = "/admin/payments/incident/"
    return [
        ("list, unfiltered", lst),
        ("list, open", lst + "?status__exact=open"),
        ("list, kind + past 7 days", lst + "?" + urlencode(
            {"kind__exact": "authentication_failed", **week})),
        ("list, currency usd + brand amex", lst + "?currency=usd&card_brand=amex"),
        ("list, decline code, sorted by amount", lst + "?decline_code=do_not_honor&o=2"),
        ("list, search an email", lst + "?q=shopper4242%40example.com"),
        (f"list, page {max(1, incidents // 200)} (the middle)",
         lst + f"?p={max(1, incidents // 200)}"),
        ("dashboard, 7 days", "/admin/payments/dashboard/?days=7"),
        ("dashboard, 30 days", "/admin/payments/dashboard/?days=30"),
        ("dashboard, 90 days", "/admin/payments/dashboard/?days=90"),
        ("dashboard, 90 days, eur", "/admin/payments/dashboard/?days=90&currency=eur"),
    ]


def measure(client, url: str, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    # Each request clears the connection's log (request_started): copy it now.
    queries = list(captured.captured_queries)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(url)
        times.append(time.perf_counter() - started)
    slowest = max(queries, key=lambda q: float(q["time"]))
    times.sort()
    return {"p50": statistics.median(times), "p90": times[int(0.9 * (len(times) - 1))],
            "queries": len(queries), "slowest": slowest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--incidents", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                  DEFAULT_URL))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if args.attempts % args.incidents:
        parser.error("--attempts must be a multiple of --incidents")

    database_recreate(args.database_url)
    try:
        django_setup(args.database_url)
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", run_syncdb=True, verbosity=0)
        print(f"tables from the models: {time.perf_counter() - started:.1f} s")
        seconds = seed(attempts=args.attempts, incidents=args.incidents)
        print(f"seeded {args.attempts:,} attempts (and orders), {args.incidents:,} incidents "
              f"in {seconds:.1f} s (incl. ANALYZE)")

        from django.contrib.auth.models import User
        from django.db import connection
        from django.test import Client

        client = Client()
        client.force_login(User.objects.create_superuser("bench", "bench@example.com", "x"))
        print(f"\n{'page':40} {'p50':>9} {'p90':>9} {'queries':>8}  slowest query")
        results = []
        for name, url in pages(incidents=args.incidents):
            result = measure(client, url, args.runs)
            results.append((name, url, result))
            slow = result["slowest"]
            print(f"{name:40} {result['p50'] * 1000:7.1f}ms {result['p90'] * 1000:7.1f}ms "
                  f"{result['queries']:8}  {float(slow['time']) * 1000:.0f} ms: "
                  f"{slow['sql'][:70]}…")
        lists = [r for n, _, r in results if n.startswith("list")]
        dashes = [r for n, _, r in results if n.startswith("dashboard")]
        print(f"\nworst list p50 {max(r['p50'] for r in lists) * 1000:.0f} ms (goal < 300), "
              f"worst dashboard p50 {max(r['p50'] for r in dashes) * 1000:.0f} ms (goal < 1000)")
        for label, group in (("list", lists), ("dashboard", dashes)):
            name, url, result = max(((n, u, r) for n, u, r in results if r in group),
                                    key=lambda item: float(item[2]["slowest"]["time"]))
            sql = result["slowest"]["sql"]
            print(f"\nslowest {label} query ({name}, {url}):\n{sql}\n")
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                print("\n".join(row[0] for row in cursor.fetchall()))
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            try:
                connections.close_all()
            except Exception:  # settings never loaded
                pass
        if not args.keep:
            database_recreate(args.database_url, drop_only=True)


if __name__ == "__main__":
    main()
