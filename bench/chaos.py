#!/usr/bin/env python3
"""Nothing lost under fire: shoppers pay while the machine's parts fail, then the
product's state is checked against Stripe's, as a reconciliation would.

    .venv/bin/python bench/chaos.py [--shoppers 300] [--seconds 240] [--web-workers 3]
                                    [--database-url postgres://…/NAME] [--seed N] [--small]

Starts the production shape on this machine: PostgreSQL (a database of its own, dropped
first and at the end), a ``redis-server`` of its own on a free port (so it can kill and
restart it), the sandbox, gunicorn (``--web-workers``, gthread), one Celery worker and
one beat, webhooks delivered to the site, the thresholds and beat's intervals shortened.

Shoppers (concurrently, arriving over ``--seconds``) go through the real pages and
/pay, with Stripe.js's calls (the payment method, the bank's modal through the sandbox's
control) made as a browser would, each with a scenario: paid at once; declined then
paid; 3-D Secure completed; failed at the bank then paid with another card; completed at
the bank but the page closed before the second confirm; left at the bank's modal; failed
at the bank and gave up. A
shopper retries as a person would (again after a 503, a 429 or a dropped connection).

Meanwhile, and counted: Stripe answers 429s and 500s, drops answers after doing the
work, answers slowly; a web worker is SIGKILLed every few seconds; the Celery worker is
killed and restarted; Redis is killed and restarted; webhook deliveries are dropped,
duplicated and reordered.

Then the product settles by its own beat, and the invariants are checked against the
sandbox's API (its intents and charges) and our database: no order charged twice, every
charge its order's amount; every succeeded intent of an order shows the order paid and
no order is paid without one; every shopper told "paid" has a paid order; every payment
authenticated and never confirmed was finalized (and labelled so); every payment left
at the modal, and every failed authentication not paid later, has its incident; at
most one incident per intent and kind; every attempt's status is Stripe's; no /pay
answer was a 500. Each invariant is printed held or not (counts, example ids), then the
figures. The exit code is 1 if any invariant fails. ``--small`` is the configuration
the test suite runs (tests/test_chaos.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.checkout import database_drop, database_url, free_port, wait_for  # noqa: E402
from stripe_sandbox import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY  # noqa: E402
from stripe_sandbox.controls import SandboxControls  # noqa: E402

SCENARIOS = {  # name: weight
    "paid at once": 35, "declined then paid": 15, "3-D Secure completed": 20,
    "failed at the bank then paid": 10, "failed at the bank and gave up": 5,
    "closed before the second confirm": 8, "left at the bank's modal": 7,
}
CARDS = {"visa": "4242424242424242", "declined": "4000000000009995",
         "three_ds": "4000002500003155"}
RETRYABLE = {429, 502, 503, 599}
PRODUCTS = ["field-notebook", "espresso-cups", "wool-blanket", "desk-lamp"]


# --- the shoppers -------------------------------------------------------------------------

@dataclass
class Shopper:
    index: int
    scenario: str
    order: str = ""
    told_paid: bool = False
    intents: list[str] = field(default_factory=list)  # every intent the page was shown
    failed_at_bank: str = ""  # the intent whose challenge failed
    left_intent: str = ""  # the intent left at the modal or before the second confirm
    pay_statuses: list[int] = field(default_factory=list)
    page_statuses: list[int] = field(default_factory=list)
    gave_up: str = ""


class Browser:
    """One shopper's browser: cookies, the CSRF token, retries as a person."""

    def __init__(self, site: str, sandbox_url: str, shopper: Shopper) -> None:
        self.site, self.sandbox_url, self.shopper = site, sandbox_url, shopper
        self.http = httpx.Client(base_url=site, timeout=30)
        self.stripe = httpx.Client(base_url=sandbox_url, timeout=30, headers={
            "Authorization": f"Bearer {DEFAULT_PUBLISHABLE_KEY}"})

    def close(self) -> None:
        self.http.close()
        self.stripe.close()

    def page(self, method: str, path: str, tries: int = 6, **kwargs) -> httpx.Response | None:
        for attempt in range(tries):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.HTTPError:
                self.shopper.page_statuses.append(599)
                time.sleep(1 + attempt)
                continue
            self.shopper.page_statuses.append(response.status_code)
            if response.status_code in RETRYABLE:
                time.sleep(min(float(response.headers.get("Retry-After", "1")), 3.0))
                continue
            return response
        return None

    def pay(self, body: dict, tries: int = 6) -> dict | None:
        """POST /pay as the page does; retried after a dropped connection or a 429/503
        with the same body (the server's idempotency makes that safe)."""
        headers = {"X-CSRFToken": self.http.cookies.get("csrftoken", ""),
                   "Content-Type": "application/json"}
        body = {**body, "order_reference": self.shopper.order}
        for attempt in range(tries):
            try:
                response = self.http.post("/pay", content=json.dumps(body), headers=headers)
            except httpx.HTTPError:
                status, answer = 599, {}
            else:
                status = response.status_code  # a 500's HTML page is still a 500
                try:
                    answer = response.json()
                except ValueError:
                    answer = {}
            self.shopper.pay_statuses.append(status)
            if status in RETRYABLE:
                time.sleep(min(float(answer and 2 or 1 + attempt), 3.0))
                continue
            return {"status": status, **answer}
        return None

    def payment_method(self, number: str) -> str | None:
        """Stripe.js's createPaymentMethod, with the publishable key."""
        for attempt in range(5):
            try:
                response = self.stripe.post("/v1/payment_methods", data={
                    "type": "card", "card[number]": number, "card[exp_month]": "12",
                    "card[exp_year]": "2034", "card[cvc]": "123"})
            except httpx.HTTPError:
                time.sleep(1 + attempt)
                continue
            if response.status_code == 200:
                return response.json()["id"]
            time.sleep(1)
        return None


