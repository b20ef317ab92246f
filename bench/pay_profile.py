#!/usr/bin/env python3
"""Where one /pay spends its time, ours against the minimal server, in-process (issue 10).

    .venv/bin/python bench/pay_profile.py [--requests 100] [--warmup 20] [--queries]
        [--cprofile] [--database-url postgres://postgres@127.0.0.1:5432/bench_pay_profile]
        [--redis-url redis://127.0.0.1:6379/8]

Starts the sandbox (latency 0), makes the database afresh (migrate, demo_setup; dropped at
the end) and loads the site with the bench's settings (DEBUG off, Redis for cache, sessions,
rate limits and Celery, rate limits on but high, locmem mail, logs to
var/bench-pay-profile.log). Each checkout is a session of its own through Django's real
WSGIHandler (GET /, POST /cart/, POST /checkout/, the order page, /pay with the CSRF
cookie and X-CSRFToken); ``bench/minimal_server.py`` is called the same way. After
``--warmup`` checkouts, ``--requests`` /pay of each step, serially, ours and minimal
interleaved: 4242 paid at once, a 3-D Secure card's create, its confirm once the sandbox's
bank said "complete" (untimed). ``bench/floor_server.py`` (our guarantees' round trips,
no framework) pays orders of its own, placed through the site, interleaved likewise.
Prints the medians of the three, ours − minimal and the CPU time of this process per
request (sandbox, PostgreSQL and Redis are other processes), and, where PostgreSQL runs on
this machine, its backends' CPU per /pay of ours and of the floor.
``--queries``: one request of each step, its SQL and Redis round trips (one per
``send_packed_command``; a pipeline's commands joined by "+"). ``--cprofile``:
``--requests`` more checkouts of ours under cProfile, the top 40 functions by cumulative
time and the inclusive time per request of each part of /pay (functions looked up by name,
so renamed code shows "–": no function of that name ran). ``--sample``: ``--requests`` more
checkouts of ours with a thread taking the request's stack every 0.2 ms instead (no hook
on each call, so many small calls are not weighed more than they cost): each part's share
of the samples and the functions most often on top of the stack. ``--parts``:
``--requests`` more checkouts of ours with the parts of /pay in ``TIMED_PARTS`` wrapped,
each adding its thread CPU time, less that of the parts inside it (exclusive), per request
and as a share of the step's CPU: shares that stay put when the machine's speed drifts
between runs (no hook on other calls, ≈ 1 µs a wrapped call).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import logging
import os
import pstats
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.checkout import database_drop, database_url, free_port, wait_for  # noqa: E402
from stripe_sandbox import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY  # noqa: E402
from stripe_sandbox.controls import SandboxControls  # noqa: E402

VISA, THREE_DS = "pm_card_visa", "pm_card_authenticationRequired"
STEPS = {"create": "create + confirm (4242)", "create_3ds": "create, bank asks (3-D Secure)",
         "confirm": "confirm after 3-D Secure"}
NOTHING = contextlib.nullcontext()
PUBLISHED: list[tuple[str, str]] = []  # (queue, task id) of the receipts queued
SESSIONS: list[str] = []  # session keys made, taken out of Redis at the end


DATABASE_CPU: dict[str, list[float]] = {}  # step -> PostgreSQL's CPU ms of each ours' /pay
FLOOR_DATABASE_CPU: dict[str, list[float]] = {}  # the same for the floor's


def ours_connections() -> list:
    """The psycopg connections of ours in this thread: Django's and the order lock's."""
    from django.db import connection

    from payments.checkout import locks
    if connection.vendor != "postgresql":
        return []
    return [connection.connection, getattr(locks._local, "connection", None)]


def floor_connections() -> list:
    from bench import floor_server
    return [getattr(floor_server._local, "db", None), getattr(floor_server._local, "lock", None)]


def database_cpu_seconds(connections=ours_connections) -> tuple[float, tuple] | None:
    """CPU seconds so far of the PostgreSQL backends serving this thread (``connections``:
    ours, Django's and the order lock's, or the floor's), read from /proc (the scheduler's
    nanoseconds on the CPU), with their process ids: None when PostgreSQL is not on this
    machine."""
    total, pids = 0.0, []
    for conn in connections():
        if conn is None or conn.closed:
            continue
        try:
            on_cpu_ns = Path(f"/proc/{conn.info.backend_pid}/schedstat").read_text().split()[0]
        except OSError:
            continue
        total += int(on_cpu_ns) / 1e9
        pids.append(conn.info.backend_pid)
    return (total, tuple(pids)) if pids else None


def wsgi(app, method: str, path: str, cookies: dict, form: dict | None = None,
         pay: dict | None = None, around=NOTHING):
    """One request through a WSGI callable with a session's cookies (updated from the
    answer; the CSRF token also as X-CSRFToken): status, headers, body, wall ms, CPU ms."""
    body = (json.dumps(pay) if pay is not None else urlencode(form or {})).encode()
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "REMOTE_ADDR": "127.0.0.1",
               "CONTENT_TYPE": "application/json" if pay is not None
               else "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body), "HTTP_X_CSRFTOKEN": cookies.get("csrftoken", ""),
               "HTTP_COOKIE": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    setup_testing_defaults(environ)  # host 127.0.0.1, http, the wsgi.* keys
    answer = {}
    with around:
        started, cpu = time.perf_counter(), time.process_time()
        result = app(environ, lambda status, h, exc_info=None: answer.update(status=status, h=h))
        try:
            data = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()  # Django's request_finished (old DB connections closed)
        ms, cpu_ms = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
    for morsel in (m for name, value in answer["h"] if name.lower() == "set-cookie"
                   for m in SimpleCookie(value).values()):
        if morsel["max-age"] == "0":
            cookies.pop(morsel.key, None)
        else:
            cookies[morsel.key] = morsel.coded_value
    return int(answer["status"].split()[0]), dict(answer["h"]), data, ms, cpu_ms


def pay_json(app, cookies: dict, body: dict, around=NOTHING):
    status, _, data, ms, cpu = wsgi(app, "POST", "/pay", cookies, pay=body, around=around)
    return status, json.loads(data), ms, cpu


def checkout_ours(app, index: int, pay_app=None):
    """A new session that placed one order (not timed); its /pay (``pay_app``'s, else
    ours), naming the order."""
    cookies: dict[str, str] = {}
    wsgi(app, "GET", "/", cookies)
    wsgi(app, "POST", "/cart/", cookies, {"action": "add", "sku": "field-notebook",
                                          "quantity": "1"})
    status, headers, *_ = wsgi(app, "POST", "/checkout/", cookies,
                               {"email": f"p{index}@example.com"})
    found = re.fullmatch(r"/orders/([^/]+)/", headers.get("Location", ""))
    if status != 302 or not found:
        raise SystemExit(f"POST /checkout/ answered {status} {headers}")
    wsgi(app, "GET", found.group(0), cookies)  # the page the shopper pays from
    SESSIONS.append(cookies.get("sessionid", ""))
    return lambda body, around=NOTHING: pay_json(
        pay_app or app, cookies, {**body, "order_reference": found.group(1)}, around)


def pay_card(pay, card: str, sandbox: SandboxControls, out: dict, around=lambda step: NOTHING,
             database: dict | None = None, connections=ours_connections):
    """The guide's client: the card; if the bank asks, its answer (untimed), the confirm.
    Appends (wall ms, CPU ms) to out[step], and PostgreSQL's CPU ms (of ``connections``)
    to database[step]."""
    def timed(body: dict, step: str):
        before = database_cpu_seconds(connections) if database is not None else None
        status, answer, ms, cpu = pay(body, around(step))
        out.setdefault(step, []).append((ms, cpu))
        after = database_cpu_seconds(connections) if before is not None else None
        if after is not None and after[1] == before[1]:  # no connection (re)opened between
            database.setdefault(step, []).append((after[0] - before[0]) * 1000)
        return status, answer

    status, answer = timed({"payment_method_id": card}, "create" if card == VISA else "create_3ds")
    if card == THREE_DS and status == 200 and answer.get("requiresAction"):
        intent_id = answer["clientSecret"].split("_secret_")[0]
        sandbox.authenticate(intent_id, "complete")  # the bank modal's button
        status, answer = timed({"payment_intent_id": intent_id}, "confirm")
    if status != 200 or not answer.get("success"):
        raise SystemExit(f"/pay with {card} answered {status}: {answer}")


def median(pairs: list, index: int) -> float:
    return statistics.median(p[index] for p in pairs) if pairs else float("nan")


def redis_names(command) -> str:
    """The command names in one packed RESP write (several for a pipeline)."""
    data = command if isinstance(command, (bytes, str)) else b"".join(map(bytes, command))
    data, names, pos = data.encode() if isinstance(data, str) else data, [], 0
    while data[pos:pos + 1] == b"*":
        end = data.index(b"\r\n", pos)
        count, pos = int(data[pos + 1:end]), end + 2
        for i in range(count):
            end = data.index(b"\r\n", pos)
            size = int(data[pos + 1:end])
            if i == 0:
                names.append(data[end + 2:end + 2 + size].decode(errors="replace").upper())
            pos = end + 4 + size
    return "+".join(names) or "?"


@contextlib.contextmanager
def captured(step: str, into: dict):
    """SQL and Redis round trips of one request, into into[step]."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from redis.connection import AbstractConnection
    original, trips = AbstractConnection.send_packed_command, []

    def send_packed_command(self, command, check_health=True):
        trips.append(redis_names(command))
        return original(self, command, check_health)
    AbstractConnection.send_packed_command = send_packed_command
    try:
        with CaptureQueriesContext(connection) as sql:
            yield
    finally:
        AbstractConnection.send_packed_command = original
        into[step] = [q["sql"] for q in sql.captured_queries], trips


