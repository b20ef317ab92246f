"""System checks for production settings, and the Stripe time budget they rest on.

Kept free of settings imports at module level: ``gunicorn.conf.py`` and ``settings.py``
use :func:`web_worker_timeout_default`, so the server and the check agree on one number.
"""

from __future__ import annotations

import math

from django.core import checks

# stripe-python's backoff between retries (stripe/_http_client.py, HTTPClient): 0.5 s
# doubled per retry, at most 5 s; jitter only ever shortens it.
STRIPE_INITIAL_RETRY_DELAY = 0.5
STRIPE_MAX_RETRY_DELAY = 5.0
# Our own work in a request around its Stripe calls (database, rendering), with room.
WEB_WORKER_TIMEOUT_MARGIN_SECONDS = 5.0


def stripe_call_budget_seconds(*, timeout_seconds: float, max_network_retries: int) -> float:
    """The longest one Stripe call can take in stripe-python: every try times out, with
    the longest backoff before each retry."""
    tries = max_network_retries + 1
    backoff = sum(min(STRIPE_INITIAL_RETRY_DELAY * 2 ** retry, STRIPE_MAX_RETRY_DELAY)
                  for retry in range(max_network_retries))
    return timeout_seconds * tries + backoff


def stripe_request_budget_seconds(*, stripe_timeout_seconds: float,
                                  stripe_max_network_retries: int,
                                  stripe_calls_per_request: int) -> float:
    """The longest the Stripe calls of one request can take, one after the other."""
    return stripe_calls_per_request * stripe_call_budget_seconds(
        timeout_seconds=stripe_timeout_seconds, max_network_retries=stripe_max_network_retries)


def web_worker_timeout_default(*, stripe_timeout_seconds: float, stripe_max_network_retries: int,
                               stripe_calls_per_request: int) -> int:
    """The worker timeout to use when none is set: the request budget plus a margin."""
    return math.ceil(stripe_request_budget_seconds(
        stripe_timeout_seconds=stripe_timeout_seconds,
        stripe_max_network_retries=stripe_max_network_retries,
        stripe_calls_per_request=stripe_calls_per_request) + WEB_WORKER_TIMEOUT_MARGIN_SECONDS)