def shop(site: str, sandbox_url: str, controls: SandboxControls, shopper: Shopper) -> None:
    browser = Browser(site, sandbox_url, shopper)
    try:
        _shop(browser, controls, shopper)
    except Exception as error:  # noqa: BLE001 - a shopper's failure is a figure, not a crash
        shopper.gave_up = f"{type(error).__name__}: {error}"
    finally:
        browser.close()


def _shop(browser: Browser, controls: SandboxControls, shopper: Shopper) -> None:
    if browser.page("GET", "/") is None:
        shopper.gave_up = "the store did not open"
        return
    csrf = browser.http.cookies.get("csrftoken", "")
    sku = PRODUCTS[shopper.index % len(PRODUCTS)]
    if browser.page("POST", "/cart/", data={"action": "add", "sku": sku, "quantity": "1",
                                           "csrfmiddlewaretoken": csrf}) is None:
        shopper.gave_up = "the cart did not answer"
        return
    placed = browser.page("POST", "/checkout/", follow_redirects=False, data={
        "email": f"chaos{shopper.index}@example.com", "csrfmiddlewaretoken": csrf})
    if placed is None or placed.status_code != 302 or "/orders/" not in \
            placed.headers.get("Location", ""):
        shopper.gave_up = f"no order ({placed.status_code if placed else 'no answer'})"
        return
    shopper.order = placed.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    scenario = shopper.scenario
    first = {"declined then paid": "declined", "failed at the bank then paid": "three_ds",
             "failed at the bank and gave up": "three_ds",
             "3-D Secure completed": "three_ds", "closed before the second confirm": "three_ds",
             "left at the bank's modal": "three_ds"}.get(scenario, "visa")
    answer = pay_with(browser, first)
    if answer is None:
        shopper.gave_up = "no answer from /pay"
        return
    if scenario == "paid at once":
        shopper.told_paid = bool(answer.get("success"))
        return
    if scenario == "declined then paid":
        if answer.get("success"):  # a fault made the decline look like... nothing: paid
            shopper.told_paid = True
            return
        answer = pay_with(browser, "visa")
        shopper.told_paid = bool(answer and answer.get("success"))
        return
    if not answer.get("requiresAction"):
        shopper.told_paid = bool(answer.get("success"))
        return
    intent = answer["clientSecret"].split("_secret_")[0]
    shopper.intents.append(intent)
    if scenario == "left at the bank's modal":
        shopper.left_intent = intent
        return
    outcome = "fail" if scenario.startswith("failed at the bank") else "complete"
    controls.authenticate(intent, outcome)  # the modal's button
    if scenario == "closed before the second confirm":
        shopper.left_intent = intent
        return
    if outcome == "fail":
        shopper.failed_at_bank = intent
        answer = browser.pay({"payment_intent_id": intent})  # the page learns it failed
        if scenario == "failed at the bank and gave up":
            return
        answer = pay_with(browser, "visa")
        shopper.told_paid = bool(answer and answer.get("success"))
        return
    answer = browser.pay({"payment_intent_id": intent})
    shopper.told_paid = bool(answer and answer.get("success"))