def queries_print(app, sandbox: SandboxControls) -> None:
    into: dict = {}
    for card in (VISA, THREE_DS):
        pay_card(checkout_ours(app, len(SESSIONS)), card, sandbox, {},
                 lambda step: captured(step, into))
    for step, label in STEPS.items():
        sql, trips = into[step]
        print(f"\n**{label}: {len(sql)} SQL statements, {len(trips)} Redis round trips**\n")
        for number, statement in enumerate(sql, 1):
            text = " ".join(statement.split())
            print(f"{number:3}. {text[:117] + '...' if len(text) > 120 else text}")
        print(f"Redis: {', '.join(trips) or 'none'}")


PARTS = [  # row, [(path fragment, name regex[, the caller's path fragment])]
    ("whole request (WSGIHandler + close)", [("django/core/handlers/wsgi.py", "__call__"),
                                             ("django/http/response.py", "close")]),
    ("the view (payments.checkout.views.pay)", [("payments/checkout/views.py", "pay")]),
    ("Django around the view", None),  # the first row minus the second
    ("session load", [("django/contrib/sessions/backends/", "load"),
                      ("paymentsite/sessions.py", "load")]),
    ("rate limiter", [("payments/checkout/views.py", "_pay_rate_limited")]),
    ("which order", [("payments/checkout/services.py", "checkout_order_reference")]),
    ("order lock (enter + exit)", [("payments/checkout/locks.py", "order_lock")]),
    ("Stripe call (payments.stripe.gateway)", [("payments/stripe/gateway.py", ".*")]),
    ("· stripe-python request building", [("stripe/_api_requestor.py", "_args_for_request.*")]),
    ("· HTTP to the sandbox and back", [("stripe/_http_client.py", "request_with_retries")]),
    ("· response parsing (JSON; stripe objects where made)", [
        ("stripe/_api_requestor.py", "_interpret_response"),
        ("stripe/_util.py", "_?convert_to_stripe_object", "stripe/_api_requestor.py")]),
    ("· our IntentData", [("payments/stripe/gateway.py", "_intent_data")]),
    ("status record", [("payments/checkout/status.py", "payment_status_record")]),
    ("incidents settle", [("payments/monitoring/observe.py", "incidents_settle")]),
    ("receipt queueing", [("payments/mail/receivers.py", "order_paid_received")]),
    ("psycopg execute + commit", [("psycopg/cursor.py", "execute"),
                                  ("psycopg/connection.py", "commit|rollback")]),
    ("Redis (redis-py commands, pipelines)", [("redis/client.py", "execute_command|execute")]),
    ("JSON (body loads, response dumps)", [
        ("json/__init__.py", "loads", "payments/checkout/views.py"),
        ("json/__init__.py", "dumps", "django/http/")]),
]


