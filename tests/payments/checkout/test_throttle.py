"""payments/checkout/throttle.py: rates, address blocks, and counting in Redis or Django's cache."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from payments.checkout import throttle
from payments.checkout.throttle import Limit, address_block, limits_hit, rate_parse
from tests.conftest import need
from tests.waiting import same_window


@pytest.mark.parametrize(("rate", "expected"), [
    ("10/m", (10, 60)), ("3/s", (3, 1)), ("100/5m", (100, 300)), ("1/d", (1, 86400))])
def test_rates_read_as_django_ratelimit_writes_them(rate, expected):
    assert rate_parse(rate=rate) == expected


@pytest.mark.parametrize("rate", ["10", "10/x", "m/10", "-1/m", "10/m "])
def test_a_malformed_rate_is_refused(rate):
    with pytest.raises(ValueError, match="is not a rate"):
        rate_parse(rate=rate)


def test_an_ipv6_address_counts_as_its_64_block_and_ipv4_as_itself(settings):
    settings.PAYMENTS_CLIENT_ADDRESS_META = "REMOTE_ADDR"
    factory = RequestFactory()
    assert address_block(request=factory.get("/", REMOTE_ADDR="2001:db8:1:2:3:4:5:6")) == \
        "2001:db8:1:2::"
    assert address_block(request=factory.get("/", REMOTE_ADDR="192.0.2.7")) == "192.0.2.7"


def test_behind_a_proxy_the_named_header_is_the_address(settings):
    settings.PAYMENTS_CLIENT_ADDRESS_META = "HTTP_X_REAL_IP"
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_REAL_IP="192.0.2.9")
    assert address_block(request=request) == "192.0.2.9"


def test_a_proxy_not_named_is_said_in_the_log_once_per_process(settings, caplog,
                                                                 monkeypatch):
    """gunicorn trusts a local proxy for the scheme without DJANGO_SECURE_PROXY_SSL_HEADER,
    so check --deploy's W005 stayed silent while every shopper counted as the proxy.
    Once per process: any client can send X-Forwarded-For (review: once per address was
    a line per address)."""
    settings.PAYMENTS_CLIENT_ADDRESS_META = "REMOTE_ADDR"
    monkeypatch.setattr(throttle, "_proxy_warned", False)
    factory = RequestFactory()
    with caplog.at_level("WARNING", logger="payments.checkout.throttle"):
        for address, client in (("127.0.0.1", "192.0.2.7"), ("127.0.0.1", "192.0.2.8"),
                                ("203.0.113.9", "192.0.2.8")):
            assert address_block(request=factory.get(
                "/", REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR=client)) == address
        address_block(request=factory.get("/", REMOTE_ADDR="192.0.2.7"))  # no proxy
    [warned] = [r.getMessage() for r in caplog.records if r.name == "payments.checkout.throttle"]
    assert warned.startswith("Requests arrive through a proxy (127.0.0.1 sends X-Forwarded-For)")
    assert "Set PAYMENTS_CLIENT_ADDRESS_META" in warned

    settings.PAYMENTS_CLIENT_ADDRESS_META = "HTTP_X_REAL_IP"  # named: nothing to say
    monkeypatch.setattr(throttle, "_proxy_warned", False)
    caplog.clear()
    address_block(request=factory.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="192.0.2.9",
                                      HTTP_X_FORWARDED_FOR="192.0.2.9"))
    assert not [r for r in caplog.records if r.name == "payments.checkout.throttle"]


def limits(value: str) -> list[Limit]:
    return [Limit(group="test-a", value=value, rate="3/m"),
            Limit(group="test-b", value=value, rate="5/m"),
            Limit(group="test-off", value=value, rate="")]


def test_in_django_cache_the_tightest_limit_stops_the_fourth_request(settings):
    settings.REDIS_URL = ""
    cache.clear()
    value = uuid.uuid4().hex
    same_window(seconds=60, room=5)
    assert [limits_hit(limits=limits(value)) for _ in range(5)] == \
        [False, False, False, True, True]
    assert limits_hit(limits=limits(uuid.uuid4().hex)) is False  # someone else


def test_in_redis_all_counters_go_in_one_round_trip(settings, monkeypatch):
    url = os.environ.get("REDIS_URL", "")
    need(bool(url), "REDIS_URL is not set (no Redis to count in)")
    settings.REDIS_URL = url
    client = throttle._redis(url)
    sent = []
    connection = client.connection_pool.get_connection()
    client.connection_pool.release(connection)
    original = type(connection).send_packed_command
    this_thread = threading.get_ident()

    def send_packed_command(self, *args, **kwargs):
        # This test's round trips only: the counters' thread (or a live server's) may
        # send on a connection of the same class meanwhile.
        if threading.get_ident() == this_thread:
            sent.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(connection), "send_packed_command", send_packed_command)
    value = uuid.uuid4().hex
    same_window(seconds=60, room=5)
    answers = [limits_hit(limits=limits(value)) for _ in range(5)]
    assert answers == [False, False, False, True, True]
    assert len(sent) == 5  # one per request, for both counters
    keys = client.keys(f"payments:rl:test-a:60:*:{throttle._key(limits(value)[0], 60)[-32:]}")
    assert keys and 0 < client.ttl(keys[0]) <= 65  # the counter expires with its window
