"""The admin at scale on PostgreSQL: every list, its filters and searches, the 1000th
page, the pages of one row, the dashboard and the CSV export.

Seeds ``--attempts`` orders, attempts and ledger rows, ``--incidents`` incidents over 120
days and ``--ops-actions`` ops actions (3 payments each) in SQL (``INSERT ... SELECT
generate_series``, the plain indexes dropped during the load and built after it: about
a minute per 2,000,000 attempts), then requests each page through Django's test
``Client`` as a logged-in superuser (DEBUG off; the second factor off) and prints per
page: p50 and p90 over ``--runs`` requests after a warm-up, the number of queries, the
slowest query and the goal (issue 18: lists and pages p50 < 300 ms, dashboard < 500 ms).
Last, the CSV export of the incidents found by webhooks (half of them): rows/s (goal
>= 50,000), the peak resident memory it adds and the CPU of the PostgreSQL backend that
writes it. ``--export-only`` measures the export alone; ``--export-compare N`` runs it N
times each with the order's reference looked up per row (before 0075), joined, and kept
on the incident (now), alternated on the same rows.

    .venv/bin/python bench/admin.py --attempts 2000000 --incidents 2000000 --ops-actions 0 \
        --reuse --export-only --no-export --export-compare 3 \
        --database-url postgres://postgres@127.0.0.1:5432/bench_csv

    .venv/bin/python bench/admin.py --attempts 10000000 --incidents 2000000 --reuse \
        --database-url postgres://postgres@127.0.0.1:5432/bench_admin10m
    .venv/bin/python bench/admin.py --attempts 100000 --incidents 20000 --runs 5

Without ``--reuse`` it creates (dropping it first) the database named in
``--database-url`` (default ``postgres://postgres@127.0.0.1:5432/bench_admin``) and drops
it at the end unless ``--keep``. With ``--reuse`` it keeps the database and, when it was
seeded with the same sizes, seeds nothing: it adds the tables and indexes the models
gained since, and what the migrations make on PostgreSQL only (``POSTGRES_EXTRAS``).
Tables come from the models with migrations off, as the test suite makes them.
"""

from __future__ import annotations

import argparse
import contextlib
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
        "SITE_URL": "http://127.0.0.1:8000",  # required with DEBUG off
        "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1", "DJANGO_LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
        # A superuser owes a one-time code with DEBUG off; the pages are what is measured.
        "DJANGO_ADMIN_SECOND_FACTOR": "0",
    })