def entered(stats: dict, parts: list) -> tuple[float, int] | None:
    """Seconds and calls inside the matching functions, counted where one is entered from
    outside the set (nesting is not counted twice); None when none of them ran."""
    def part_of(func):
        path = func[0].replace("\\", "/")
        return next((p for p in parts if p[0] in path and re.fullmatch(p[1], func[2])), None)
    inside = {func: part for func in stats if (part := part_of(func))}
    if not inside:
        return None
    seconds, calls = 0.0, 0
    for func, part in inside.items():
        _, nc, _, ct, callers = stats[func]
        if not callers and len(part) < 3:  # called where the profiler was switched on
            seconds, calls = seconds + ct, calls + nc
        for caller, edge in callers.items():
            if caller not in inside and (len(part) < 3 or part[2] in caller[0]):
                seconds, calls = seconds + edge[3], calls + edge[0]
    return seconds, calls


def profile_print(profilers: dict, counts: dict) -> None:
    combined = pstats.Stats(profilers["create"]).add(profilers["confirm"]).stats
    n = counts["create"] + counts["confirm"]
    print(f"\n### Top 40 by cumulative time, per request over the {n} create (4242) and "
          "confirm requests, profiled (built-ins left out)\n")
    print("| cumulative ms | own ms | calls | function |\n| --- | --- | --- | --- |")
    rows = [(v[3], v[2], v[1], f) for f, v in combined.items() if f[0] != "~"
            and not f[0].startswith("<") and not f[0].endswith("pay_profile.py")]
    for ct, tt, nc, (path, line, name) in sorted(rows, key=lambda r: -r[0])[:40]:
        path = path.replace("\\", "/")
        where = path.split("site-packages/")[-1].removeprefix(ROOT.as_posix() + "/")
        print(f"| {ct * 1000 / n:.2f} | {tt * 1000 / n:.2f} | {nc / n:.1f} | "
              f"`{where}:{line}({name})` |")

    per_step = {step: pstats.Stats(p).stats for step, p in profilers.items()}
    print("\n### Inclusive time per request, profiled: ms (calls)\n")
    print("| part | " + " | ".join(STEPS.values()) + " |\n" + "| --- " * 4 + "|")
    for label, parts in PARTS:
        cells = []
        for step, stats in per_step.items():
            if parts is None:
                whole, view = entered(stats, PARTS[0][1]), entered(stats, PARTS[1][1])
                got = (whole[0] - view[0], 0) if whole and view else None
            else:
                got = entered(stats, parts)
            cells.append("–" if got is None else f"{got[0] * 1000 / counts[step]:.2f}"
                         + (f" ({got[1] / counts[step]:.1f})" if parts else ""))
        print(f"| {label} | " + " | ".join(cells) + " |")


