"""payments/telemetry/counters.py with Redis away: counts kept in the process and added
once Redis answers; a Redis that failed is left alone a moment, then tried again."""

from __future__ import annotations

import logging

import pytest
import redis

from payments.telemetry import counters, outages


def test_counts_made_while_redis_is_down_reach_it_once_it_is_back(own_redis):
    counters.counters_clear()
    own_redis.kill()
    counters.count(name="webhook_deliveries", outcome="stored")
    counters.count(name="webhook_deliveries", outcome="stored")
    counters.observe(name="webhook_lag_seconds", seconds=0.25)
    assert counters.counters_read() is None  # unknown, not zero
    own_redis.start()
    counters.count(name="webhook_deliveries", outcome="duplicate")
    counted = counters.counters_read()
    assert counted["webhook_deliveries|outcome=stored"] == 2
    assert counted["webhook_deliveries|outcome=duplicate"] == 1
    assert counted["webhook_lag_seconds_sum|"] == 0.25


def test_after_a_failure_redis_is_left_alone_for_a_while_then_tried_again(own_redis,
                                                                          settings):
    settings.REDIS_RETRY_AFTER_SECONDS = 300
    client = counters.redis_client(url=own_redis.url)
    own_redis.kill()
    with pytest.raises(redis.ConnectionError) as failed:
        client.ping()
    assert not isinstance(failed.value, counters.RedisResting)
    own_redis.start()
    # Redis is back, but this process does not call it before the period is over.
    with pytest.raises(counters.RedisResting):
        client.ping()
    with pytest.raises(counters.RedisResting):
        client.pipeline(transaction=False).incr("x").execute()
    counters.redis_rest_end()  # the period is over
    assert client.ping() is True


def test_an_outage_warns_once_a_minute_per_component_and_counts_every_time(own_redis,
                                                                          caplog):
    counters.counters_clear()
    with caplog.at_level(logging.WARNING, logger="payments.telemetry.outages"):
        for _ in range(5):
            try:
                raise redis.ConnectionError("refused")
            except redis.ConnectionError:
                outages.redis_unavailable(component="throttle", doing="let through")
        try:
            raise redis.ConnectionError("refused")
        except redis.ConnectionError:
            outages.redis_unavailable(component="cache", doing="read as a miss")
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "Redis did not answer the throttle", "Redis did not answer the cache"]
    counted = counters.counters_read()
    assert counted["redis_unavailable|component=throttle"] == 5
