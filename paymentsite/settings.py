"""Django settings, read from environment variables (12-factor, as cookiecutter-django does).

Every setting has an embedded default that runs the site offline against the
Stripe sandbox on SQLite. With ``DJANGO_DEBUG`` off, secrets without a value
stop start-up with a clear message instead of falling back to a default.
"""

from __future__ import annotations

import os
import re
import warnings
import zoneinfo
from email.utils import formataddr
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host

from paymentsite.checks import web_worker_timeout_default
from paymentsite.content_security import content_security_policy_for, stripe_js_url_for

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


DEBUG = env_bool("DJANGO_DEBUG", True)


# The secrets (and values as vital) production left unset: named together at the end of
# this module, so a deploy learns them in one start, not one per start.
_UNSET: list[str] = []


def secret(name: str, dev_default: str) -> str:
    """A secret (or a value as vital): its development default only while DEBUG is on."""
    value = os.environ.get(name)
    if value:
        return value
    if not DEBUG:
        _UNSET.append(name)
    return dev_default  # with DEBUG off, only until the end of this module refuses it


def _env_number(name: str, default, parse, kind: str):
    """The variable read by ``parse`` (unset or empty: ``default``); one that does not
    parse stops start-up with a message naming it."""
    value = os.environ.get(name, "").strip()
    try:
        return parse(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not {kind}.") from None


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "a whole number")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


SECRET_KEY = secret("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
# Rotating the key: the new one above, the old ones here (comma-separated) until what they
# signed has expired (a receipt's order link: 90 days), so links already mailed,
# shoppers' sessions and staff sign-ins keep working.
SECRET_KEY_FALLBACKS = [key.strip() for key in
                        (env("DJANGO_SECRET_KEY_FALLBACKS", "") or "").split(",")
                        if key.strip()]
ALLOWED_HOSTS = [h for h in (env("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost") or "").split(",")
                 if h]

INSTALLED_APPS = [
    "paymentsite",  # its AppConfig registers our system checks (paymentsite/checks.py)
    "paymentsite.apps.PaymentsAdminConfig",  # Django's admin, our site (paymentsite/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "axes",  # locks out a user at an address after repeated failed sign-ins
    "django_otp",  # the admin's second factor (paymentsite/signin.py)
    "django_otp.plugins.otp_totp",
    "djstripe",
    "django_celery_beat",
    "payments",
]

MIDDLEWARE = [
    # First, so every response (redirects and errors too) and every log line has the id.
    "paymentsite.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The shopper's language: the switch's cookie, else Accept-Language, else English.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified()
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Whose Stripe calls a request makes: shoppers' first, then ops' (the Stripe budget).
    "paymentsite.middleware.StripeCallSourceMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# POST /pay's own chain (paymentsite/wsgi.py): of MIDDLEWARE, in its order (check
# paymentsite.E003), what /pay's guarantees need. Left out: static files (WhiteNoise),
# the CSP and X-Frame-Options (a JSON answer is no page to protect), the signed-in user,
# its second factor and sign-in lockouts (Auth, OTP, Axes), messages: /pay reads none.
PAY_MIDDLEWARE = [
    "paymentsite.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",  # HTTPS redirect, HSTS, nosniff, …
    "django.contrib.sessions.middleware.SessionMiddleware",  # the shopper's orders
    "django.middleware.locale.LocaleMiddleware",  # /pay's messages in the shopper's language
    "django.middleware.common.CommonMiddleware",  # ALLOWED_HOSTS, Content-Length
    "django.middleware.csrf.CsrfViewMiddleware",  # a failure answers JSON (CSRF_FAILURE_VIEW)
    "paymentsite.middleware.StripeCallSourceMiddleware",  # shoppers' share of the budget
]

ROOT_URLCONF = "paymentsite.urls"
WSGI_APPLICATION = "paymentsite.wsgi.application"

TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [BASE_DIR / "templates"],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
        "paymentsite.context_processors.shop",
    ]},
}]

