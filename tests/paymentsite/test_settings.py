"""Settings from the environment: embedded sandbox defaults with DEBUG on, real Stripe and
no start-up without secrets in production, HTTPS, email, SQLite tuned for concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT = ("import django, json; from django.conf import settings; django.setup(); "
         "print(json.dumps([settings.STRIPE_API_BASE, settings.STRIPE_JS_URL, "
         "settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['script-src']]))")
# Variables these tests set themselves: the caller's must not leak in.
OURS = ("STRIPE_", "DJANGO_", "EMAIL_", "DEFAULT_FROM_EMAIL", "SERVER_EMAIL", "WEB_", "PAYMENTS_",
        "GUNICORN_", "PORT", "CELERY_", "SITE_URL", "SHOP_NAME")
SECRET_KEY = "ci-" + "k3y-" * 15
PRODUCTION = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": SECRET_KEY,
              "DJANGO_ALLOWED_HOSTS": "shop.example.com",
              "STRIPE_SECRET_KEY": "sk_test_" + "a" * 24,
              "STRIPE_PUBLISHABLE_KEY": "pk_test_" + "a" * 24,
              "DEFAULT_FROM_EMAIL": "Shop <shop@example.com>",
              "SITE_URL": "https://shop.example.com"}


def clean_env(env: dict[str, str]) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    return {**clean, "DJANGO_SETTINGS_MODULE": "paymentsite.settings", **env}


def settings_in(env: dict[str, str], code: str = PRINT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env=clean_env(env))


def values(env: dict[str, str], *names: str) -> dict:
    """The named settings (None when a setting is absent), loaded in a fresh process."""
    code = ("import json; from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}))")
    out = settings_in(env, code)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def refused(env: dict[str, str]) -> str:
    out = settings_in(env)
    assert out.returncode != 0, out.stdout
    assert "ImproperlyConfigured" in out.stderr
    return out.stderr.strip().splitlines()[-1]


def test_defaults_point_at_the_sandbox():
    out = settings_in({})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ('["http://127.0.0.1:12111", "http://127.0.0.1:12111/v3/", '
                                  '["\'self\'", "http://127.0.0.1:12111"]]')


def test_real_keys_without_a_sandbox_use_stripe():
    out = settings_in({"STRIPE_API_BASE": "", "STRIPE_SECRET_KEY": "sk_test_" + "a" * 24,
                       "STRIPE_PUBLISHABLE_KEY": "pk_test_" + "a" * 24})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ('["", "https://js.stripe.com/v3/", '
                                  '["\'self\'", "https://js.stripe.com"]]')


def test_production_without_secrets_stops_naming_every_one_at_once():
    """Named one per start, a deploy took five starts to learn them."""
    assert refused({"DJANGO_DEBUG": "0"}) == (
        "django.core.exceptions.ImproperlyConfigured: DJANGO_SECRET_KEY, STRIPE_SECRET_KEY, "
        "STRIPE_PUBLISHABLE_KEY, SITE_URL, DEFAULT_FROM_EMAIL are not set. With DJANGO_DEBUG "
        "off there is no default: secrets and production values must come from the "
        "environment (see README.md, 'Configuration').")
    assert refused({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "x" * 50}).startswith(
        "django.core.exceptions.ImproperlyConfigured: STRIPE_SECRET_KEY, ")


@pytest.mark.parametrize("hosts", ["", "127.0.0.1,localhost", "example.com"])
def test_production_refuses_to_start_when_its_own_address_would_be_refused(hosts):
    """DJANGO_ALLOWED_HOSTS left at its default passed check --deploy, and every
    shopper's request to the shop got a 400."""
    env = {**PRODUCTION, "DJANGO_ALLOWED_HOSTS": hosts} if hosts else \
        {k: v for k, v in PRODUCTION.items() if k != "DJANGO_ALLOWED_HOSTS"}
    assert "SITE_URL's host 'shop.example.com' is not in DJANGO_ALLOWED_HOSTS" in refused(env)
    assert "Set DJANGO_ALLOWED_HOSTS=shop.example.com" in refused(env)


@pytest.mark.parametrize(("site", "hosts"), [
    ("https://shop.example.com", "shop.example.com"),
    ("https://shop.example.com", ".example.com"),
    ("https://shop.example.com", "www.example.com,shop.example.com"),
    ("https://shop.example.com:8443", "shop.example.com"),
    ("https://shop.example.com.", "shop.example.com"),  # Django drops the trailing dot
    ("http://[::1]:8000", "[::1]"),  # as Django reads the Host header: brackets kept
])
def test_production_starts_when_its_address_is_allowed(site, hosts):
    got = values({**PRODUCTION, "SITE_URL": site, "DJANGO_ALLOWED_HOSTS": hosts},
                 "ALLOWED_HOSTS")
    assert got == {"ALLOWED_HOSTS": hosts.split(",")}


