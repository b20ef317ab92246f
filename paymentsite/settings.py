"""Django settings, read from environment variables (12-factor, as cookiecutter-django does).

Every setting has an embedded default that runs the site offline against the
Stripe sandbox on SQLite. With ``DJANGO_DEBUG`` off, secrets without a value
stop start-up with a clear message instead of falling back to a default.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from paymentsite.content_security import content_security_policy_for, stripe_js_url_for

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


DEBUG = env_bool("DJANGO_DEBUG", True)


def secret(name: str, dev_default: str) -> str:
    """A secret: its development default only while DEBUG is on."""
    value = os.environ.get(name)
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set. With DJANGO_DEBUG off every secret must come from the "
        f"environment; set {name} (see README.md, 'Configuration').")


SECRET_KEY = secret("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
ALLOWED_HOSTS = [h for h in (env("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost") or "").split(",")
                 if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "djstripe",
    "payments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
    ]},
}]

DATABASES = {"default": dj_database_url.parse(
    env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}") or "",
    conn_max_age=60)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Redis when REDIS_URL is set (shared by every server process, as the /pay rate limit
# needs); otherwise a per-process memory cache for the zero-setup default.
REDIS_URL = env("REDIS_URL", "") or ""
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                      "LOCATION": REDIS_URL} if REDIS_URL else
          {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Sessions read from Redis when there is one (written through to the database).
SESSION_ENGINE = "django.contrib.sessions.backends." + ("cached_db" if REDIS_URL else "db")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Cookies only over HTTPS in production; DJANGO_SECURE_COOKIES=0 for a plain-HTTP benchmark.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_FAILURE_VIEW = "payments.views.csrf_failure"  # JSON for /pay, Django's page elsewhere

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves static files from the app server with DEBUG off too (gunicorn has no
# static handler), straight from the source folders: no collectstatic step is needed.
# Set DJANGO_STATIC_ROOT only to collect them for a CDN or a proxy.
STATIC_ROOT = env("DJANGO_STATIC_ROOT")
WHITENOISE_USE_FINDERS = True

# --- Stripe ------------------------------------------------------------------------------
# STRIPE_API_BASE points stripe-python at the sandbox; empty means the real Stripe.
STRIPE_API_BASE = env("STRIPE_API_BASE", "http://127.0.0.1:12111") or ""
STRIPE_SECRET_KEY = secret("STRIPE_SECRET_KEY", "sk_test_sandboxSecretKey000000000000000")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", "pk_test_sandboxPublishableKey0000000000")
STRIPE_TIMEOUT_SECONDS = float(env("STRIPE_TIMEOUT_SECONDS", "10") or 10)
STRIPE_MAX_NETWORK_RETRIES = int(env("STRIPE_MAX_NETWORK_RETRIES", "2") or 2)

STRIPE_JS_URL = env("STRIPE_JS_URL", "") or stripe_js_url_for(api_base=STRIPE_API_BASE)
CONTENT_SECURITY_POLICY = content_security_policy_for(stripe_js_url=STRIPE_JS_URL,
                                                      api_base=STRIPE_API_BASE)

# --- Checkout ----------------------------------------------------------------------------
# On: Stripe's two-step flow (manual confirmation, the bank modal). Off: the legacy
# error_on_requires_action flow, where 3-D Secure cards fail with authentication_not_handled.
PAYMENTS_HANDLE_ACTIONS = env_bool("PAYMENTS_HANDLE_ACTIONS", True)
# /pay rate limits against card testing, in django-ratelimit's "count/period" form
# (e.g. "10/m"); empty turns a limit off.
PAYMENTS_PAY_RATE_PER_SESSION = env("PAYMENTS_PAY_RATE_PER_SESSION", "10/m") or ""
PAYMENTS_PAY_RATE_PER_IP = env("PAYMENTS_PAY_RATE_PER_IP", "30/m") or ""

# dj-stripe: it mirrors Stripe objects and verifies webhook signatures.
STRIPE_LIVE_MODE = False
STRIPE_TEST_SECRET_KEY = STRIPE_SECRET_KEY
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
if STRIPE_API_BASE:
    STRIPE_API_HOST = STRIPE_API_BASE  # dj-stripe points stripe-python's module API here
    # dj-stripe warns about STRIPE_API_HOST with DEBUG off; pointing at the sandbox is
    # exactly what it is for here (benchmarks run production mode against it).
    SILENCED_SYSTEM_CHECKS = ["djstripe.W002"]
