"""Shared fixtures: the Stripe sandbox over real HTTP, real stripe-python, and
the external services (PostgreSQL, Redis, Chromium) that CI makes mandatory.

``REQUIRE_SERVICES=1`` (set by ``.ci/run``) turns a missing service from a
skip into a failure, so CI cannot pass without exercising the real ones.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import uuid
from collections.abc import Iterator

import pytest
import stripe
from django.test import Client
from django.test.client import ClientHandler

from stripe_sandbox import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY, SandboxServer
from stripe_sandbox.controls import SandboxControls
from tests.redis_server import RedisServer
from tests.waiting import wait_until

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_configure(config) -> None:
    """The translations as the committed .po files say (dev.py setup does the same), so
    a bare pytest run never tests stale .mo files."""
    from paymentsite.translations import catalogs_compile

    catalogs_compile()


def need(condition: bool, reason: str) -> None:
    """Skip with ``reason`` where a service is missing; fail instead under CI."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


class ApplicationClientHandler(ClientHandler):
    """The test client's handler answering as the site's WSGI application does
    (``paymentsite.wsgi.application``: POST /pay through its own chain, a webhook straight
    to the intake), where Django's handler takes every request through ``MIDDLEWARE``."""

    def get_response(self, request):
        from paymentsite.wsgi import application

        return application.get_response(request)


class ApplicationClient(Client):
    """Django's test client (cookies, ``json()``, ``enforce_csrf_checks``) in front of the
    site's WSGI application: what a shopper's /pay goes through in production."""

    def __init__(self, enforce_csrf_checks: bool = False, **defaults) -> None:
        super().__init__(enforce_csrf_checks, **defaults)
        self.handler = ApplicationClientHandler(enforce_csrf_checks)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The suite builds tables from the models (--no-migrations); add what our migrations
    put in the database besides tables: the ledger's and the erasure records' append-only
    triggers, the roles."""
    from django.apps import apps
    from django.db import connection

    ledger = importlib.import_module("payments.migrations.0003_ledger_append_only_trigger")
    erasures = importlib.import_module("payments.migrations.0086_privacy_erasure")
    with django_db_blocker.unblock():
        with connection.schema_editor() as editor:
            ledger.trigger_install(None, editor)
            erasures.trigger_install(None, editor)
        roles_create(apps)
    yield
    from payments.checkout.locks import order_lock_connections_close_all
    order_lock_connections_close_all()  # before the test database is dropped


def roles_create(apps) -> None:
    """The staff roles as the migrations leave them: 0007, then every later migration's
    ``roles_grant``, in order (found, not listed: a newcomer's new grant was missed)."""
    import payments.migrations

    importlib.import_module("payments.migrations.0007_roles").roles_create(apps, None)
    for name in sorted(module.name for module in pkgutil.iter_modules(
            payments.migrations.__path__)):
        migration = importlib.import_module(f"payments.migrations.{name}")
        if hasattr(migration, "roles_grant"):
            migration.roles_grant(apps, None)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    # Fast webhook retries so delivery tests finish in well under a second.
    with SandboxServer(webhook_retry_delays=(0.05, 0.1, 0.2)) as server:
        yield server




@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxControls]:
    """The sandbox, reset to empty for each test. Afterwards it waits (briefly) for its
    webhook deliveries to land or give up, so none reaches the session's live server
    during the next test (on SQLite that server shares the test's connection)."""
    controls = SandboxControls(sandbox_server.url)
    controls.reset()
    yield controls
    try:
        wait_until(lambda: all(d["state"] != "pending" for d in controls.deliveries()),
                   timeout=5, what="the sandbox's webhook deliveries to land or give up")
    except AssertionError:
        pass  # one still retrying after 5 s: the next test's reset drops it
    controls.close()


@pytest.fixture
def stripe_client(sandbox: SandboxControls) -> stripe.StripeClient:
    """Real stripe-python, talking HTTP to the sandbox; no retries unless a test asks."""
    return stripe.StripeClient(DEFAULT_SECRET_KEY, base_addresses={"api": sandbox.url},
                               max_network_retries=0)


@pytest.fixture
def site_on_sandbox(sandbox: SandboxControls, settings):
    """Django settings pointing the site (gateway, Stripe.js, CSP) at the test sandbox, with
    no network retries (tests see each failure) and the /pay and recovery links' rate
    limits off."""
    from paymentsite.content_security import content_security_policy_for, stripe_js_url_for

    settings.STRIPE_API_BASE = sandbox.url
    settings.STRIPE_JS_URL = stripe_js_url_for(api_base=sandbox.url)
    settings.CONTENT_SECURITY_POLICY = content_security_policy_for(
        stripe_js_url=settings.STRIPE_JS_URL, api_base=sandbox.url)
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 2
    settings.PAYMENTS_PAY_RATE_PER_SESSION = settings.PAYMENTS_PAY_RATE_PER_IP = ""
    settings.PAYMENTS_RECOVER_RATE_PER_LINK = settings.PAYMENTS_RECOVER_RATE_PER_IP = ""
    return settings