def test_an_ipv6_site_is_told_the_hosts_entry_django_will_match():
    refusal = refused({**PRODUCTION, "SITE_URL": "http://[::1]:8000",
                       "DJANGO_ALLOWED_HOSTS": "::1"})
    assert "Set DJANGO_ALLOWED_HOSTS=[::1]" in refusal


@pytest.mark.parametrize("missing", ["STRIPE_PUBLISHABLE_KEY", "DEFAULT_FROM_EMAIL",
                                     "SITE_URL"])
def test_production_needs_the_publishable_key_a_sender_and_its_address(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    assert f"{missing} is not set" in refused(env)


@pytest.mark.parametrize("address", ["shop.example.com", "ftp://shop.example.com", "https://"])
def test_a_site_url_that_is_no_absolute_address_is_refused(address):
    assert "is not an absolute address" in refused({**PRODUCTION, "SITE_URL": address})


def test_the_site_url_is_kept_without_its_trailing_slash():
    got = values({**PRODUCTION, "SITE_URL": " https://shop.example.com/ "}, "SITE_URL")
    assert got == {"SITE_URL": "https://shop.example.com"}


def test_production_without_a_sandbox_named_talks_to_stripe_not_127_0_0_1():
    got = values(PRODUCTION, "STRIPE_API_BASE", "STRIPE_JS_URL", "STRIPE_API_HOST",
                 "SILENCED_SYSTEM_CHECKS", "STRIPE_LIVE_MODE")
    assert got == {"STRIPE_API_BASE": "", "STRIPE_JS_URL": "https://js.stripe.com/v3/",
                   "STRIPE_API_HOST": None, "SILENCED_SYSTEM_CHECKS": [],
                   "STRIPE_LIVE_MODE": False}


def test_production_uses_a_sandbox_only_when_named():
    got = values({**PRODUCTION, "STRIPE_API_BASE": "http://127.0.0.1:12111"},
                 "STRIPE_API_BASE", "STRIPE_API_HOST", "SILENCED_SYSTEM_CHECKS")
    # dj-stripe's "STRIPE_API_HOST in production" warning is expected for a named sandbox.
    assert got == {"STRIPE_API_BASE": "http://127.0.0.1:12111",
                   "STRIPE_API_HOST": "http://127.0.0.1:12111",
                   "SILENCED_SYSTEM_CHECKS": ["djstripe.W002"]}


@pytest.mark.parametrize("key", ["sk_live_" + "b" * 24, "rk_live_" + "b" * 24])
@pytest.mark.parametrize("base", ["http://127.0.0.1:12111", "https://stripe.example.net"])
def test_a_live_key_is_never_sent_to_anything_but_stripe(key, base):
    message = refused({**PRODUCTION, "STRIPE_SECRET_KEY": key, "STRIPE_API_BASE": base})
    assert "STRIPE_SECRET_KEY is a live key" in message and base in message
    assert key not in message  # the refusal itself does not leak the key


def test_a_live_key_with_debug_on_does_not_fall_back_to_the_sandbox():
    """The message names what the merchant left unset (DJANGO_DEBUG), not the sandbox
    address DEBUG's defaults point at, which the merchant never set."""
    message = refused({"STRIPE_SECRET_KEY": "sk_live_" + "b" * 24})
    assert "STRIPE_SECRET_KEY is a live key, but DJANGO_DEBUG is on" in message


def test_a_live_key_with_debug_left_on_is_refused_even_pointed_at_stripe():
    """DJANGO_DEBUG unset means development defaults (a public SECRET_KEY, mail to files,
    no second factor): never with real money."""
    message = refused({"STRIPE_SECRET_KEY": "sk_live_" + "b" * 24, "STRIPE_API_BASE": "",
                       "STRIPE_PUBLISHABLE_KEY": "pk_live_" + "b" * 24})
    assert "STRIPE_SECRET_KEY is a live key, but DJANGO_DEBUG is on" in message


@pytest.mark.parametrize("base", ["", "https://api.stripe.com", "https://api.stripe.com/"])
def test_a_live_key_goes_to_stripe(base):
    got = values({**PRODUCTION, "STRIPE_SECRET_KEY": "sk_live_" + "b" * 24,
                  "STRIPE_PUBLISHABLE_KEY": "pk_live_" + "b" * 24, "STRIPE_API_BASE": base},
                 "STRIPE_API_BASE", "STRIPE_LIVE_MODE", "STRIPE_API_HOST")
    assert got == {"STRIPE_API_BASE": "", "STRIPE_LIVE_MODE": True, "STRIPE_API_HOST": None}


def test_old_secret_keys_are_read_for_a_rotation():
    rotated = {**PRODUCTION, "DJANGO_SECRET_KEY_FALLBACKS": " old-key-1 , old-key-2,"}
    assert values(rotated, "SECRET_KEY_FALLBACKS") == {
        "SECRET_KEY_FALLBACKS": ["old-key-1", "old-key-2"]}
    assert values(PRODUCTION, "SECRET_KEY_FALLBACKS") == {"SECRET_KEY_FALLBACKS": []}


def test_production_is_https_only_by_default():
    got = values(PRODUCTION, "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
                 "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
                 "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE")
    assert got == {"SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": 31536000,
                   "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": True,
                   "SECURE_PROXY_SSL_HEADER": None, "SESSION_COOKIE_SECURE": True}
    got = values({}, "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS")
    assert got == {"SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0}


def test_https_settings_from_the_environment():
    got = values({**PRODUCTION, "DJANGO_SECURE_HSTS_SECONDS": "60",
                  "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"},
                 "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER")
    assert got == {"SECURE_HSTS_SECONDS": 60,
                   "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"]}
    # The plain-HTTP benchmark's switch turns the redirect off with the secure cookies.
    got = values({**PRODUCTION, "DJANGO_SECURE_COOKIES": "0"}, "SECURE_SSL_REDIRECT")
    assert got == {"SECURE_SSL_REDIRECT": False}
    assert "DJANGO_SECURE_PROXY_SSL_HEADER" in refused(
        {**PRODUCTION, "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"})
    assert "DJANGO_SECURE_HSTS_SECONDS" in refused(
        {**PRODUCTION, "DJANGO_SECURE_HSTS_SECONDS": "a year"})


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    """``check --deploy`` as a production site has it: its own database, Redis and mail
    server named (their absence is a warning of its own: tests/paymentsite/test_checks.py)."""
    services = {"DATABASE_URL": "postgres://shop@db.example.com/shop",
                "REDIS_URL": "redis://cache.example.com:6379/0", "EMAIL_HOST": "smtp.example.com",
                "SHOP_NAME": "Example Shop"}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level",
                           "WARNING"], cwd=ROOT, capture_output=True, text=True,
                          env=clean_env({**services, **env}))