DATABASES = {"default": dj_database_url.parse(
    env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}") or "",
    conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite, the zero-setup default, under several tabs or threads: a deferred transaction
    # that reads and then writes fails at once with "database is locked" when another
    # writer got there first (SQLite cannot wait there without a deadlock). Taking the
    # write lock at BEGIN makes writers queue for up to `timeout` seconds instead; WAL
    # lets readers go on meanwhile, and synchronous=NORMAL is safe with WAL.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        **DATABASES["default"].get("OPTIONS", {}),
    }
# Behind PgBouncer in transaction pooling, a server-side cursor (QuerySet.iterator()
# outside a transaction, e.g. the CSV export) would be lost with its transaction's server
# session. The order lock needs nothing: it holds its own transaction
# (payments/checkout/locks.py).
if env_bool("DATABASE_TRANSACTION_POOLING", False):
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en"
# The shopper's languages. Adding one: README, "Languages and accessibility".
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The merchant's time zone (an IANA name such as "Europe/Berlin"): the admin shows every
# time in it, naming it; days (the dashboard's periods, "Today", "Past 7 days") are its
# days; the CSV writes times with its offset. Stored times are UTC whatever it is.
TIME_ZONE = env("DJANGO_TIME_ZONE", "") or "UTC"
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"DJANGO_TIME_ZONE={TIME_ZONE!r} is not a time zone name "
                               "such as 'Europe/Berlin' or 'UTC'.") from None
USE_I18N = True
USE_TZ = True
# One way to write a time everywhere, Django's own admin pages included, naming the zone.
FORMAT_MODULE_PATH = ["paymentsite.formats"]

# Redis when REDIS_URL is set (shared by every server process, as the /pay rate limit
# needs); otherwise a per-process memory cache for the zero-setup default. Redis is a
# helper, never a dependency: while it does not answer, every page and /pay go on without
# it (README, "When Redis is down"). REDIS_TIMEOUT_SECONDS bounds each of our calls to it.
REDIS_URL = env("REDIS_URL", "") or ""
REDIS_TIMEOUT_SECONDS = env_float("REDIS_TIMEOUT_SECONDS", 1)
# After a call to Redis failed, each process leaves it alone this long (a hung Redis then
# costs one timeout per period, not one per use; a /pay uses it several times).
REDIS_RETRY_AFTER_SECONDS = env_float("REDIS_RETRY_AFTER_SECONDS", 5)


def caches_for(redis_url: str, timeout: float) -> dict:
    """Django's cache: Redis that reads as a miss while it is down (paymentsite/cache.py),
    or this process's memory without Redis."""
    if not redis_url:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return {"default": {"BACKEND": "paymentsite.cache.TolerantRedisCache",
                        "LOCATION": redis_url,
                        "OPTIONS": {"socket_timeout": timeout,
                                    "socket_connect_timeout": timeout}}}


CACHES = caches_for(REDIS_URL, REDIS_TIMEOUT_SECONDS)


def redis_broker_options(timeout: float) -> dict:
    """kombu's Redis transport options. A publish from a request (a receipt, a webhook
    drain, an ops action) must fail fast while the broker is down: what it queues is found
    again by a sweep. One quick reconnection (a pooled connection that died with a
    restart), then give up; a broker that hangs answers within the socket timeout. The
    worker reconnects on its own terms (broker_connection_retry), which these leave alone.
    """
    return {"socket_timeout": max(2.0, timeout),  # above kombu's 1 s BRPOP
            "socket_connect_timeout": timeout,
            "max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

# Sessions (the shopper's cart and orders) live in the database only. cached_db would keep
# a second copy in Redis, and a Redis that comes back from an outage with its data (a
# pause, a partition, a snapshot) would serve the cart as it was before the outage; one
# read by primary key per request costs less than that risk. Django's database store,
# with that read as one plain query (paymentsite/sessions.py).
SESSION_ENGINE = "paymentsite.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Cookies only over HTTPS in production; DJANGO_SECURE_COOKIES=0 for a plain-HTTP benchmark.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)

# HTTPS in production (card pages must never be served over plain HTTP). The redirect
# follows DJANGO_SECURE_COOKIES unless set on its own: a site whose cookies need HTTPS
# sends plain-HTTP visitors there, and the plain-HTTP benchmark turns both off at once.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", SESSION_COOKIE_SECURE)
# HSTS, sent on HTTPS responses only: one year by default with DEBUG off, subdomains
# included and preload allowed (the browsers' list needs a separate submission).
# Start lower (e.g. 60) on a new domain whose subdomains may not all have HTTPS yet.
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)


def proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """``X-Forwarded-Proto: https`` (the header the TLS-terminating proxy sets, and its
    value for HTTPS) as Django's ``SECURE_PROXY_SSL_HEADER``; empty means no proxy."""
    if not value.strip():
        return None
    header, sep, expected = value.partition(":")
    if not sep or not header.strip() or not expected.strip():
        raise ImproperlyConfigured(
            f"DJANGO_SECURE_PROXY_SSL_HEADER={value!r}: write it as 'Header-Name: value', "
            "e.g. 'X-Forwarded-Proto: https'.")
    meta = header.strip().upper().replace("-", "_")
    return (meta if meta.startswith("HTTP_") else f"HTTP_{meta}", expected.strip())


# Only behind a proxy that always sets (and never passes on) this header: otherwise a
# client could claim HTTPS. Without it, SSL redirect behind a TLS proxy loops.
SECURE_PROXY_SSL_HEADER = proxy_ssl_header(env("DJANGO_SECURE_PROXY_SSL_HEADER", "") or "")
CSRF_FAILURE_VIEW = "payments.checkout.views.csrf_failure"

# --- Sign-in: passwords, lockout, second factor, admin sessions --------------------------
# Django checks none of these unless told: "1" or the username would be accepted.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out user at an address before the password is
# even checked, and counts every failure.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend",
                           "django.contrib.auth.backends.ModelBackend"]
