"""POST /pay's own chain (PAY_MIDDLEWARE) stays a part of the site's MIDDLEWARE, in its
order: `manage.py check` refuses one that does not."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from paymentsite.checks import check_pay_middleware

SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
CSRF = "django.middleware.csrf.CsrfViewMiddleware"


def test_the_sites_pay_chain_passes(settings):
    assert settings.PAY_MIDDLEWARE and check_pay_middleware() == []
    call_command("check", tags=["paymentsite"])  # registered; SystemCheckError on an error


def test_a_pay_chain_in_another_order_is_an_error(settings):
    settings.MIDDLEWARE = [SESSION, CSRF]
    settings.PAY_MIDDLEWARE = [CSRF, SESSION]
    [error] = check_pay_middleware()
    assert error.id == "paymentsite.E003" and error.is_serious()
    with pytest.raises(SystemCheckError, match="paymentsite.E003"):
        call_command("check", tags=["paymentsite"])


def test_a_middleware_only_pay_has_is_an_error(settings):
    settings.MIDDLEWARE = [SESSION]
    settings.PAY_MIDDLEWARE = [SESSION, CSRF]
    [error] = check_pay_middleware()
    assert error.id == "paymentsite.E003"


def test_a_pay_chain_of_some_of_the_site_in_its_order_passes(settings):
    settings.MIDDLEWARE = [SESSION, "django.middleware.common.CommonMiddleware", CSRF]
    settings.PAY_MIDDLEWARE = [SESSION, CSRF]
    assert check_pay_middleware() == []