def test_deploy_check_passes_with_production_settings():
    out = deploy_check(PRODUCTION)
    assert out.returncode == 0, out.stderr
    assert "no issues" in out.stdout


def test_deploy_check_warns_only_about_what_is_turned_off():
    out = deploy_check({**PRODUCTION, "DJANGO_SECURE_HSTS_SECONDS": "0",
                        "DJANGO_SECURE_SSL_REDIRECT": "false"})
    assert out.returncode != 0
    assert "security.W004" in out.stderr and "security.W008" in out.stderr, out.stderr
    assert "security.W012" not in out.stderr and "djstripe.W002" not in out.stderr


def test_email_goes_to_files_in_development_and_smtp_in_production():
    names = ("EMAIL_BACKEND", "EMAIL_FILE_PATH", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_USE_TLS",
             "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "DEFAULT_FROM_EMAIL")
    got = values({}, *names)
    assert got["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
    assert got["EMAIL_FILE_PATH"] == str(ROOT / "var" / "mail")
    got = values({**PRODUCTION, "EMAIL_HOST": "smtp.example.com", "EMAIL_HOST_USER": "shop",
                  "EMAIL_HOST_PASSWORD": "pw"}, *names)
    assert got == {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                   "EMAIL_FILE_PATH": str(ROOT / "var" / "mail"),
                   "EMAIL_HOST": "smtp.example.com", "EMAIL_PORT": 587, "EMAIL_USE_TLS": True,
                   "EMAIL_HOST_USER": "shop", "EMAIL_HOST_PASSWORD": "pw",
                   "DEFAULT_FROM_EMAIL": "Shop <shop@example.com>"}
    got = values({**PRODUCTION, "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
                  "EMAIL_PORT": "465", "EMAIL_USE_SSL": "true"},
                 "EMAIL_BACKEND", "EMAIL_PORT", "EMAIL_USE_TLS", "EMAIL_USE_SSL")
    assert got == {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
                   "EMAIL_PORT": 465, "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": True}


def test_sqlite_waits_for_the_write_lock_and_postgresql_is_untouched(tmp_path):
    got = values({"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}, "DATABASES")
    assert got["DATABASES"]["default"]["OPTIONS"] == {
        "transaction_mode": "IMMEDIATE", "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"}
    got = values({"DATABASE_URL": "postgres://u@127.0.0.1:5432/x"}, "DATABASES")
    assert "transaction_mode" not in got["DATABASES"]["default"].get("OPTIONS", {})


def test_mail_comes_from_the_shops_name_by_default():
    """Not "Paymentsite": the name the pages show (SHOP_NAME)."""
    assert values({"SHOP_NAME": "Acme Cups"}, "DEFAULT_FROM_EMAIL", "SHOP_NAME") == {
        "DEFAULT_FROM_EMAIL": "Acme Cups <shop@localhost>", "SHOP_NAME": "Acme Cups"}
    assert values({}, "DEFAULT_FROM_EMAIL")["DEFAULT_FROM_EMAIL"] == \
        '"Sandbox Supply Co." <shop@localhost>'


def test_production_asks_money_movers_for_a_second_factor_and_development_does_not():
    assert values(PRODUCTION, "ADMIN_SECOND_FACTOR_REQUIRED") == {
        "ADMIN_SECOND_FACTOR_REQUIRED": True}
    assert values({}, "ADMIN_SECOND_FACTOR_REQUIRED") == {"ADMIN_SECOND_FACTOR_REQUIRED": False}


@pytest.mark.parametrize("name,value,kind", [
    ("STRIPE_TIMEOUT_SECONDS", "ten", "a number"),
    ("PAYMENTS_ALERT_FAILED_AUTH_RATE", "25%", "a number"),
    ("STRIPE_RATE_LIMIT_PER_SECOND", "100/s", "a whole number"),
    ("PAYMENTS_ACTION_ABANDONED_AFTER_SECONDS", "30m", "a whole number"),
    ("PAYMENTS_WEBHOOK_MAX_BYTES", "256k", "a whole number")])
def test_a_number_that_is_not_one_is_refused_by_name(name, value, kind):
    """Before, most numbers were read with int()/float(): a raw ValueError naming nothing."""
    assert refused({name: value}) == \
        f"django.core.exceptions.ImproperlyConfigured: {name}={value!r} is not {kind}."


def test_numbers_from_the_environment_are_read():
    assert values({"PAYMENTS_WEBHOOK_MAX_BYTES": "1024", "STRIPE_TIMEOUT_SECONDS": "2.5",
                   "PAYMENTS_SCAN_READS_PER_SECOND": "4"},
                  "PAYMENTS_WEBHOOK_MAX_BYTES", "STRIPE_TIMEOUT_SECONDS",
                  "PAYMENTS_BACKGROUND_CALLS_PER_SECOND") == {
        "PAYMENTS_WEBHOOK_MAX_BYTES": 1024, "STRIPE_TIMEOUT_SECONDS": 2.5,
        "PAYMENTS_BACKGROUND_CALLS_PER_SECOND": 4}  # the older name still works


def test_collectstatic_works_without_a_static_root_named():
    """A deploy script or a buildpack runs collectstatic whether or not it is needed; it
    failed ("without having set the STATIC_ROOT setting") unless DJANGO_STATIC_ROOT was set."""
    out = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput",
                          "--dry-run"], cwd=ROOT, capture_output=True, text=True,
                         env=clean_env(PRODUCTION))
    assert out.returncode == 0, out.stderr
    assert "static files copied" in out.stdout
    assert values(PRODUCTION, "STATIC_ROOT")["STATIC_ROOT"] == str(ROOT / "var" / "static")


def test_retention_days_are_read_and_checked():
    assert values({"PAYMENTS_RETAIN_SCAN_RUNS_DAYS": "7",
                   "PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS": "30"},
                  "PAYMENTS_RETAIN_SCAN_RUNS_DAYS", "PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS") == {
        "PAYMENTS_RETAIN_SCAN_RUNS_DAYS": 7, "PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS": 30}
    assert "PAYMENTS_RETAIN_SCAN_RUNS_DAYS must be at least 1" in refused(
        {"PAYMENTS_RETAIN_SCAN_RUNS_DAYS": "0"})
    # Under Stripe's 30 days an event could come again and be taken for new.
    assert "PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS must be at least 30" in refused(
        {"PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS": "29"})
    assert refused({"PAYMENTS_RETAIN_SCAN_RUNS_DAYS": "30d"}).endswith(
        "PAYMENTS_RETAIN_SCAN_RUNS_DAYS='30d' is not a whole number.")