# After AXES_FAILURE_LIMIT wrong passwords for one username from one address, that pair is
# locked out for AXES_COOLOFF_TIME hours (or until an admin deletes the row under
# Axes -> Access attempts, or `manage.py axes_reset_username NAME`). A success resets it.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_HOURS", 1)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The same client address the /pay throttle uses (PAYMENTS_CLIENT_ADDRESS_META).
AXES_CLIENT_IP_CALLABLE = "paymentsite.signin.client_address"
AXES_LOCKOUT_CALLABLE = "paymentsite.signin.lockout_response"
# Users who can move money (superusers, the ops permissions) sign in to the admin with a
# one-time code from an authenticator app (paymentsite/signin.py): on by default with
# DEBUG off; `dev.py run` (DEBUG on) leaves it off, so the demo logins work without a phone.
ADMIN_SECOND_FACTOR_REQUIRED = env_bool("DJANGO_ADMIN_SECOND_FACTOR", not DEBUG)
OTP_TOTP_THROTTLE_FACTOR = 1  # each wrong code doubles the wait before the next try
# A staff sign-in lasts a working day, not Django's two weeks (shoppers' sessions, which
# hold their carts and orders, keep the default).
ADMIN_SESSION_SECONDS = env_int("DJANGO_ADMIN_SESSION_SECONDS", 9 * 3600)

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves static files from the app server with DEBUG off too (gunicorn has no
# static handler), straight from the source folders: no collectstatic step is needed. One
# that runs anyway (a deploy script's, a buildpack's) collects into var/static, or into
# DJANGO_STATIC_ROOT for a CDN or a proxy; the source folders still win.
STATIC_ROOT = env("DJANGO_STATIC_ROOT", "") or ""
if not STATIC_ROOT:
    STATIC_ROOT = str(BASE_DIR / "var" / "static")
    # Only a collectstatic fills it; until then WhiteNoise, serving the source folders,
    # would warn at every start that it does not exist.
    warnings.filterwarnings("ignore", message=f"No directory at: {re.escape(STATIC_ROOT)}")
WHITENOISE_USE_FINDERS = True

# --- Stripe ------------------------------------------------------------------------------
# STRIPE_API_BASE points stripe-python at a sandbox; empty means the real Stripe. The local
# sandbox is only a DEBUG default: with DEBUG off a sandbox must be named explicitly, so a
# production site missing the variable talks to Stripe, never to plain-HTTP 127.0.0.1.
STRIPE_REAL_API_BASE = "https://api.stripe.com"
STRIPE_API_BASE = (env("STRIPE_API_BASE", "http://127.0.0.1:12111" if DEBUG else "")
                   or "").strip()
if STRIPE_API_BASE.rstrip("/") == STRIPE_REAL_API_BASE:
    STRIPE_API_BASE = ""  # naming the real API is the same as leaving it empty
STRIPE_SECRET_KEY = secret("STRIPE_SECRET_KEY", "sk_test_sandboxSecretKey000000000000000")
STRIPE_PUBLISHABLE_KEY = secret("STRIPE_PUBLISHABLE_KEY",
                                "pk_test_sandboxPublishableKey0000000000")
STRIPE_LIVE_KEY = STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
# DEBUG first: with it on, the sandbox is STRIPE_API_BASE's default, not the merchant's.
if STRIPE_LIVE_KEY and DEBUG:
    # DEBUG's defaults are a developer's (a public SECRET_KEY, mail to files, no second
    # factor, no HTTPS): a site taking real money with DJANGO_DEBUG left unset must not start.
    raise ImproperlyConfigured(
        "STRIPE_SECRET_KEY is a live key, but DJANGO_DEBUG is on (its default). Refusing to "
        "take real payments on development defaults: set DJANGO_DEBUG=false and the "
        "production values README.md lists under 'Configuration'.")
if STRIPE_LIVE_KEY and STRIPE_API_BASE:
    # A live key moves real money: it must never be sent to anything but Stripe.
    raise ImproperlyConfigured(
        f"STRIPE_SECRET_KEY is a live key, but STRIPE_API_BASE={STRIPE_API_BASE!r} is not "
        f"{STRIPE_REAL_API_BASE}. Refusing to send a live key anywhere else: leave "
        "STRIPE_API_BASE unset (or empty) with a live key, or use a test key (sk_test_) "
        "with a sandbox.")
STRIPE_TIMEOUT_SECONDS = env_float("STRIPE_TIMEOUT_SECONDS", 10)
STRIPE_MAX_NETWORK_RETRIES = env_int("STRIPE_MAX_NETWORK_RETRIES", 2)
# The most Stripe calls one request makes in a row: /pay's create (replayed), confirm and
# the retrieve after a refused confirm (payments/checkout/services.py). For the worker
# timeout.
STRIPE_CALLS_PER_REQUEST = 3

# The account's Stripe budget (payments/stripe/budget.py), shared by every process through
# Redis: Stripe's limits per second for the account (100 live, 25 in a sandbox; 0 turns
# the budget off) and per endpoint, the share of them this site may use (leave room for
# other integrations on the account), what background work must always leave free for
# shoppers and ops, and how long a shopper's call may wait for room before it is refused.
STRIPE_RATE_LIMIT_PER_SECOND = env_int("STRIPE_RATE_LIMIT_PER_SECOND",
                                       100 if STRIPE_LIVE_KEY else 25)
STRIPE_RATE_LIMIT_PER_ENDPOINT = env_int("STRIPE_RATE_LIMIT_PER_ENDPOINT", 25)
STRIPE_BUDGET_SHARE = env_float("STRIPE_BUDGET_SHARE", 0.9)
STRIPE_BUDGET_FOREGROUND_RESERVE = env_int("STRIPE_BUDGET_FOREGROUND_RESERVE",
                                           round(STRIPE_RATE_LIMIT_PER_SECOND * 0.4))
STRIPE_BUDGET_MAX_WAIT_SECONDS = env_float("STRIPE_BUDGET_MAX_WAIT_SECONDS", 1.5)

STRIPE_JS_URL = env("STRIPE_JS_URL", "") or stripe_js_url_for(api_base=STRIPE_API_BASE)
CONTENT_SECURITY_POLICY = content_security_policy_for(stripe_js_url=STRIPE_JS_URL,
                                                      api_base=STRIPE_API_BASE)

# --- Checkout ----------------------------------------------------------------------------
# On: Stripe's two-step flow (manual confirmation, the bank modal). Off: the legacy
# error_on_requires_action flow, where 3-D Secure cards fail with authentication_not_handled.
PAYMENTS_HANDLE_ACTIONS = env_bool("PAYMENTS_HANDLE_ACTIONS", True)
# /pay rate limits against card testing (payments/checkout/throttle.py), "count/period" as in
# django-ratelimit (e.g. "10/m"); empty turns a limit off.
PAYMENTS_PAY_RATE_PER_SESSION = env("PAYMENTS_PAY_RATE_PER_SESSION", "10/m") or ""
PAYMENTS_PAY_RATE_PER_IP = env("PAYMENTS_PAY_RATE_PER_IP", "30/m") or ""
# A recovery link's use (its page's POST; a Stripe read while the payment waits at the
# bank), per link and per address: one link must not spend the account's Stripe budget.
PAYMENTS_RECOVER_RATE_PER_LINK = env("PAYMENTS_RECOVER_RATE_PER_LINK", "10/m") or ""
PAYMENTS_RECOVER_RATE_PER_IP = env("PAYMENTS_RECOVER_RATE_PER_IP", "30/m") or ""
# Where the per-address limit reads the client's address: behind a proxy, the header it
# sets (e.g. HTTP_X_REAL_IP), else every shopper counts as the proxy.
PAYMENTS_CLIENT_ADDRESS_META = env("PAYMENTS_CLIENT_ADDRESS_META", "REMOTE_ADDR") or \
    "REMOTE_ADDR"

# --- Monitoring (payments/monitoring/scans.py, run by Celery beat) -----------------------
# An intent waiting this long in requires_action (the bank's challenge) or
# requires_confirmation (authenticated, never confirmed) is abandoned: an incident opens.
# Stripe fails an unconfirmed manual intent after one hour, so the confirmation threshold
# must leave the auto-finalize time to act. The demo (dev.py run) shortens both.
PAYMENTS_ACTION_ABANDONED_AFTER_SECONDS = env_int("PAYMENTS_ACTION_ABANDONED_AFTER_SECONDS",
                                                  1800)
PAYMENTS_CONFIRMATION_ABANDONED_AFTER_SECONDS = env_int(
    "PAYMENTS_CONFIRMATION_ABANDONED_AFTER_SECONDS", 600)
# A payment left at the bank's challenge this long after it was sent there is lost (its
# incident ends Lost; paid later after all, it ends Recovered). One authenticated and never
# confirmed is lost when Stripe's hour passes.
PAYMENTS_ABANDONED_LOST_AFTER_SECONDS = env_int("PAYMENTS_ABANDONED_LOST_AFTER_SECONDS",
                                                86400)
# Confirm, from the scan, an intent of ours that the shopper authenticated but never
# confirmed (the order becomes paid); off leaves it to ops.
PAYMENTS_AUTO_FINALIZE = env_bool("PAYMENTS_AUTO_FINALIZE", True)
# Stripe calls per second for all background work together (scans, webhook refreshes,
# commands), across every worker: part of the account's budget (above), which also makes
# them yield to shoppers. 0: no cap of their own. PAYMENTS_SCAN_READS_PER_SECOND is the
# older name of the same setting.
PAYMENTS_BACKGROUND_CALLS_PER_SECOND = env_int(
    "PAYMENTS_BACKGROUND_CALLS_PER_SECOND", env_int("PAYMENTS_SCAN_READS_PER_SECOND", 10))

# A scan holds a lease on its kind while it runs, renewed every third of this; a worker
# killed mid-scan leaves it to expire within this many seconds, then the next run goes.
PAYMENTS_SCAN_LEASE_SECONDS = env_int("PAYMENTS_SCAN_LEASE_SECONDS", 60)
if PAYMENTS_SCAN_LEASE_SECONDS < 3:
    raise ImproperlyConfigured("PAYMENTS_SCAN_LEASE_SECONDS must be at least 3 (it is "
                               "renewed every third of it).")

# Retention (payments.monitoring.retention, daily): scan runs older than this many days are
# deleted (each kind's latest finished run is kept however old: /metrics and the stale
# sweep's catch-up read it), and processed webhook events this long after processing
# (never one waiting or failing). Events stay at least 30 days: Stripe lists events that
# long (payments.stripe.facts.EVENTS_LISTED_FOR), and the events scan skips those we
# processed by their stored id.
PAYMENTS_RETAIN_SCAN_RUNS_DAYS = env_int("PAYMENTS_RETAIN_SCAN_RUNS_DAYS", 30)
if PAYMENTS_RETAIN_SCAN_RUNS_DAYS < 1:
    raise ImproperlyConfigured("PAYMENTS_RETAIN_SCAN_RUNS_DAYS must be at least 1.")
PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS = env_int("PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS", 90)
if PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS < 30:
    raise ImproperlyConfigured("PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS must be at least 30 "
                               "(Stripe lists events for 30 days; the events scan skips "
                               "those already processed by their stored id).")

# Prometheus's scrapes of /metrics carry this bearer token; unset, /metrics is off (404).
PAYMENTS_METRICS_TOKEN = env("PAYMENTS_METRICS_TOKEN", "") or ""

# --- The shop, recovery and ops mail ----------------------------------------------------
# The shop's name, on every page and in every mail (and the sender's name by default).
SHOP_NAME = (env("SHOP_NAME", "") or "Sandbox Supply Co.").strip()
OTP_TOTP_ISSUER = SHOP_NAME
# The site's public address, for links in mail (receipts, recovery links): required with
# DEBUG off, or every mailed link would point at the development address.
SITE_URL = secret("SITE_URL", "http://127.0.0.1:8000").strip().rstrip("/")
if urlsplit(SITE_URL).scheme not in ("http", "https") or not urlsplit(SITE_URL).netloc:
    raise ImproperlyConfigured(
        f"SITE_URL={SITE_URL!r} is not an absolute address such as https://shop.example.com: "
        "links in mail are built on it.")
# A webhook delivery's largest body (413 past it): Stripe's events are a few kilobytes;
# Django's own cap (2.5 MB) is far too generous.
PAYMENTS_WEBHOOK_MAX_BYTES = env_int("PAYMENTS_WEBHOOK_MAX_BYTES", 256 * 1024)
# How long a recovery link mailed to a shopper stays valid (until its order is paid).
PAYMENTS_RECOVERY_LINK_SECONDS = env_int("PAYMENTS_RECOVERY_LINK_SECONDS", 172800)
# How long the receipt's link to the order's page works (in any browser).
PAYMENTS_ORDER_LINK_SECONDS = env_int("PAYMENTS_ORDER_LINK_SECONDS", 90 * 86400)
# Who gets the daily digest of new incidents and the failed-authentication alert
# (comma-separated addresses; empty sends neither).
PAYMENTS_OPS_EMAILS = [a.strip() for a in (env("PAYMENTS_OPS_EMAILS", "") or "").split(",")
                       if a.strip()]
# Alert when, over the last 24 hours, failures ÷ payments that asked for authentication
# exceed this share (with at least PAYMENTS_ALERT_MIN_PAYMENTS such payments).
PAYMENTS_ALERT_FAILED_AUTH_RATE = env_float("PAYMENTS_ALERT_FAILED_AUTH_RATE", 0.25)
PAYMENTS_ALERT_MIN_PAYMENTS = env_int("PAYMENTS_ALERT_MIN_PAYMENTS", 20)

# dj-stripe: it mirrors Stripe objects and verifies webhook signatures.
STRIPE_LIVE_MODE = STRIPE_LIVE_KEY
if STRIPE_LIVE_KEY:
    STRIPE_LIVE_SECRET_KEY = STRIPE_SECRET_KEY
else:
    STRIPE_TEST_SECRET_KEY = STRIPE_SECRET_KEY
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
if STRIPE_API_BASE:
    STRIPE_API_HOST = STRIPE_API_BASE  # dj-stripe points stripe-python's module API here
    if os.environ.get("STRIPE_API_BASE"):
        # dj-stripe warns about STRIPE_API_HOST with DEBUG off. A sandbox named explicitly
        # (benchmarks run production mode against one) is exactly what it is for; with DEBUG
        # off nothing else sets it, and a live key never gets here.
        SILENCED_SYSTEM_CHECKS = ["djstripe.W002"]

# --- Celery ------------------------------------------------------------------------------
# Redis when REDIS_URL is set (several hosts, production); otherwise kombu's filesystem
# transport in var/celery/: no setup, file locks, one host (the worker and beat share it).
# It has no visibility timeout: a message a killed worker held is lost, where Redis
# delivers it again; the scans catch up either way. Both transports are kombu's, mended
# where they stopped our worker (paymentsite/celery_broker.py, registered by celery.py).
# ("localhost" names no server: it only keeps kombu from warning that no host was given.)
CELERY_BROKER_URL = REDIS_URL or "filesystem://localhost//"
if not REDIS_URL:
    celery_folder = Path(env("CELERY_BROKER_FOLDER", "") or BASE_DIR / "var" / "celery")
    celery_folder = celery_folder.resolve()  # kombu wants absolute paths
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One app both sends and reads: messages go in and out of the same folder.
        "data_folder_in": str(celery_folder / "queue"),
        "data_folder_out": str(celery_folder / "queue"),
        "control_folder": str(celery_folder / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = redis_broker_options(REDIS_TIMEOUT_SECONDS)
# Tasks record what they did in the database; nobody waits on a result.
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# A message is acknowledged after its task ran, and a worker takes one at a time: a worker
# lost mid-task leaves the message to another (the tasks are idempotent), and a long scan
# does not hold back messages another worker could run.
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# No task may run for ever: soft limit (the task can clean up), then the process is killed.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SERIALIZER = CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Keep our JSON log lines in the worker and beat too (Celery would replace the handlers).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# And leave stdout/stderr as they are: Celery would log each write to them as a record,
# so a traceback printed by a beat that cannot reach the database became 1,600 JSON lines.
CELERY_WORKER_REDIRECT_STDOUTS = False
# Beat's schedules live in the database (django-celery-beat, editable in the admin). Run
# exactly one beat: this scheduler holds no lock.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Web server --------------------------------------------------------------------------
# gunicorn.conf.py reads the same variable with the same default: longer than the worst
# Stripe budget of one request, so no worker is killed mid-payment (paymentsite/checks.py
# refuses a shorter one).
WEB_WORKER_TIMEOUT_SECONDS = env_int("WEB_WORKER_TIMEOUT_SECONDS", web_worker_timeout_default(
    stripe_timeout_seconds=STRIPE_TIMEOUT_SECONDS,
    stripe_max_network_retries=STRIPE_MAX_NETWORK_RETRIES,
    stripe_calls_per_request=STRIPE_CALLS_PER_REQUEST))

# --- Email -------------------------------------------------------------------------------
# Development writes each message to a file in var/mail/ (nothing leaves the machine);
# production sends through SMTP. EMAIL_BACKEND overrides either.
EMAIL_BACKEND = env("EMAIL_BACKEND", "") or (
    "django.core.mail.backends.filebased.EmailBackend" if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", "") or str(BASE_DIR / "var" / "mail")
EMAIL_HOST = env("EMAIL_HOST", "") or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 25 if DEBUG else 587)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "") or ""
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", not DEBUG)  # STARTTLS on 587, the usual relay
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)  # implicit TLS, port 465
if EMAIL_USE_SSL and "EMAIL_USE_TLS" not in os.environ:
    EMAIL_USE_TLS = False  # Django refuses both at once
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)  # a hung SMTP server must not hold a worker
# Receipts must not come from webmaster@localhost: required with DEBUG off (in
# development, the shop's name at shop@localhost).
DEFAULT_FROM_EMAIL = secret("DEFAULT_FROM_EMAIL", formataddr((SHOP_NAME, "shop@localhost")))
SERVER_EMAIL = env("SERVER_EMAIL", "") or DEFAULT_FROM_EMAIL