SEED_SQL = """
-- Values are spread by a hash of the row's id (h(id, n), 0..2^31), not by id arithmetic:
-- the incidents are every k-th attempt, and "id %% 5" would give them all one currency.
CREATE FUNCTION pg_temp.h(i bigint, n int) RETURNS bigint IMMUTABLE LANGUAGE sql
AS 'SELECT hashint8extended(i, n) & 2147483647';

-- E-mails: a fifth of the orders come from 5,000 regular shoppers (400 orders each at
-- 10,000,000), the rest from a pool of attempts/2 addresses; each a name, a format,
-- perhaps a number and a domain (anna.schmidt@gmail.com, jmartin17@orange.fr), and 1 in
-- 20 typed with a capital (Anna.schmidt@gmail.com), as shoppers do.
INSERT INTO payments_order (reference, email, amount, currency, status, session_hash, created_at,
    paid_at, language, receipt_refusals)
SELECT 'ord_' || substr(md5('ord' || i), 1, 16),
       CASE WHEN pg_temp.h(i, 9) %% 20 = 0 THEN upper(left(e, 1)) || substr(e, 2) ELSE e END,
       amt, cur, CASE WHEN i %% 10 < 8 THEN 'paid' ELSE 'open' END, '', ts,
       CASE WHEN i %% 10 < 8 THEN ts + interval '1 minute' END,
       (ARRAY['en','en','de','fr'])[1 + pg_temp.h(i, 11) %% 4], 0
FROM (SELECT i, amt, cur, ts,
             CASE pg_temp.h(k, 4) %% 5
                 WHEN 0 THEN first || '.' || last WHEN 1 THEN first || '_' || last
                 WHEN 2 THEN left(first, 1) || last WHEN 3 THEN first || last
                 ELSE last || '.' || first END
             || CASE WHEN k / 1600 = 0 THEN '' ELSE (k / 1600)::text END || '@'
             || (ARRAY['gmail.com','gmail.com','gmail.com','yahoo.com','outlook.com',
                       'hotmail.com','icloud.com','web.de','gmx.de','orange.fr','free.fr',
                       'btinternet.com','proton.me','libero.it','ziggo.nl','acme-corp.com',
                       'example.org'])[1 + pg_temp.h(k, 5) %% 17] AS e
      FROM (SELECT i, k,
                   (ARRAY['anna','ben','clara','david','emma','felix','grace','hugo','ines',
                          'jan','karin','luca','maria','noah','olivia','paul','quentin',
                          'rosa','sven','tina','ugo','vera','william','xenia','yusuf','zoe',
                          'amelie','bruno','chloe','dmitri','elena','finn','giulia',
                          'hannah','ivan','julia','kenji','lea','mateo','nora'])[1 + k %% 40]
                       AS first,
                   (ARRAY['schmidt','martin','rossi','smith','muller','dubois','garcia',
                          'jansen','kowalski','novak','bernard','fischer','lopez','brown',
                          'weber','moreau','ricci','taylor','meyer','laurent','bianchi',
                          'wilson','wagner','petit','romano','evans','becker','durand',
                          'colombo','walker','hoffmann','leroy','conti','hughes','schulz',
                          'fontaine','greco','clarke','koch','mercier'])[1 + (k / 40) %% 40]
                       AS last,
                   amt, cur, ts
            FROM (SELECT i, CASE WHEN pg_temp.h(i, 1) %% 5 = 0 THEN pg_temp.h(i, 2) %% 5000
                                 ELSE 5000 + pg_temp.h(i, 3) %% (%(attempts)s / 2) END AS k,
                         500 + (i::bigint * 7919) %% 20000 AS amt,
                         CASE WHEN pg_temp.h(i, 6) %% 100 < 60 THEN 'eur'
                              WHEN pg_temp.h(i, 6) %% 100 < 85 THEN 'usd'
                              WHEN pg_temp.h(i, 6) %% 100 < 97 THEN 'gbp'
                              ELSE 'chf' END AS cur,
                         now() - make_interval(
                             secs => ((%(attempts)s - i) * (120.0 * 86400 / %(attempts)s))::int)
                             AS ts
                  FROM generate_series(1, %(attempts)s) AS i) n) named) s;

INSERT INTO payments_paymentattempt (order_id, number, stripe_id, create_payment_method,
    create_requested_at, status, amount, currency, confirmation_method, confirmations,
    last_error_code, last_decline_code, last_error_message, card_brand, card_last4,
    card_country, latest_charge, created_at, updated_at, requires_action_at,
    requires_confirmation_at, final_at)
SELECT o.id, 1, 'pi_' || substr(md5('pi' || o.id), 1, 24), 'pm_card', o.created_at,
       CASE WHEN o.id %% 1000 = 0 THEN 'requires_confirmation'
            WHEN o.id %% 10 < 8 THEN 'succeeded' ELSE 'requires_payment_method' END,
       o.amount, o.currency, 'manual', 1,
       CASE WHEN o.id %% 10 >= 8 THEN 'card_declined' ELSE '' END,
       CASE WHEN o.id %% 10 = 8 THEN 'insufficient_funds'
            WHEN o.id %% 10 = 9 THEN 'do_not_honor' ELSE '' END, '',
       CASE WHEN pg_temp.h(o.id, 7) %% 100 < 55 THEN 'visa'
            WHEN pg_temp.h(o.id, 7) %% 100 < 85 THEN 'mastercard'
            WHEN pg_temp.h(o.id, 7) %% 100 < 93 THEN 'amex' ELSE 'cartes_bancaires' END,
       lpad((pg_temp.h(o.id, 8) %% 10000)::text, 4, '0'),
       (ARRAY['DE','FR','US','GB','IT','NL','ES'])[1 + o.id %% 7], '', o.created_at, o.created_at,
       CASE WHEN o.id %% 3 = 0 THEN o.created_at END,
       CASE WHEN o.id %% 1000 = 0 THEN now() - make_interval(secs => o.id %% 3600) END,
       CASE WHEN o.id %% 10 < 8 THEN o.created_at END
FROM payments_order o;

INSERT INTO payments_paymentevent (attempt_id, from_status, to_status, error_code,
    decline_code, source, actor, observed_at, applied, note, created_at)
SELECT a.id, 'creating', a.status, a.last_error_code, a.last_decline_code, 'pay',
       'session', a.created_at, true, '', a.created_at
FROM payments_paymentattempt a;

INSERT INTO payments_incident (kind, status, stripe_id, attempt_id, order_id, order_reference,
    amount, currency, card_brand, card_last4, card_country, customer_email, error_code,
    decline_code, error_message, intent_status, intent_created_at, first_seen_at, last_seen_at,
    resolved_at, source)
SELECT (ARRAY['requires_action_not_handled','authentication_failed','authentication_failed',
              'action_abandoned','confirmation_abandoned','expired'])[1 + a.id %% 6],
       (ARRAY['open', 'recovered', 'lost', 'lost', 'canceled', 'auto_finalized',
              'open'])[1 + (a.id / 5) %% 7],
       a.stripe_id, a.id, a.order_id, o.reference, a.amount, a.currency,
       a.card_brand, a.card_last4, a.card_country, o.email, '',
       -- Most have none (3-D Secure); 1 in 1,000 'stolen_card', a rare value to filter by.
       CASE WHEN pg_temp.h(a.id, 10) %% 1000 < 550 THEN ''
            WHEN pg_temp.h(a.id, 10) %% 1000 < 720 THEN 'insufficient_funds'
            WHEN pg_temp.h(a.id, 10) %% 1000 < 800 THEN 'authentication_not_handled'
            WHEN pg_temp.h(a.id, 10) %% 1000 < 880 THEN 'do_not_honor'
            WHEN pg_temp.h(a.id, 10) %% 1000 < 940 THEN 'generic_decline'
            WHEN pg_temp.h(a.id, 10) %% 1000 < 999 THEN 'expired_card'
            ELSE 'stolen_card' END,
       '', 'requires_payment_method', a.created_at, a.created_at + interval '20 minutes',
       a.created_at + interval '20 minutes',
       CASE WHEN (a.id / 5) %% 7 NOT IN (0, 6) THEN a.created_at + interval '2 hours' END,
       (ARRAY['webhook','scan'])[1 + (a.id / (%(attempts)s / %(incidents)s)) %% 2]
FROM payments_paymentattempt a JOIN payments_order o ON o.id = a.order_id
WHERE a.id %% (%(attempts)s / %(incidents)s) = 0;

INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
    is_staff, is_active, date_joined)
VALUES ('!', false, 'ops', '', '', 'ops@example.com', true, true, now());

INSERT INTO payments_opsaction (id, kind, status, user_id, reason, requested, done, skipped,
    summary, created_at, submitted_at, finished_at)
SELECT md5('ops' || i)::uuid, (ARRAY['confirm','send_link','cancel','refresh'])[1 + i %% 4],
       'done', (SELECT id FROM auth_user WHERE username = 'ops'), '', 3, 3, 0,
       '3 done', now() - make_interval(secs => i * 60), now() - make_interval(secs => i * 60),
       now() - make_interval(secs => i * 60 - 5)
FROM generate_series(1, %(ops_actions)s) AS i;

INSERT INTO payments_opsactionitem (ops_action_id, incident_id, position, version, result,
    detail, finished_at)
SELECT md5('ops' || i)::uuid, inc.id, p, '', 'done', 'done', now()
FROM generate_series(1, %(ops_actions)s) AS i, generate_series(0, 2) AS p,
     LATERAL (SELECT id FROM payments_incident
              WHERE id = 1 + ((i * 3 + p) * 7) %% %(incidents)s) AS inc;
"""