# (module, attribute, row): looked up where the caller looks them up (a name imported
# with "from … import" is wrapped in the importing module).
TIMED_PARTS = [
    ("paymentsite.sessions", "SessionStore.load", "session load"),
    ("payments.checkout.views", "_pay_rate_limited", "rate limiter (Redis)"),
    ("payments.checkout.locks", "_acquire_fresh", "order lock: BEGIN and take it"),
    ("payments.checkout.locks", "_release", "order lock: COMMIT"),
    ("payments.checkout.services", "_order_read_sql", "order read"),
    ("payments.checkout.services", "_attempt_start", "attempt INSERT (committed)"),
    ("payments.stripe.budget", "budget_spend", "Stripe budget (Redis)"),
    ("payments.stripe.gateway", "_request", "Stripe call (stripe-python, HTTP)"),
    ("payments.stripe.gateway", "_call_raw", "· the gateway around it (counters)"),
    ("payments.checkout.services", "payment_status_record",
     "status record: BEGIN, COMMIT, Python"),
    ("payments.checkout.status", "_status_write_guarded", "· its statement"),
    ("payments.monitoring.totals", "attempt_challenge_moved", "· challenged: incidents probe"),
    ("payments.monitoring.incidents", "incidents_end", "· settled: incidents probe"),
    ("payments.checkout.views", "reverse", "the order page's URL"),
    ("payments.checkout.views", "JsonResponse", "the JSON answer"),
]
OUTSIDE_PARTS = "the rest: Django's request cycle, middleware, the view's own code"
# The floor's functions for the same rows (bench/floor_server.py).
FLOOR_PARTS = [
    ("bench.floor_server", "_session_orders", "session load"),
    ("bench.floor_server", "_throttle", "rate limiter (Redis)"),
    ("bench.floor_server", "_lock_take", "order lock: BEGIN and take it"),
    ("bench.floor_server", "_lock_release", "order lock: COMMIT"),
    ("bench.floor_server", "_order_read", "order read"),
    ("bench.floor_server", "_attempt_insert", "attempt INSERT (committed)"),
    ("bench.floor_server", "_budget_take", "Stripe budget (Redis)"),
    ("bench.floor_server", "_stripe_post", "Stripe call (stripe-python, HTTP)"),
    ("bench.floor_server", "_recorded", "status record: BEGIN, COMMIT, Python"),
    ("bench.floor_server", "_record_statement", "· its statement"),
    ("bench.floor_server", "_challenge_probe", "· challenged: incidents probe"),
    ("bench.floor_server", "_settled_probe", "· settled: incidents probe"),
]