@checks.register("paymentsite")
def check_web_worker_timeout(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A worker killed (timeout) or cut off at shutdown (graceful timeout) while Stripe is
    still answering loses the answer of a payment Stripe may have made: refuse that."""
    from django.conf import settings

    budget = stripe_request_budget_seconds(
        stripe_timeout_seconds=settings.STRIPE_TIMEOUT_SECONDS,
        stripe_max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        stripe_calls_per_request=settings.STRIPE_CALLS_PER_REQUEST)
    timeout = settings.WEB_WORKER_TIMEOUT_SECONDS
    if timeout > budget:
        return []
    return [checks.Error(
        f"WEB_WORKER_TIMEOUT_SECONDS={timeout} is not longer than the Stripe budget of one "
        f"request, {budget:g} s ({settings.STRIPE_CALLS_PER_REQUEST} calls × "
        f"(STRIPE_TIMEOUT_SECONDS={settings.STRIPE_TIMEOUT_SECONDS:g} × "
        f"{settings.STRIPE_MAX_NETWORK_RETRIES + 1} tries + stripe-python's backoff)): "
        "gunicorn could kill a worker while Stripe is still answering a payment.",
        hint="Unset WEB_WORKER_TIMEOUT_SECONDS (its default follows the Stripe settings), "
             "raise it, or lower STRIPE_TIMEOUT_SECONDS or STRIPE_MAX_NETWORK_RETRIES.",
        id="paymentsite.E001")]


@checks.register("paymentsite")
def check_pay_rates(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A rate limit that does not parse would fail every payment (or recovery link's use)
    at request time."""
    from django.conf import settings

    from payments.checkout.throttle import rate_parse

    errors = []
    for name in ("PAYMENTS_PAY_RATE_PER_SESSION", "PAYMENTS_PAY_RATE_PER_IP",
                 "PAYMENTS_RECOVER_RATE_PER_LINK", "PAYMENTS_RECOVER_RATE_PER_IP"):
        rate = getattr(settings, name)
        try:
            if rate:
                rate_parse(rate=rate)
        except ValueError:
            errors.append(checks.Error(
                f"{name}={rate!r} is not a rate limit.",
                hint="count/period, the period s, m, h or d with an optional multiplier "
                     "(10/m, 100/5m); empty turns the limit off.",
                id="paymentsite.E002"))
    return errors


@checks.register(checks.Tags.security, deploy=True)
def check_second_factor(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """In production, users who can move money must give a second factor (``--deploy``)."""
    from django.conf import settings

    if settings.ADMIN_SECOND_FACTOR_REQUIRED:
        return []
    return [checks.Warning(
        "DJANGO_ADMIN_SECOND_FACTOR is off: superusers and ops staff sign in to the admin "
        "with a password alone.",
        hint="Leave DJANGO_ADMIN_SECOND_FACTOR unset (on with DEBUG off) in production.",
        id="paymentsite.W001")]


@checks.register("paymentsite", deploy=True)
def check_production_services(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """What the embedded defaults give a production site without a word (``--deploy``):
    SQLite, per-process counters and a broker in local files, mail to localhost."""
    import os

    from django.conf import settings

    found = []
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        found.append(checks.Warning(
            "The database is SQLite (DATABASE_URL is unset): no per-order lock across "
            "processes, no ledger trigger, one writer at a time.",
            hint="Set DATABASE_URL=postgres://… (README.md, 'Configuration').",
            id="paymentsite.W002"))
    if not settings.REDIS_URL:
        found.append(checks.Warning(
            "REDIS_URL is unset: the /pay and sign-in limits and the Stripe budget are "
            "counted per process, and Celery's broker is files on this host.",
            hint="Set REDIS_URL=redis://… shared by every web and worker process.",
            id="paymentsite.W003"))
    # The environment, not settings: EMAIL_HOST has a default ("localhost"), so settings
    # cannot tell a mail server named there from none named at all.
    if settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend" \
            and not os.environ.get("EMAIL_HOST"):
        found.append(checks.Warning(
            f"EMAIL_HOST is unset: receipts, recovery links and ops alerts go to "
            f"localhost:{settings.EMAIL_PORT}.",
            hint="Set EMAIL_HOST (EMAIL_HOST=localhost if a mail server does listen there).",
            id="paymentsite.W004"))
    if settings.SECURE_PROXY_SSL_HEADER and settings.PAYMENTS_CLIENT_ADDRESS_META == "REMOTE_ADDR":
        found.append(checks.Warning(
            "Behind a proxy (DJANGO_SECURE_PROXY_SSL_HEADER is set) the client's address is "
            "read from REMOTE_ADDR, the proxy's: every shopper shares one /pay limit, and "
            "five wrong passwords from anyone lock a staff name out for everyone.",
            hint="Set PAYMENTS_CLIENT_ADDRESS_META to the header your proxy sets with the "
                 "client's address, e.g. HTTP_X_REAL_IP.",
            id="paymentsite.W005"))
    if not os.environ.get("SHOP_NAME", "").strip():
        found.append(checks.Warning(
            f"SHOP_NAME is unset: every page, receipt and recovery mail, and the staff's "
            f"authenticator apps, name the shop {settings.SHOP_NAME!r}.",
            hint="Set SHOP_NAME to the shop's name as shoppers know it.",
            id="paymentsite.W006"))
    return found


@checks.register("paymentsite")
def check_pay_middleware(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """POST /pay's chain (``PAY_MIDDLEWARE``, paymentsite/wsgi.py) is a part of the site's
    MIDDLEWARE in the same order: a middleware /pay keeps then runs where it runs for every
    other request, and one taken out of the site is taken out of /pay too."""
    from django.conf import settings

    site = iter(settings.MIDDLEWARE)
    if all(name in site for name in settings.PAY_MIDDLEWARE):  # each found after the last
        return []
    return [checks.Error(
        "PAY_MIDDLEWARE is not a part of MIDDLEWARE in MIDDLEWARE's order.",
        hint="Keep PAY_MIDDLEWARE to middleware of MIDDLEWARE, in the same order "
             "(paymentsite/settings.py).",
        id="paymentsite.E003")]
