"""A /pay rate limit that would not parse is refused by `manage.py check`, not met by the
first shopper."""

from __future__ import annotations

from paymentsite.checks import check_pay_rates


def test_good_and_empty_rates_pass(settings):
    settings.PAYMENTS_PAY_RATE_PER_SESSION, settings.PAYMENTS_PAY_RATE_PER_IP = "10/m", "100/5m"
    assert check_pay_rates() == []
    settings.PAYMENTS_PAY_RATE_PER_SESSION = settings.PAYMENTS_PAY_RATE_PER_IP = ""
    assert check_pay_rates() == []


def test_a_malformed_rate_is_an_error_naming_the_setting(settings):
    settings.PAYMENTS_PAY_RATE_PER_SESSION, settings.PAYMENTS_PAY_RATE_PER_IP = "10/m", "30/minute"
    [error] = check_pay_rates()
    assert error.id == "paymentsite.E002" and error.is_serious()
    assert "PAYMENTS_PAY_RATE_PER_IP='30/minute'" in error.msg


def test_a_recovery_links_malformed_rate_is_an_error_too(settings):
    settings.PAYMENTS_RECOVER_RATE_PER_LINK, settings.PAYMENTS_RECOVER_RATE_PER_IP = "ten", "5/m"
    [error] = check_pay_rates()
    assert error.id == "paymentsite.E002"
    assert "PAYMENTS_RECOVER_RATE_PER_LINK='ten'" in error.msg