class PartTimer:
    """Exclusive thread CPU time of the ``parts`` inside one server's /pay, per step (ours'
    ``TIMED_PARTS``, or the floor's ``FLOOR_PARTS``)."""

    def __init__(self, parts=TIMED_PARTS) -> None:
        self.parts = parts
        self.cpu: dict[tuple[str, str], float] = Counter()
        self.requests: Counter = Counter()
        self.stack: list[list] = []  # [row, started, CPU of timed parts inside]
        self.originals: list[tuple[object, str, object]] = []
        self.step = ""

    def install(self) -> None:
        import importlib
        for module, attribute, row in self.parts:
            owner = importlib.import_module(module)
            *path, name = attribute.split(".")
            for part in path:
                owner = getattr(owner, part)
            original = getattr(owner, name)
            self.originals.append((owner, name, original))
            setattr(owner, name, self._timed(original, row))

    def uninstall(self) -> None:
        for owner, name, original in reversed(self.originals):
            setattr(owner, name, original)

    def _timed(self, function, row: str):
        def timed(*args, **kwargs):
            if not self.stack:  # outside a timed /pay (the checkout's pages)
                return function(*args, **kwargs)
            with self.part(row):
                return function(*args, **kwargs)
        return timed

    @contextlib.contextmanager
    def part(self, row: str, step: str | None = None):
        self.step = step or self.step
        self.stack.append([row, time.thread_time(), 0.0])
        try:
            yield
        finally:
            row, started, inside = self.stack.pop()
            spent = time.thread_time() - started
            self.cpu[(self.step, row)] += spent - inside
            if self.stack:
                self.stack[-1][2] += spent
            else:
                self.requests[self.step] += 1
                self.cpu[(self.step, "")] += spent

    def around(self, step: str):
        return self.part(OUTSIDE_PARTS, step)

    def cell(self, step: str, row: str) -> str:
        if not self.cpu[(step, row)]:
            return "–"
        ms = self.cpu[(step, row)] * 1000 / self.requests[step]
        return f"{ms:.3f} ({self.cpu[(step, row)] / self.cpu[(step, '')]:.0%})"

    def print(self, floor: PartTimer | None = None) -> None:
        """The table of ours; with ``floor``, each cell "ours · the floor's"."""
        steps = [step for step in STEPS if self.requests[step]]
        print("\n### Exclusive CPU per /pay, ms (share of the step's CPU)"
              + (": ours · the floor's" if floor else "") + "\n")
        print("| part | " + " | ".join(STEPS[step] for step in steps) + " |\n"
              + "| --- " * (len(steps) + 1) + "|")
        for row in [row for *_, row in self.parts] + [OUTSIDE_PARTS, ""]:
            cells = [self.cell(step, row) + (f" · {floor.cell(step, row)}" if floor else "")
                     for step in steps]
            print(f"| {row or 'the whole /pay'} | " + " | ".join(cells) + " |")