SEED_TABLES = ["payments_order", "payments_paymentattempt", "payments_paymentevent",
               "payments_incident", "payments_opsaction", "payments_opsactionitem"]


def indexes_set_aside(cursor) -> list[str]:
    """Drop the seeded tables' plain indexes (not those of a key or a constraint), so the
    rows go in without index upkeep: the CREATE INDEX statements to build them again."""
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.tablename = ANY(%s) AND NOT EXISTS ("
        "  SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        [SEED_TABLES])
    rows = cursor.fetchall()
    for name, _ in rows:
        cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in rows]


def seed(*, attempts: int, incidents: int, ops_actions: int) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        rebuild = indexes_set_aside(cursor)
        for statement in SEED_SQL.split(";\n"):
            if statement.strip():
                cursor.execute(statement, {"attempts": attempts, "incidents": incidents,
                                           "ops_actions": ops_actions})
        for definition in rebuild:
            cursor.execute(definition)
        cursor.execute("CREATE TABLE bench_seed (attempts bigint, incidents bigint)")
        cursor.execute("INSERT INTO bench_seed VALUES (%s, %s)", [attempts, incidents])
        cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def seeded_sizes() -> tuple[int, int] | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_seed') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT attempts, incidents FROM bench_seed")
        return cursor.fetchone()


