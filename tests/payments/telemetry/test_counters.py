"""payments/telemetry/counters.py: counts kept in the process and sent to Redis by its
thread (not one round trip per count), a forked child sending only its own; with Redis
away, counts kept and added once Redis answers; a Redis that failed is left alone a
moment, then tried again."""

from __future__ import annotations

import logging
import os

import pytest
import redis

from payments.telemetry import counters, outages
from tests.waiting import wait_until


def commands_processed(client: redis.Redis) -> int:
    return client.info("stats")["total_commands_processed"]


def test_counting_makes_no_round_trip_and_the_thread_sends_the_counts(own_redis):
    counters.counters_clear()
    raw = redis.Redis.from_url(own_redis.url)
    before = commands_processed(raw)
    for _ in range(200):
        counters.count(name="stripe_calls", source="shopper", endpoint="POST /x", status="200")
        counters.observe(name="webhook_lag_seconds", seconds=0.02)
    # The thread sends a pipeline a second at most (each 19 commands); one per count
    # would be 400 round trips and 3,800 commands.
    assert commands_processed(raw) - before < 100
    # Nobody in this process reads: the thread alone brings the counts to Redis, where
    # another process's /metrics reads them.
    sent = wait_until(lambda: raw.hgetall(counters.HASH) or None, timeout=5,
                      what="the counters' thread to send")
    assert float(sent[b"stripe_calls|endpoint=POST /x,source=shopper,status=200"]) == 200
    assert float(sent[b"webhook_lag_seconds_bucket|le=0.025"]) == 200
    assert b"webhook_lag_seconds_bucket|le=0.01" not in sent
    assert float(sent[b"webhook_lag_seconds_sum|"]) == pytest.approx(4.0)


def test_a_forked_child_sends_its_own_counts_not_its_parents_again(own_redis):
    counters.counters_clear()
    counters.count(name="webhook_deliveries", outcome="stored", amount=3)  # not sent yet
    child = os.fork()
    if child == 0:  # the child: count, send, leave without running the parent's tests
        try:
            counters.count(name="webhook_deliveries", outcome="stored")
            os._exit(0 if counters.counters_send() else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert counters.counters_read()["webhook_deliveries|outcome=stored"] == 4  # 3 + 1


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