def pay_with(browser: Browser, card: str) -> dict | None:
    method = browser.payment_method(CARDS[card])
    if method is None:
        return None
    return browser.pay({"payment_method_id": method})


# --- the faults --------------------------------------------------------------------------

@dataclass
class Faults:
    counts: Counter = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)


def stripe_faults(controls: SandboxControls, faults: Faults, rng: random.Random,
                  every: float) -> None:
    kinds = [
        ("429", {"action": "rate_limit"}),
        ("500", {"action": "status", "status": 500}),
        ("dropped after the work", {"action": "drop", "when": "after"}),
        ("slow (3 s)", {"action": "delay", "delay_ms": 3000}),
        # Kept under the write's key and replayed to it, without or after the work.
        ("500 kept under its key", {"action": "status", "status": 500, "when": "stored"}),
        ("500 kept after the work", {"action": "status", "status": 500,
                                     "when": "stored_after"}),
    ]
    paths = [("POST", "/v1/payment_intents"), ("GET", "/v1/payment_intents/"),
             ("POST", "/v1/payment_intents/")]
    while not faults.stop.wait(every):
        name, spec = rng.choice(kinds)
        method, path = rng.choice(paths)
        try:
            controls.add_fault(method=method, path=path, count=1, **spec)
            faults.counts[f"Stripe: {name}"] += 1
        except httpx.HTTPError:
            pass


def webhook_faults(controls: SandboxControls, faults: Faults, rng: random.Random,
                   every: float) -> None:
    while not faults.stop.wait(every):
        choice = rng.choice(["drop", "duplicate", "reorder"])
        try:
            if choice == "reorder":
                controls.hold_webhooks()
                time.sleep(3)
                released = controls.release_webhooks(order="shuffle", seed=rng.randrange(1000))
                faults.counts["webhooks: held and released shuffled"] += len(released)
            else:
                controls.add_webhook_fault(action=choice, count=2)
                faults.counts[f"webhooks: {choice}"] += 2
        except httpx.HTTPError:
            pass


def web_kills(gunicorn: subprocess.Popen, faults: Faults, rng: random.Random,
              every: float) -> None:
    while not faults.stop.wait(every):
        workers = children(gunicorn.pid)
        if workers:
            try:
                os.kill(rng.choice(workers), signal.SIGKILL)
                faults.counts["web worker SIGKILLed"] += 1
            except ProcessLookupError:
                pass


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def kill_tree(process: subprocess.Popen) -> None:
    for child in children(process.pid):
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.kill()
    process.wait(timeout=10)


# --- the run -----------------------------------------------------------------------------