class Sampler:
    """The main thread's stack, taken every ``interval`` seconds while a /pay runs."""

    def __init__(self, interval: float = 0.0002) -> None:
        import threading

        self.interval, self.active, self.stopped = interval, False, False
        self.samples: list[list[tuple[str, str]]] = []  # (path, function), the top last
        self.main = threading.main_thread().ident
        sys.setswitchinterval(interval / 2)  # let the sampler in on time
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped:
            time.sleep(self.interval)
            if not self.active:
                continue
            frame, stack = sys._current_frames().get(self.main), []
            while frame is not None:
                stack.append((frame.f_code.co_filename.replace("\\", "/"),
                              frame.f_code.co_name))
                frame = frame.f_back
            self.samples.append(stack[::-1])

    @contextlib.contextmanager
    def _on(self):
        self.active = True
        try:
            yield
        finally:
            self.active = False

    def around(self, step: str):
        return self._on()

    def stop(self) -> None:
        self.stopped = True
        self.thread.join()
        sys.setswitchinterval(0.005)

    # On top of the stack while the thread waits for a socket (PostgreSQL, Redis, the
    # sandbox): the wall time that is not this process's CPU.
    WAITING = {("psycopg/connection.py", "wait"), ("socket.py", "readinto"),
               ("redis/_parsers/socket.py", "_read_from_socket"),
               ("urllib3/util/wait.py", "do_poll"),
               ("urllib3/util/wait.py", "select_wait_for_socket")}

    def waiting(self, stack: list[tuple[str, str]]) -> bool:
        path, name = stack[-1]
        return any(path.endswith(w_path) and name == w_name for w_path, w_name in self.WAITING)

    def print(self, *, requests: int, cpu_ms: float) -> None:
        waits = sum(1 for stack in self.samples if stack and self.waiting(stack))
        print(f"\n{waits * 100 / (len(self.samples) or 1):.1f} % of the stacks wait for a "
              "socket; the tables below count the others only (this process's CPU, and "
              "waits for the CPU itself)")
        self.samples = [stack for stack in self.samples if stack and not self.waiting(stack)]
        n = len(self.samples) or 1
        print(f"\n### Sampled: {len(self.samples)} stacks not waiting for a socket, over "
              f"{requests} /pay ({cpu_ms / requests:.1f} ms CPU each, sampled); share of "
              "them inside each part\n")
        print("| part | share |\n| --- | --- |")
        for label, parts in PARTS:
            if parts is None:
                continue
            inside = sum(1 for stack in self.samples if any(
                p[0] in path and re.fullmatch(p[1], name) and (
                    len(p) < 3 or any(p[2] in caller for caller, _ in stack[:i]))
                for p in parts for i, (path, name) in enumerate(stack)))
            print(f"| {label} | {inside * 100 / n:.1f} % |")
        top = Counter(stack[-1] for stack in self.samples if stack)
        print("\n| on top of the stack | share |\n| --- | --- |")
        for (path, name), count in top.most_common(30):
            where = path.split("site-packages/")[-1].removeprefix(ROOT.as_posix() + "/")
            print(f"| `{where}({name})` | {count * 100 / n:.1f} % |")
        ours = Counter()
        for stack in self.samples:  # the innermost frame of our own code in each stack
            own = [f for f in stack if f[0].startswith(ROOT.as_posix() + "/")
                   and "/bench/" not in f[0] and "/.venv/" not in f[0]]
            if own:
                ours[own[-1]] += 1
        print("\n| innermost of our code (payments/, paymentsite/) | share |\n| --- | --- |")
        for (path, name), count in ours.most_common(25):
            print(f"| `{path.removeprefix(ROOT.as_posix() + '/')}({name})` | "
                  f"{count * 100 / n:.1f} % |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="timed /pay per step")
    parser.add_argument("--warmup", type=int, default=20, help="checkouts before timing")
    parser.add_argument("--database-url",
                        default="postgres://postgres@127.0.0.1:5432/bench_pay_profile")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--queries", action="store_true")
    parser.add_argument("--sample", action="store_true")
    parser.add_argument("--parts", action="store_true")
    args = parser.parse_args()

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
        # The account's Stripe budget is on, so its cost is measured, but too large to
        # make a call wait (the sandbox enforces no limits here).
        "STRIPE_RATE_LIMIT_PER_SECOND": "1000000",
        # And per endpoint, as checkout.py: at its default (25/s × 0.9) a create here waited
        # its turn (time.sleep, polling Redis) whenever the serial run went faster.
        "STRIPE_RATE_LIMIT_PER_ENDPOINT": "1000000",
        "REDIS_URL": args.redis_url})
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "bench-pay-profile.log", "w")  # noqa: SIM115 - for the run
    sandbox_process = subprocess.Popen(
        [sys.executable, "-m", "stripe_sandbox", "--port", sandbox_url.rsplit(":", 1)[1]],
        cwd=ROOT, stdout=log, stderr=log)
    try:
        wait_for(sandbox_url + "/healthz")
        print(f"database: {db_url.split(':')[0]}; migrating ...", flush=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=ROOT, check=True)
        subprocess.run([sys.executable, "manage.py", "demo_setup"], cwd=ROOT, check=True,
                       env={**os.environ, "DJANGO_DEBUG": "1"},  # its demo login wants DEBUG
                       stdout=subprocess.DEVNULL)
        from celery.signals import after_task_publish

        from bench.minimal_server import application as minimal_app
        from paymentsite.wsgi import application as ours
        floor_app = None
        if db_server is not None:  # the floor speaks PostgreSQL only
            from bench.floor_server import application as floor_app

        for handler in logging.getLogger().handlers:  # stderr, as gunicorn's, to the file
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                handler.setStream(log)
        warnings, counter = Counter(), logging.Handler(logging.WARNING)
        counter.emit = lambda record: warnings.update([record.levelname])
        logging.getLogger().addHandler(counter)
        after_task_publish.connect(lambda headers=None, routing_key="", **kw: PUBLISHED.append(
            (routing_key, (headers or {}).get("id"))), weak=False)
        sandbox = SandboxControls(sandbox_url)
        sandbox.reset()
        sandbox.set_latency(0)
        checkouts = lambda count: [checkout_ours(ours, len(SESSIONS)) for _ in range(count)]
        pairs = lambda: zip(checkouts(args.requests), checkouts(args.requests), strict=True)
        minimal = lambda body, around=NOTHING: pay_json(minimal_app, {}, body, around)
        floors = lambda count: [checkout_ours(ours, len(SESSIONS), floor_app)
                                for _ in range(count if floor_app else 0)]

        for index, pay in enumerate(checkouts(args.warmup)):
            pay_card(pay, (VISA, THREE_DS)[index % 2], sandbox, {})
            pay_card(minimal, (VISA, THREE_DS)[index % 2], sandbox, {})
        for index, pay in enumerate(floors(args.warmup)):
            pay_card(pay, (VISA, THREE_DS)[index % 2], sandbox, {})
        ours_ms, minimal_ms, floor_ms = {}, {}, {}
        floor_pays = iter(floors(2 * args.requests))
        for visa, three_ds in pairs():
            pay_card(visa, VISA, sandbox, ours_ms, database=DATABASE_CPU)  # interleaved:
            pay_card(minimal, VISA, sandbox, minimal_ms)  # drift hits all alike
            pay_card(three_ds, THREE_DS, sandbox, ours_ms, database=DATABASE_CPU)
            pay_card(minimal, THREE_DS, sandbox, minimal_ms)
            for card, pay in zip((VISA, THREE_DS), floor_pays, strict=False):
                pay_card(pay, card, sandbox, floor_ms, database=FLOOR_DATABASE_CPU,
                         connections=floor_connections)
        print(f"\n{args.requests} /pay per step and server, serial, in-process, sandbox at "
              f"0 ms, after {args.warmup} warm-up checkouts; {os.cpu_count()} CPUs\n")
        print("| step | ours median | minimal median | ours − minimal | floor median "
              "| ours CPU/request | minimal CPU/request | floor CPU/request |\n"
              + "| --- " * 8 + "|")
        for step, label in STEPS.items():
            a, b, f = ours_ms.get(step, []), minimal_ms.get(step, []), floor_ms.get(step, [])
            print(f"| {label} | {median(a, 0):.1f} ms | {median(b, 0):.1f} ms | "
                  f"{median(a, 0) - median(b, 0):.1f} ms | {median(f, 0):.1f} ms | "
                  f"{median(a, 1):.1f} ms | {median(b, 1):.1f} ms | {median(f, 1):.1f} ms |")
        for name, cpu in (("ours", DATABASE_CPU), ("the floor", FLOOR_DATABASE_CPU)):
            if cpu:  # the minimal server keeps nothing: it has none
                print(f"\nPostgreSQL's CPU per /pay of {name} (its backends for this process, "
                      "from /proc; mean): " + ", ".join(
                          f"{STEPS[step]} {statistics.fmean(cpu[step]):.2f} ms"
                          for step in STEPS if cpu.get(step)))

        if args.queries:
            queries_print(ours, sandbox)
        if args.cprofile:
            profilers, profiled = {step: cProfile.Profile() for step in STEPS}, {}
            for visa, three_ds in pairs():
                pay_card(visa, VISA, sandbox, profiled, profilers.get)
                pay_card(three_ds, THREE_DS, sandbox, profiled, profilers.get)
            print("\nUnder cProfile, medians: " + ", ".join(
                f"{STEPS[s]} {median(v, 0):.1f} ms" for s, v in profiled.items()))
            profile_print(profilers, {step: len(v) for step, v in profiled.items()})
        if args.sample:
            sampler, sampled = Sampler(), {}
            for visa, three_ds in pairs():
                pay_card(visa, VISA, sandbox, sampled, sampler.around)
                pay_card(three_ds, THREE_DS, sandbox, sampled, sampler.around)
            sampler.stop()
            sampler.print(requests=sum(len(v) for v in sampled.values()),
                          cpu_ms=sum(cpu for v in sampled.values() for _, cpu in v))
        if args.parts:
            timer, floor_timer, timed = PartTimer(), PartTimer(FLOOR_PARTS), {}
            floor_pays = iter(floors(2 * args.requests))
            timer.install()
            floor_timer.install()
            try:
                for visa, three_ds in pairs():
                    pay_card(visa, VISA, sandbox, timed, timer.around)
                    pay_card(three_ds, THREE_DS, sandbox, timed, timer.around)
                    for card, pay in zip((VISA, THREE_DS), floor_pays, strict=False):
                        pay_card(pay, card, sandbox, {}, floor_timer.around)
            finally:
                floor_timer.uninstall()
                timer.uninstall()
            timer.print(floor_timer if floor_app else None)
        print(f"\nLog records at WARNING or above: {dict(warnings) or 'none'} "
              "(var/bench-pay-profile.log)")
        return 0
    finally:
        sandbox_process.terminate()
        for cleanup in (lambda: redis_cleanup(args.redis_url), connections_close,
                        lambda: sandbox_process.wait(timeout=10),
                        lambda: database_drop(db_url, db_server)):
            try:
                cleanup()
            except Exception as error:  # noqa: BLE001 - say so, and go on cleaning up
                print(f"cleanup: {error!r}", file=sys.stderr)
        if sandbox_process.poll() is None:
            sandbox_process.kill()
        log.close()


def connections_close() -> None:
    from django.db import connections
    connections.close_all()


def redis_cleanup(url: str) -> None:
    """Take out what the run left in Redis: its sessions and the receipts it queued."""
    import redis

    if SESSIONS:
        from django.conf import settings
        from django.contrib.sessions.backends.cached_db import KEY_PREFIX
        from django.core.cache import caches
        caches[settings.SESSION_CACHE_ALIAS].delete_many([KEY_PREFIX + s for s in SESSIONS if s])
    ids, client = {task_id for _, task_id in PUBLISHED}, redis.Redis.from_url(url)
    for queue in {queue for queue, _ in PUBLISHED}:
        for raw in client.lrange(queue, 0, -1):
            if json.loads(raw).get("headers", {}).get("id") in ids:
                client.lrem(queue, 1, raw)


if __name__ == "__main__":
    sys.exit(main())