# What migrations write into rows already there (module, function), run on a reused
# database after the columns they fill were added.
DATA_FILLS = [("0076_incident_order_references_fill", "incident_order_references_fill")]


def schema_bring_up_to_date() -> list[str]:
    """On a reused database: the tables, columns and model indexes added since it was
    seeded (``migrate --run-syncdb`` makes missing tables only), the rows those columns
    need filled (``DATA_FILLS``, as the migrations fill them, timed), then the
    PostgreSQL-only extras the migrations make. What was added, by name."""
    import importlib

    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", run_syncdb=True, verbosity=0)
    added = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes")
        present = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_schema = 'public'")
        columns = set(cursor.fetchall())
    with connection.schema_editor() as editor:
        for model in apps.get_app_config("payments").get_models():
            for field in model._meta.local_fields:
                if (model._meta.db_table, field.column) not in columns:
                    editor.add_field(model, field)
                    added.append(f"{model._meta.db_table}.{field.column}")
    if added:
        for module, function in DATA_FILLS:
            started = time.perf_counter()
            with connection.schema_editor(atomic=False) as editor:
                rows = getattr(importlib.import_module(f"payments.migrations.{module}"),
                               function)(apps, editor)
            print(f"{module}: {rows:,} rows filled in {time.perf_counter() - started:.1f} s "
                  f"(load average {load_average()})")
        started = time.perf_counter()
        with connection.cursor() as cursor:  # what autovacuum does after such an update
            cursor.execute("VACUUM ANALYZE")
        print(f"VACUUM ANALYZE after the fills: {time.perf_counter() - started:.1f} s")
    with connection.schema_editor() as editor:
        for model in apps.get_app_config("payments").get_models():
            for index in model._meta.indexes:
                if index.name not in present:
                    editor.add_index(model, index)
                    added.append(index.name)
                    if index.expressions:  # its statistics, as the migrations take them
                        editor.execute(f'ANALYZE "{model._meta.db_table}"')
    added += postgres_extras()
    return added


