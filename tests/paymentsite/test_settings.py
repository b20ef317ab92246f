"""Settings from the environment: embedded sandbox defaults, real Stripe when asked,
and no start-up in production without secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT = ("import django, json; from django.conf import settings; django.setup(); "
         "print(json.dumps([settings.STRIPE_API_BASE, settings.STRIPE_JS_URL, "
         "settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['script-src']]))")


def settings_in(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DJANGO_"))}
    return subprocess.run([sys.executable, "-c", PRINT], cwd=ROOT, capture_output=True,
                          text=True, env={**clean, "DJANGO_SETTINGS_MODULE": "paymentsite.settings",
                                          **env})


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


def test_production_without_secrets_stops_with_a_clear_message():
    out = settings_in({"DJANGO_DEBUG": "0"})
    assert out.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in out.stderr
    out = settings_in({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "x" * 50})
    assert "STRIPE_SECRET_KEY is not set" in out.stderr