@pytest.fixture(autouse=True)
def redis_not_resting():
    """Each test starts with Redis called at once: a failure an earlier test provoked
    would otherwise leave it alone for REDIS_RETRY_AFTER_SECONDS (counters.redis_rest).
    And with no counts of an earlier test waiting to be sent, which the counters' thread
    would send in this test (into a Redis it may have killed)."""
    from payments.telemetry import counters

    # First: it waits for a send the counters' thread began in an earlier test (into a
    # Redis that test may have killed), whose failure would start a rest after the reset.
    counters.counters_forget()
    counters.redis_rest_end()


@pytest.fixture
def own_redis(settings) -> Iterator[RedisServer]:
    """A redis-server of this test's own (tests/redis_server.py), which the test may kill
    and start again, made the site's Redis as production uses it: cache, /pay throttle,
    Stripe budget, counters, drain flag and Celery's broker."""
    from payments.telemetry import counters, outages
    from paymentsite.celery import app
    from paymentsite.settings import caches_for, redis_broker_options

    need(bool(shutil.which("redis-server")), "redis-server is not installed "
                                             "(apt-get install redis-server)")
    server = RedisServer()
    server.start()
    settings.REDIS_URL = server.url
    settings.CACHES = caches_for(server.url, settings.REDIS_TIMEOUT_SECONDS)
    settings.REDIS_RETRY_AFTER_SECONDS = 0  # a test sees Redis back at once
    outages.outages_forget()
    counters.redis_rest_end()
    before = app.conf.broker_url, app.conf.broker_transport_options

    def broker_set(url, options) -> None:
        app.conf.broker_url, app.conf.broker_transport_options = url, options
        app._pool = None  # Celery keeps its producers' connections: made afresh
        app.amqp._producer_pool = None

    broker_set(server.url, redis_broker_options(settings.REDIS_TIMEOUT_SECONDS))
    try:
        yield server
    finally:
        broker_set(*before)
        server.close()
        counters.redis_rest_end()


@pytest.fixture
def publishable_key() -> str:
    return DEFAULT_PUBLISHABLE_KEY


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    need(bool(path), "Chromium is not installed (apt-get install chromium; .ci/run does)")
    return str(path)


@pytest.fixture
def celery_queue() -> Iterator[str]:
    """Our tasks routed to a queue of this test's own, so a worker of a running `dev.py
    run` cannot take its messages (and this test's worker takes no one else's)."""
    from paymentsite.celery import app

    def routes_set(routes) -> None:
        # Celery builds its router once and keeps it: rebuild it from the new routes.
        app.conf.task_routes = routes
        app.amqp.flush_routes()
        app.amqp.__dict__.pop("router", None)

    queue = f"test-{uuid.uuid4().hex[:10]}"
    routes = app.conf.task_routes
    routes_set({"payments.*": {"queue": queue}})
    try:
        yield queue
    finally:
        routes_set(routes)


@pytest.fixture
def celery_worker(transactional_db, celery_queue):
    """A real worker in a thread, on the broker settings.py chose, consuming this test's
    queue."""
    from celery.contrib.testing.worker import start_worker

    from paymentsite.celery import app

    with start_worker(app, perform_ping_check=False, queues=[celery_queue], pool="solo",
                      shutdown_timeout=30):
        yield app


@pytest.fixture
def staff_roles(db):
    """The Merchants and Payments ops groups (migration 0007); a transactional test's flush
    empties them, so tests that need them ask for this."""
    from django.apps import apps

    roles_create(apps)


@pytest.fixture(autouse=True)
def webhook_drain_unflagged(settings):
    """No drain of webhook events left queued by an earlier test (its flag in Redis would
    keep this test's deliveries from queueing one)."""
    if settings.REDIS_URL:
        from payments.monitoring import events

        events._drain_flag().delete(events.DRAIN_FLAG)


@pytest.fixture(autouse=True)
def stripe_budget_off(settings):
    """The account's Stripe budget is off, as the sandbox enforces no rate limits: a test
    about limits turns both on (tests/payments/stripe/test_budget.py)."""
    settings.STRIPE_RATE_LIMIT_PER_SECOND = 0


@pytest.fixture(autouse=True)
def admin_filter_values_fresh():
    """The admin's lists keep their filters' values a minute in the cache; each test sees
    its own rows."""
    yield
    from django.core.cache import cache

    from payments.admin.common import values_present_cache_key

    cache.delete_many([values_present_cache_key(table, field) for table, fields in (
        ("payments_incident", ("currency", "card_brand", "card_country", "decline_code",
                               "source")),
        ("payments_order", ("currency",)),
        ("payments_paymentattempt", ("last_decline_code", "last_error_code", "card_brand",
                                     "confirmation_method")),
    ) for field in fields])