class Product:
    """The processes of the production shape, restartable."""

    def __init__(self, args: argparse.Namespace, env: dict, log) -> None:
        self.args, self.env, self.log = args, env, log
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=self.log,
                                   stderr=self.log)
        self.processes[name] = process
        return process

    def redis(self) -> subprocess.Popen:
        return self.start("redis", ["redis-server", "--port", str(self.args.redis_port),
                                    "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                    "no", "--dir", str(self.args.tmp)])

    def worker(self) -> subprocess.Popen:
        return self.start("worker", [sys.executable, "-m", "celery", "-A", "paymentsite",
                                     "worker", "--loglevel", "WARNING", "--concurrency", "2"])

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_tree(process)


def process_kills(product: Product, faults: Faults, seconds: float) -> None:
    """The Celery worker killed and restarted; Redis killed for 5 s and restarted."""
    if faults.stop.wait(seconds * 0.3):
        return
    kill_tree(product.processes["worker"])
    faults.counts["Celery worker killed"] += 1
    if faults.stop.wait(5):
        product.worker()
        return
    product.worker()
    faults.counts["Celery worker restarted"] += 1
    if faults.stop.wait(seconds * 0.3):
        return
    product.processes["redis"].kill()
    product.processes["redis"].wait(timeout=10)
    faults.counts["Redis killed"] += 1
    faults.stop.wait(5)
    product.redis()
    faults.counts["Redis restarted"] += 1


def shorten_beat(db_url: str, seconds: int) -> None:
    """Beat's interval schedules every ``seconds``: the product settles within minutes."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE django_celery_beat_intervalschedule SET every = %s "
                     "WHERE period = 'seconds' AND every <= 60", [seconds])
        conn.execute("UPDATE django_celery_beat_periodictasks SET last_update = now()")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shoppers", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=240, help="shoppers arrive over it")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--settle", type=float, default=300, help="seconds at most")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--small", action="store_true",
                        help="40 shoppers over 60 s: the test suite's configuration")
    args = parser.parse_args()
    if args.small:
        args.shoppers, args.seconds, args.web_workers = 40, 60, 2
    seed = args.seed if args.seed is not None else random.randrange(10_000)
    rng = random.Random(seed)
    args.redis_port, args.tmp = free_port(), Path(os.environ.get("TMPDIR", "/tmp"))
    sandbox_port, site_port = free_port(), free_port()
    sandbox_url, site = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{site_port}"
    db_url, db_server = database_url(args.database_url or
                                     "postgres://postgres@127.0.0.1:5432/bench_chaos")
    if not db_url.startswith("postgres"):
        print("PostgreSQL is needed (the order lock, the live processes' connections).")
        return 2
    env = {**os.environ, "DATABASE_URL": db_url,
           "REDIS_URL": f"redis://127.0.0.1:{args.redis_port}/0",
           "STRIPE_API_BASE": sandbox_url, "STRIPE_SECRET_KEY": DEFAULT_SECRET_KEY,
           "STRIPE_PUBLISHABLE_KEY": DEFAULT_PUBLISHABLE_KEY, "STRIPE_TIMEOUT_SECONDS": "5",
           "DJANGO_SECRET_KEY": "chaos-" + "x" * 40, "DJANGO_DEBUG": "0",
           "SITE_URL": "http://127.0.0.1:8000",  # required with DEBUG off
           "DJANGO_SECURE_COOKIES": "0", "DJANGO_SECURE_SSL_REDIRECT": "0",
           "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "DEFAULT_FROM_EMAIL": "chaos@example.com",
           "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
           "DJANGO_LOG_LEVEL": "WARNING", "DJANGO_ADMIN_SECOND_FACTOR": "false",
           # the throttle stays on (it meets Redis's outage) but lets every shopper of one
           # address through
           "PAYMENTS_PAY_RATE_PER_SESSION": "60/m", "PAYMENTS_PAY_RATE_PER_IP": "100000/m",
           "PAYMENTS_ACTION_ABANDONED_AFTER_SECONDS": "20",
           "PAYMENTS_CONFIRMATION_ABANDONED_AFTER_SECONDS": "10",
           "WEB_WORKER_TIMEOUT_SECONDS": "60"}
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "bench-chaos.log", "w")  # noqa: SIM115 - lives for the run
    product = Product(args, env, log)
    faults = Faults()
    started = time.monotonic()
    try:
        product.redis()
        product.start("sandbox", [sys.executable, "-m", "stripe_sandbox", "--port",
                                  str(sandbox_port), "--webhook-retries", "fast"])
        wait_for(sandbox_url + "/healthz")
        print(f"seed {seed}; database {db_url.rsplit('/', 1)[-1]}; migrating ...", flush=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=ROOT, env=env, check=True, stdout=log, stderr=log)
        subprocess.run([sys.executable, "manage.py", "demo_setup", "--webhooks-to", site],
                       cwd=ROOT, env={**env, "DJANGO_DEBUG": "1"}, check=True, stdout=log,
                       stderr=log)
        shorten_beat(db_url, 10)
        gunicorn = product.start("web", [
            sys.executable, "-m", "gunicorn", "paymentsite.wsgi", "--bind",
            f"127.0.0.1:{site_port}", "--worker-class", "gthread", "--workers",
            str(args.web_workers), "--threads", "4", "--log-level", "warning"])
        product.worker()
        product.start("beat", [sys.executable, "-m", "celery", "-A", "paymentsite", "beat",
                               "--loglevel", "WARNING"])
        wait_for(site + "/")
        controls = SandboxControls(sandbox_url)
        shoppers = [Shopper(index=i, scenario=rng.choices(
            list(SCENARIOS), weights=list(SCENARIOS.values()))[0])
            for i in range(args.shoppers)]
        print(f"{args.shoppers} shoppers over {args.seconds:.0f} s; gunicorn {args.web_workers}"
              "×4, one Celery worker, one beat, Redis of its own; faults below\n", flush=True)
        chaos = [
            threading.Thread(target=stripe_faults, args=(controls, faults, rng, 1.5)),
            threading.Thread(target=webhook_faults, args=(controls, faults, rng, 10)),
            threading.Thread(target=web_kills, args=(gunicorn, faults, rng, 6)),
            threading.Thread(target=process_kills, args=(product, faults, args.seconds)),
        ]
        shopping_from = time.monotonic()  # the setup above (migrations) is not shopping
        for thread in chaos:
            thread.start()
        with ThreadPoolExecutor(48) as pool:
            futures = []
            for n, shopper in enumerate(shoppers):
                delay = shopping_from + n * args.seconds / args.shoppers - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(shop, site, sandbox_url, controls, shopper))
            for future in futures:
                future.result()
        faults.stop.set()
        for thread in chaos:
            thread.join(timeout=60)
        shopping_done = time.monotonic()
        controls.clear_faults()
        controls.release_webhooks(order="created")
        if product.processes["worker"].poll() is not None:
            product.worker()
        held, settled_after = settle(db_url, controls, shoppers, args.settle)
        held.append(reconciled(env))
        report(shoppers, faults, held, settled_after, time.monotonic() - started,
               shopping_done - shopping_from)
        return 0 if all(check.held for check in held) else 1
    finally:
        faults.stop.set()
        product.stop()
        log.close()
        database_drop(db_url, db_server)


# --- the invariants ----------------------------------------------------------------------

@dataclass
class Check:
    name: str
    held: bool
    detail: str
    settles: bool = True  # False: about answers already given, which waiting cannot change


def settle(db_url: str, controls: SandboxControls, shoppers: list[Shopper], limit: float
           ) -> tuple[list[Check], float]:
    """Check every ten seconds until every invariant holds (or the limit): what the beat
    settles, it settles by itself."""
    started = time.monotonic()
    while True:
        checks = invariants(db_url, controls, shoppers)
        elapsed = time.monotonic() - started
        if all(check.held for check in checks if check.settles) or elapsed > limit:
            return checks, elapsed
        time.sleep(10)


def reconciled(env: dict) -> Check:
    """The product's own reconciliation (manage.py payments_reconcile) agrees: it finds no
    mismatch between the sandbox's intents and charges and the shop's orders."""
    run = subprocess.run([sys.executable, "manage.py", "payments_reconcile", "--days", "1"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    return Check("payments_reconcile finds no mismatch", run.returncode == 0,
                 f"exit {run.returncode}: {lines[-1] if lines else run.stderr[-200:]}")


def stripe_objects(controls: SandboxControls) -> tuple[list[dict], list[dict]]:
    def listed(path: str) -> list[dict]:
        items, after = [], None
        with httpx.Client(base_url=controls.url, timeout=60, headers={
                "Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}) as client:
            while True:
                params = {"limit": 100, **({"starting_after": after} if after else {})}
                page = client.get(path, params=params).json()
                items += page["data"]
                if not page["has_more"]:
                    return items
                after = page["data"][-1]["id"]
    return listed("/v1/payment_intents"), listed("/v1/charges")


def invariants(db_url: str, controls: SandboxControls, shoppers: list[Shopper]) -> list[Check]:
    import psycopg

    intents, charges = stripe_objects(controls)
    with psycopg.connect(db_url) as conn:
        orders = {ref: (status, amount) for ref, status, amount in conn.execute(
            "SELECT reference, status, amount FROM payments_order")}
        attempts = dict(conn.execute(
            "SELECT stripe_id, status FROM payments_paymentattempt WHERE stripe_id IS NOT NULL"))
        incidents = list(conn.execute("SELECT stripe_id, kind, status FROM payments_incident"))
        stored, unprocessed = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE processed_at IS NULL) "
            "FROM payments_webhookevent").fetchone()
    order_of_intent = {i["id"]: i["metadata"].get("order") for i in intents}
    succeeded = [i for i in intents if i["status"] == "succeeded" and i["metadata"].get("order")]
    paid_intents: dict[str, list[str]] = {}
    for intent in succeeded:
        paid_intents.setdefault(intent["metadata"]["order"], []).append(intent["id"])
    paid_charges: dict[str, list[dict]] = {}
    for charge in charges:
        order = order_of_intent.get(charge.get("payment_intent"))
        if charge["status"] == "succeeded" and order:
            paid_charges.setdefault(order, []).append(charge)
    checks = []

    def check(name: str, bad: list, total: int, settles: bool = True) -> None:
        checks.append(Check(name, not bad, f"{len(bad)} of {total}"
                            + (f", e.g. {bad[:3]}" if bad else ""), settles))

    check("no order charged twice",
          [o for o, ids in paid_intents.items() if len(ids) > 1 or
           len(paid_charges.get(o, [])) > 1], len(orders))
    check("every charge is its order's amount",
          [c["id"] for o, cs in paid_charges.items() for c in cs
           if o in orders and c["amount"] != orders[o][1]], len(charges))
    check("a succeeded intent's order is paid",
          [o for o in paid_intents if orders.get(o, ("?",))[0] != "paid"], len(paid_intents))
    check("no order paid without a succeeded intent",
          [o for o, (status, _) in orders.items() if status == "paid" and o not in paid_intents],
          sum(1 for status, _ in orders.values() if status == "paid"))
    check("every shopper told 'paid' has a paid order",
          [s.order for s in shoppers if s.told_paid and orders.get(s.order, ("?",))[0] != "paid"],
          sum(s.told_paid for s in shoppers))
    by_intent = {}
    for stripe_id, kind, status in incidents:
        by_intent.setdefault(stripe_id, []).append((kind, status))
    closed = [s for s in shoppers if s.scenario == "closed before the second confirm"
              and s.left_intent]
    check("authenticated, never confirmed: finalized and labelled so",
          [s.left_intent for s in closed
           if orders.get(s.order, ("?",))[0] != "paid"
           or ("confirmation_abandoned", "auto_finalized") not in by_intent.get(s.left_intent, [])],
          len(closed))
    left = [s for s in shoppers if s.scenario == "left at the bank's modal" and s.left_intent]
    check("left at the bank's modal: its incident",
          [s.left_intent for s in left
           if not any(kind == "action_abandoned" for kind, _ in by_intent.get(s.left_intent, []))],
          len(left))
    failed = [s for s in shoppers if s.failed_at_bank
              and orders.get(s.order, ("?",))[0] != "paid"]
    check("a failed authentication not paid later: its incident",
          [s.failed_at_bank for s in failed
           if not any(kind == "authentication_failed"
                      for kind, _ in by_intent.get(s.failed_at_bank, []))], len(failed))
    pairs = Counter((stripe_id, kind) for stripe_id, kind, _ in incidents)
    check("at most one incident per intent and kind",
          [pair for pair, count in pairs.items() if count > 1], len(pairs))
    stripe_status = {i["id"]: i["status"] for i in intents}
    check("every attempt's status is Stripe's",
          [(sid, ours, stripe_status.get(sid)) for sid, ours in attempts.items()
           if ours not in ("missing",) and stripe_status.get(sid) != ours], len(attempts))
    check("no /pay answer was a 500",
          [s.order or s.index for s in shoppers if 500 in s.pay_statuses],
          sum(len(s.pay_statuses) for s in shoppers), settles=False)
    check("no page answered 500",
          [s.order or s.index for s in shoppers if 500 in s.page_statuses],
          sum(len(s.page_statuses) for s in shoppers), settles=False)
    check("every webhook event processed", [unprocessed] if unprocessed else [], stored)
    return checks


def report(shoppers: list[Shopper], faults: Faults, checks: list[Check], settled: float,
           total: float, shopping: float) -> None:
    print("| invariant | held | detail |\n| --- | --- | --- |")
    for check in checks:
        print(f"| {check.name} | {'yes' if check.held else '**NO**'} | {check.detail} |")
    print("\nShoppers by scenario (told paid / gave up):")
    for scenario in SCENARIOS:
        group = [s for s in shoppers if s.scenario == scenario]
        print(f"- {scenario}: {len(group)} ({sum(s.told_paid for s in group)} / "
              f"{sum(bool(s.gave_up) for s in group)})")
    statuses = Counter(status for s in shoppers for status in s.pay_statuses)
    print(f"\n/pay answers by status: {dict(sorted(statuses.items()))} (599: no answer)")
    pages = Counter(status for s in shoppers for status in s.page_statuses)
    print(f"page answers by status: {dict(sorted(pages.items()))}")
    print(f"faults: {dict(sorted(faults.counts.items()))}")
    gave_up = [s.gave_up for s in shoppers if s.gave_up]
    if gave_up:
        print(f"gave up: {dict(Counter(gave_up))}")
    print(f"\nshopping {shopping:.0f} s, settled {settled:.0f} s after, whole run {total:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