# --- Logging -----------------------------------------------------------------------------
# One JSON object per line on stderr, for every process (site, worker, beat): time, level,
# logger, message, request_id and the traceback as one escaped field. Django's default
# sends 500 tracebacks nowhere with DEBUG off (mail_admins only); here they reach stderr.
# Card numbers, client secrets, session keys and Stripe keys are scrubbed on the way out.
LOG_LEVEL = (env("DJANGO_LOG_LEVEL", "") or "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "paymentsite.logging.RequestIdFilter"},
        "redact": {"()": "paymentsite.logging.RedactingFilter"},
        "client_mistake": {"()": "paymentsite.logging.ClientMistake"},
    },
    "formatters": {"json": {"()": "paymentsite.logging.JsonFormatter"}},
    "handlers": {"stderr": {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "filters": ["request_id", "redact"],
        "formatter": "json",
    }},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        # Replaces Django's own handlers (console with DEBUG, mail_admins without): its
        # records, django.request's 500s among them, go to the root handler above.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # runserver's request lines, which Django would print as they are (recovery
        # tokens in the path): through the redacting JSON handler instead.
        "django.server": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # stripe-python logs two INFO lines per request: noise at the default level
        # (a backfill makes thousands); its warnings and errors still come through.
        "stripe": {"level": "WARNING"},
        # A request for a Host not in ALLOWED_HOSTS (Django answers 400): a warning each,
        # without the traceback Django attaches.
        "django.security.DisallowedHost": {"filters": ["client_mistake"]},
        # A task received and a task succeeded: an INFO line each, every 5 s for the
        # receipts drain alone (55,000 lines a day from an idle worker). Failures still
        # come through; what a task did is in its tables (scan runs, ops actions).
        "celery.app.trace": {"level": "DEBUG" if LOG_LEVEL == "DEBUG" else "WARNING"},
        "celery.worker.strategy": {"level": "DEBUG" if LOG_LEVEL == "DEBUG" else "WARNING"},
    },
}

# --- Start-up refusals that need the whole configuration ----------------------------------
if _UNSET:
    raise ImproperlyConfigured(
        f"{', '.join(_UNSET)} {'is' if len(_UNSET) == 1 else 'are'} not set. With "
        "DJANGO_DEBUG off there is no default: secrets and production values must come from "
        "the environment (see README.md, 'Configuration').")
# The host as Django reads a request's Host header ("[::1]" keeps its brackets, a
# trailing dot goes), so the check below and Django's agree.
_SITE_HOST = split_domain_port(urlsplit(SITE_URL).netloc.rpartition("@")[2])[0]
if not DEBUG and not validate_host(_SITE_HOST, ALLOWED_HOSTS):
    # Django would answer every request to the shop's own address 400 (DisallowedHost),
    # and check --deploy says nothing of it.
    raise ImproperlyConfigured(
        f"SITE_URL's host {_SITE_HOST!r} is not in DJANGO_ALLOWED_HOSTS "
        f"({','.join(ALLOWED_HOSTS) or 'empty'}): every request to it would be refused "
        f"(400). Set DJANGO_ALLOWED_HOSTS={_SITE_HOST} (comma-separated, with any other "
        "name the site answers to).")