def totals_count_if_missing() -> None:
    """The seed writes rows around the writers that keep the dashboard's daily totals:
    count them once, as ``manage.py dashboard_totals_rebuild`` does after a bulk load."""
    from payments.models import DailyTotal
    from payments.monitoring.totals import dashboard_totals_rebuild

    if DailyTotal.objects.exists():
        return
    started = time.perf_counter()
    rows = dashboard_totals_rebuild()
    print(f"dashboard daily totals counted: {rows:,} rows in "
          f"{time.perf_counter() - started:.1f} s")


# What migrations make on PostgreSQL only, outside the models (module, function).
POSTGRES_EXTRAS = [("0050_admin_search_trigram", "trigram_indexes_create")]


def postgres_extras() -> list[str]:
    """Run those migrations' functions (each idempotent) on a database made from the
    models, so it has what ``migrate`` would have made."""
    import importlib

    from django.db import connection

    done = []
    with connection.schema_editor() as editor:
        for module, function in POSTGRES_EXTRAS:
            getattr(importlib.import_module(f"payments.migrations.{module}"), function)(
                None, editor)
            done.append(f"{module}.{function}")
    return done


def deep_page(rows: int) -> tuple[str, str]:
    """The 1000th page of 100 rows, or the last one."""
    page = max(1, min(1000, rows // 100))
    return f"page {page}", f"?p={page}"


def pages(*, attempts: int, incidents: int, ops_actions: int) -> list[tuple[str, str, str]]:
    """(group, name, address): every admin list, its filters and searches, the 1000th page,
    the pages of one row, and the dashboard."""
    from urllib.parse import urlencode

    from django.utils import timezone

    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    week = {"first_seen_at__gte": str(today - timezone.timedelta(days=7)),
            "first_seen_at__lt": str(today + timezone.timedelta(days=1))}
    inc, att, ords, ops = ("/admin/payments/incident/", "/admin/payments/paymentattempt/",
                           "/admin/payments/order/", "/admin/payments/opsaction/")
    ref, intent = "{reference}", "{intent}"  # of an attempt with an incident, mid-table
    # A regular shopper's address (400 orders at 10,000,000), as typed and in capitals;
    # a part of one (no "@"); a card's last 4 (1 incident in 10,000 has each).
    email, email_upper, email_part = "{email}", "{email_upper}", "{email_part}"
    return [
        ("list", "incidents", inc),
        ("list", "incidents, open", inc + "?status=open"),
        # What each dashboard number opens: a payment once, its 3-D Secure incident first.
        ("list", "incidents, each payment once", inc + "?payment=latest"),
        ("list", "incidents, each payment once, open", inc + "?payment=latest&status=open"),
        ("list", "incidents, kind + past 7 days", inc + "?" + urlencode(
            {"kind": "authentication_failed", **week})),
        ("list", "incidents, usd + amex", inc + "?currency=usd&card_brand=amex"),
        ("list", "incidents, decline code, by amount", inc + "?decline_code=do_not_honor&o=2"),
        ("list", "incidents, rare decline code", inc + "?decline_code=stolen_card"),
        ("list", "incidents, matching none", inc + "?currency=chf&decline_code=lost_card"),
        ("list", "incidents, search email", inc + f"?q={email}"),
        ("list", "incidents, search email in capitals", inc + f"?q={email_upper}"),
        ("list", "incidents, search part of email", inc + f"?q={email_part}"),
        ("list", "incidents, search order", inc + f"?q={ref}"),
        ("list", "incidents, search intent", inc + f"?q={intent}"),
        ("list", "incidents, search last 4", inc + "?q=4240"),
        ("list", f"incidents, {deep_page(incidents)[0]}", inc + deep_page(incidents)[1]),
        ("page", "one incident", inc + "{incident}/change/"),
        ("list", "attempts", att),
        ("list", "attempts, status", att + "?status__exact=requires_payment_method"),
        ("list", "attempts, search email", att + f"?q={email}"),
        ("list", "attempts, search part of email", att + f"?q={email_part}"),
        ("list", "attempts, search order", att + f"?q={ref}"),
        ("list", "attempts, search intent", att + f"?q={intent}"),
        ("list", f"attempts, {deep_page(attempts)[0]}", att + deep_page(attempts)[1]),
        ("page", "one attempt (its ledger)", att + "{attempt}/change/"),
        ("list", "orders", ords),
        ("list", "orders, status", ords + "?status__exact=open"),
        ("list", "orders, search email", ords + f"?q={email}"),
        ("list", "orders, search email in capitals", ords + f"?q={email_upper}"),
        ("list", "orders, search part of email", ords + f"?q={email_part}"),
        ("list", "orders, search reference", ords + f"?q={ref}"),
        ("list", f"orders, {deep_page(attempts)[0]}", ords + deep_page(attempts)[1]),
        ("page", "one order", ords + "{order}/change/"),
        ("list", "ops actions", ops),
        ("list", "ops actions, search email", ops + f"?q={email}"),
        ("list", f"ops actions, {deep_page(ops_actions)[0]}", ops + deep_page(ops_actions)[1]),
        ("dashboard", "dashboard, 7 days", "/admin/payments/dashboard/?days=7"),
        ("dashboard", "dashboard, 30 days", "/admin/payments/dashboard/?days=30"),
        ("dashboard", "dashboard, 90 days", "/admin/payments/dashboard/?days=90"),
        ("dashboard", "dashboard, 90 days, eur", "/admin/payments/dashboard/?days=90&currency=eur"),
    ]


GOALS_MS = {"list": 300, "page": 300, "dashboard": 500}
EXPORT_GOAL_ROWS_PER_S = 50_000


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


def rss_peak_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM back to the current VmRSS


def rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def backend_cpu_seconds(pid: int) -> float:
    """User and system CPU of a PostgreSQL backend (the server runs on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_export(client, url: str) -> dict:
    """Stream the CSV export and count its rows; the peak resident memory it adds, the
    CPU of this process and of the PostgreSQL backend that wrote it (the connection
    persists between requests: CONN_MAX_AGE)."""
    from django.db import connection

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    rss_peak_reset()
    before = rss_kb("VmRSS")
    backend_before, cpu_before = backend_cpu_seconds(pid), time.process_time()
    started = time.perf_counter()
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    rows = size = 0
    for chunk in response.streaming_content:
        rows += chunk.count(b"\n")
        size += len(chunk)
    seconds = time.perf_counter() - started
    same_backend = connection.connection is not None and \
        connection.connection.info.backend_pid == pid
    return {"rows": rows - 1, "seconds": seconds, "bytes": size,
            "peak_kb": rss_kb("VmHWM") - before, "cpu": time.process_time() - cpu_before,
            "backend_cpu": backend_cpu_seconds(pid) - backend_before if same_backend else None}


def order_reference_looked_up():
    """The export's order column as before 0075 (``1368774``): the order's reference
    looked up by its key for each row."""
    from django.db.models import OuterRef, Subquery

    from payments.models import Order

    return Subquery(Order.objects.order_by().filter(pk=OuterRef("order_id"))
                    .values("reference"))


def order_reference_joined():
    """The order's reference by a join of the orders (the other way to drop the look-up)."""
    from django.db.models import F

    return F("order__reference")


def export_compare(client, url: str, rounds: int) -> None:
    """The export with the order's reference looked up per row (before), joined, and kept
    on the incident (after), alternated ``rounds`` times on the same rows: medians, the
    ratio of after to before."""
    from unittest import mock

    patched = "payments.admin.incidents_csv._order_reference"
    ways = {"before: reference looked up per row": mock.patch(patched,
                                                              order_reference_looked_up),
            "reference by a join of the orders": mock.patch(patched, order_reference_joined),
            "after: reference kept on the incident": contextlib.nullcontext()}
    results: dict[str, list[dict]] = {name: [] for name in ways}
    print(f"\nCSV export, before and after, {rounds} rounds alternated "
          f"(load average {load_average()}):")
    for number in range(rounds):
        for name, way in ways.items():
            with way:
                result = measure_export(client, url)
            results[name].append(result)
            backend = result["backend_cpu"]
            print(f"  {number + 1}. {name:40} {result['rows']:,} rows in "
                  f"{result['seconds']:5.1f} s = {result['rows'] / result['seconds']:7,.0f} "
                  f"rows/s; CPU: backend {backend if backend is not None else float('nan'):.2f} s, "
                  f"this process {result['cpu']:.2f} s; load {load_average()}", flush=True)
    medians = {}
    for name, runs in results.items():
        rate = statistics.median(r["rows"] / r["seconds"] for r in runs)
        backend = statistics.median(r["backend_cpu"] or 0 for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        rows = runs[0]["rows"]
        medians[name] = (rate, backend, cpu)
        print(f"  median {name:33} {rate:7,.0f} rows/s, backend CPU {backend:.2f} s "
              f"({rows / backend if backend else float('nan'):,.0f} rows per CPU-second), "
              f"this process {cpu:.2f} s, peak RSS added "
              f"{max(r['peak_kb'] for r in runs) / 1024:.1f} MB")
    before, after = medians[next(iter(ways))], medians[list(ways)[-1]]
    print(f"  after/before: rows/s {after[0] / before[0]:.2f}x, backend CPU "
          f"{after[1] / before[1] if before[1] else float('nan'):.2f}x "
          f"(load average {load_average()})")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def objects_for_pages(*, attempts: int, incidents: int) -> dict[str, object]:
    """An attempt with an incident, mid-table: its ids, order reference and intent id
    (references and intent ids are random, as Stripe's and ours are: a trigram index
    works on what real ids look like, not on a sequence)."""
    from urllib.parse import quote

    from django.db import connection

    from payments.models import Incident, PaymentAttempt

    step = attempts // incidents
    attempt = PaymentAttempt.objects.select_related("order").get(
        pk=(attempts // 2) // step * step)
    with connection.cursor() as cursor:  # a regular shopper's order: h(id, 1) % 5 = 0
        cursor.execute("SELECT lower(email) FROM payments_order WHERE id >= %s AND "
                       "(hashint8extended(id, 1) & 2147483647) %% 5 = 0 ORDER BY id LIMIT 1",
                       [attempts // 2])
        email = cursor.fetchone()[0]
    return {"attempt": attempt.pk, "order": attempt.order_id, "intent": attempt.stripe_id,
            "reference": attempt.order.reference, "email": quote(email),
            "email_upper": quote(email.upper()), "email_part": quote(email.split("@")[0]),
            "incident": Incident.objects.filter(attempt=attempt).values_list(
                "pk", flat=True).first()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--incidents", type=int, default=200_000)
    parser.add_argument("--ops-actions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                  DEFAULT_URL))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="use the database if it was seeded with these sizes (and keep "
                             "it): seed 10,000,000 attempts once, measure many times")
    parser.add_argument("--only", default="", help="measure only pages whose name has this")
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--export-only", action="store_true",
                        help="measure the CSV export alone (no pages)")
    parser.add_argument("--export-compare", type=int, default=0, metavar="ROUNDS",
                        help="the export before (order reference looked up per row) and "
                             "after (kept on the incident), alternated ROUNDS times")
    parser.add_argument("--seed-only", action="store_true", help="seed (or bring up to date) "
                        "and stop")
    parser.add_argument("--explain", action="store_true",
                        help="EXPLAIN ANALYZE the slowest query of each group")
    args = parser.parse_args()
    if args.attempts % args.incidents:
        parser.error("--attempts must be a multiple of --incidents")

    keep = args.keep or args.reuse
    reused = False
    if args.reuse:
        try:
            django_setup(args.database_url)
            reused = seeded_sizes() == (args.attempts, args.incidents)
        except Exception as error:  # no such database yet
            print(f"not reusing: {error}")
    if not reused:
        from django.db import connections

        if args.reuse:  # settings configured by the attempt above
            connections.close_all()
        database_recreate(args.database_url)
    try:
        django_setup(args.database_url)
        from django.core.management import call_command

        if reused:
            added = schema_bring_up_to_date()
            print(f"reused {args.database_url}: {args.attempts:,} attempts, "
                  f"{args.incidents:,} incidents; added since: {', '.join(added) or 'nothing'}")
            totals_count_if_missing()
        else:
            started = time.perf_counter()
            call_command("migrate", run_syncdb=True, verbosity=0)
            postgres_extras()
            print(f"tables from the models: {time.perf_counter() - started:.1f} s")
            seconds = seed(attempts=args.attempts, incidents=args.incidents,
                           ops_actions=args.ops_actions)
            print(f"seeded {args.attempts:,} orders, attempts and ledger rows, "
                  f"{args.incidents:,} incidents, {args.ops_actions:,} ops actions "
                  f"in {seconds:.1f} s (incl. indexes and VACUUM ANALYZE)")
            totals_count_if_missing()

        if args.seed_only:
            return
        from django.contrib.auth.models import User
        from django.db import connection
        from django.test import Client

        client = Client()
        user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
            "bench", "bench@example.com", "x")
        client.force_login(user)
        ids = objects_for_pages(attempts=args.attempts, incidents=args.incidents)
        print(f"\n{'page':38} {'p50':>9} {'p90':>9} {'queries':>8} {'goal':>6}  slowest query")
        results = []
        for group, name, url in pages(attempts=args.attempts, incidents=args.incidents,
                                       ops_actions=args.ops_actions):
            if args.export_only or (args.only and args.only not in name):
                continue
            url = url.format(**ids)
            result = measure(client, url, args.runs)
            results.append((group, name, url, result))
            slow = result["slowest"]
            met = "met" if result["p50"] * 1000 < GOALS_MS[group] else "NOT"
            print(f"{name:38} {result['p50'] * 1000:7.1f}ms {result['p90'] * 1000:7.1f}ms "
                  f"{result['queries']:8} {met:>6}  {float(slow['time']) * 1000:.0f} ms: "
                  f"{' '.join(slow['sql'].split())[:90]}…", flush=True)
        for group, goal in GOALS_MS.items():
            shown = [r for g, _, _, r in results if g == group]
            if shown:
                worst = max(r["p50"] for r in shown) * 1000
                print(f"worst {group} p50 {worst:.0f} ms (goal < {goal} ms: "
                      f"{'met' if worst < goal else f'{worst / goal:.1f}x over'})")
        export_url = "/admin/payments/incident/export/?source=webhook"
        if not args.no_export:
            export = measure_export(client, export_url)
            rate = export["rows"] / export["seconds"]
            met = "met" if rate >= EXPORT_GOAL_ROWS_PER_S else "NOT"
            backend = export["backend_cpu"]
            print(f"\nCSV export (found by webhook): {export['rows']:,} rows in "
                  f"{export['seconds']:.1f} s = {rate:,.0f} rows/s (goal >= "
                  f"{EXPORT_GOAL_ROWS_PER_S:,}: {met}"
                  f"), {export['bytes'] / 1e6:.0f} MB, peak RSS added "
                  f"{export['peak_kb'] / 1024:.1f} MB; CPU: backend "
                  f"{backend if backend is not None else float('nan'):.2f} s, this process "
                  f"{export['cpu']:.2f} s; load average {load_average()}")
        if args.export_compare:
            export_compare(client, export_url, args.export_compare)
        if args.explain:
            for group in GOALS_MS:
                shown = [(n, u, r) for g, n, u, r in results if g == group]
                if not shown:
                    continue
                name, url, result = max(shown, key=lambda item: float(item[2]["slowest"]["time"]))
                sql = result["slowest"]["sql"]
                print(f"\nslowest {group} query ({name}, {url}):\n{sql}\n")
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
        if not keep:
            database_recreate(args.database_url, drop_only=True)


if __name__ == "__main__":
    main()
