#!/usr/bin/env python3
"""The parts of a /pay the minimal server does not have, each timed alone in a loop
(issue 18): CPU (this process) and wall per call, without a profiler, which weighs
redis-py's and the ORM's many small calls far more than they cost.

    .venv/bin/python bench/pay_parts.py [--calls 1000] [--rounds 3]
        [--database-url postgres://postgres@127.0.0.1:5432/bench_pay_parts]
        [--redis-url redis://127.0.0.1:6379/8]

Makes the database afresh (only the session table: the parts need no other) and drops it
at the end. The Stripe budget and the throttle are set so high that nothing waits.

The request cycle around /pay: a POST /pay (session and CSRF cookies, X-CSRFToken,
Accept-Language) through a WSGIHandler whose URLconf sends /pay to a stub view (the body
parsed, a JSON answer; no session load, which is its own part above), once with the site's
whole MIDDLEWARE, once with only /pay's chain (``PAY_MIDDLEWARE``), once with none, once
with each other middleware added to /pay's chain, and once through the site's WSGI
application (``paymentsite.wsgi``, /pay's short way): what the chain /pay needs costs
against the whole one, and what each of the others adds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.checkout import database_drop, database_url  # noqa: E402
from stripe_sandbox import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url",
                        default="postgres://postgres@127.0.0.1:5432/bench_pay_parts")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args()
    url, server = database_url(args.database_url)
    # pay_profile.py's settings (DEBUG off: no query log in the cursor).
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "paymentsite.settings", "DATABASE_URL": url,
        "REDIS_URL": args.redis_url, "DJANGO_SECRET_KEY": "bench-" + "x" * 40,
        "DJANGO_DEBUG": "0", "DJANGO_SECURE_COOKIES": "0", "DJANGO_SECURE_SSL_REDIRECT": "0",
        "SITE_URL": "http://127.0.0.1:8000",  # required with DEBUG off
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "DEFAULT_FROM_EMAIL": "bench@example.com",
        "STRIPE_SECRET_KEY": DEFAULT_SECRET_KEY, "STRIPE_PUBLISHABLE_KEY": DEFAULT_PUBLISHABLE_KEY,
        "STRIPE_RATE_LIMIT_PER_SECOND": "1000000"})
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        from payments.checkout.locks import order_lock_connections_close_all

        order_lock_connections_close_all()
        database_drop(url, server)


def run(args) -> None:
    import django

    django.setup()
    from importlib import import_module

    from django.conf import settings
    from django.db import connection
    from django.test import RequestFactory
    from django.urls import reverse

    from payments.checkout.locks import order_lock
    from payments.checkout.throttle import Limit, address_block, limits_hit
    from payments.stripe import budget
    from payments.telemetry import counters

    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore  # noqa: N806
    settings.STRIPE_RATE_LIMIT_PER_ENDPOINT = 10**6
    with connection.schema_editor() as editor:
        from django.contrib.sessions.models import Session

        editor.create_model(Session)
    session = SessionStore()
    session.update({"orders": ["ord_bench"], "cart": {"field-notebook": 1}})
    session.save()
    request = RequestFactory().post("/pay", REMOTE_ADDR="127.0.0.1")

    def counts() -> None:  # what one /pay counts: the budget's wait, the Stripe call
        counters.observe(name="stripe_budget_wait_seconds", seconds=0.0004, source="shopper")
        counters.count(name="stripe_calls", source="shopper",
                       endpoint="POST /v1/payment_intents", status="200")

    def counts_sent_each() -> None:  # as before 5e9b805: each count sent at once
        counters.observe(name="stripe_budget_wait_seconds", seconds=0.0004, source="shopper")
        counters.counters_send()
        counters.count(name="stripe_calls", source="shopper",
                       endpoint="POST /v1/payment_intents", status="200")
        counters.counters_send()

    def throttle() -> None:
        address = address_block(request=request)
        limits_hit(limits=[Limit(group="pay-ip", value=address, rate="1000000/m"),
                           Limit(group="pay-session", value=session.session_key,
                                 rate="1000000/m")])

    def spend() -> None:
        with budget.stripe_calls_for("shopper"):
            budget.budget_spend(endpoint="POST /v1/payment_intents")

    def lock() -> None:
        with order_lock(order_reference="ord_bench", timeout_seconds=5):
            pass

    parts = {
        "counters, added in the process (sent once a second)": counts,
        "counters, sent to Redis with each count": counts_sent_each,
        "session load (SESSION_ENGINE)": lambda: SessionStore(
            session_key=session.session_key).load(),
        "throttle: both limits, one pipeline": throttle,
        "Stripe budget: its script (EVALSHA)": spend,
        "order lock: enter and exit": lock,
        "reverse('admin:index') (StripeCallSourceMiddleware)": lambda: reverse("admin:index"),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in parts}
    for _ in range(args.rounds):
        for name, part in parts.items():
            for _ in range(30):
                part()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(args.calls):
                part()
            results[name].append(((time.process_time() - cpu) / args.calls * 1000,
                                  (time.perf_counter() - wall) / args.calls * 1000))
    results.update(chain_parts(session_key=session.session_key, calls=args.calls,
                               rounds=args.rounds))
    counters.counters_clear()
    print(f"\n{args.calls} calls per part, {args.rounds} rounds; load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| part | CPU per call, ms (each round) | wall per call, ms (each round) |")
    print("| --- | --- | --- |")
    for name, runs in results.items():
        print(f"| {name} | {' '.join(f'{cpu:.3f}' for cpu, _ in runs)} | "
              f"{' '.join(f'{wall:.3f}' for _, wall in runs)} |")


def chain_parts(*, session_key: str, calls: int, rounds: int
                ) -> dict[str, list[tuple[float, float]]]:
    """CPU and wall per POST /pay through Django's WSGIHandler around a stub view, by
    middleware list (see the module's docstring)."""
    import io
    import json
    import types

    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import JsonResponse
    from django.middleware.csrf import _get_new_csrf_string
    from django.urls import clear_url_caches, path

    import paymentsite.urls
    import paymentsite.wsgi

    def stub_pay(request):  # the request cycle's part of the view: body, JSON, answer
        json.loads(request.body)
        return JsonResponse({"success": True, "orderUrl": "/orders/ord_bench/"})

    urls = types.ModuleType("bench_pay_parts_urls")
    urls.urlpatterns = [path("pay", stub_pay, name="pay"), *paymentsite.urls.urlpatterns]
    sys.modules[urls.__name__] = urls
    settings.ROOT_URLCONF = urls.__name__
    clear_url_caches()

    full = list(settings.MIDDLEWARE)
    pay_chain = settings.PAY_MIDDLEWARE
    chains = {f"request cycle: whole MIDDLEWARE ({len(full)})": full,
              f"request cycle: /pay's chain ({len(pay_chain)}: "
              + ", ".join(name.rsplit(".", 1)[1].removesuffix("Middleware")
                          for name in pay_chain) + ")": pay_chain,
              "request cycle: no middleware (the handler, URL resolution, signals)": []}
    # Each middleware the pay chain leaves out, added to it alone (with what it needs: OTP
    # and Axes read request.user), in MIDDLEWARE's order: what it costs a /pay.
    auth = "django.contrib.auth.middleware.AuthenticationMiddleware"
    for name in full:
        if name in pay_chain:
            continue
        extra = {name} | ({auth} if name.startswith(("django_otp.", "axes.")) else set())
        label = " + ".join(other.rsplit(".", 1)[1] for other in full if other in extra)
        chains[f"request cycle: /pay's chain + {label}"] = [
            other for other in full if other in pay_chain or other in extra]
    handlers = {}
    for name, chain in chains.items():
        settings.MIDDLEWARE = chain
        handlers[name] = WSGIHandler()
    settings.MIDDLEWARE = full
    # What a /pay takes: the application's short way (the POST resolved, then /pay's chain).
    handlers["request cycle: paymentsite.wsgi's application (/pay's short way)"] = \
        paymentsite.wsgi.PaymentsWSGIHandler()

    token = _get_new_csrf_string()
    body = json.dumps({"payment_method_id": "pm_card_visa"}).encode()

    def environ() -> dict:
        return {"REQUEST_METHOD": "POST", "PATH_INFO": "/pay", "SCRIPT_NAME": "",
                "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
                "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
                "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
                "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
                "HTTP_X_CSRFTOKEN": token, "HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9,en;q=0.5",
                "HTTP_COOKIE": f"csrftoken={token}; {settings.SESSION_COOKIE_NAME}={session_key}"}

    statuses = set()

    def start_response(status, headers, exc_info=None):
        statuses.add(status)

    results: dict[str, list[tuple[float, float]]] = {name: [] for name in handlers}
    for _ in range(rounds):
        for name, handler in handlers.items():
            def one(handler=handler) -> None:
                answer = handler(environ(), start_response)
                b"".join(answer)
                answer.close()

            for _ in range(30):
                one()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(calls):
                one()
            results[name].append(((time.process_time() - cpu) / calls * 1000,
                                  (time.perf_counter() - wall) / calls * 1000))
    assert statuses == {"200 OK"}, statuses  # every chain let the stub answer
    return results


if __name__ == "__main__":
    main()
