"""paymentsite/cache.py: Django's cache on Redis reads as a miss and skips writes while
Redis is down, and works again once it is back; claims (``add``) still raise."""

from __future__ import annotations

import pytest
import redis
from django.core.cache import cache


def test_the_cache_misses_while_redis_is_down_and_serves_again_once_back(own_redis):
    cache.set("k", "v", 60)
    assert cache.get("k") == "v"
    own_redis.kill()
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["k"]) == {}
    assert "k" not in cache
    cache.set("k", "w", 60)  # skipped, no error
    cache.delete("k")
    own_redis.start()  # empty again
    cache.set("k", "x", 60)
    assert cache.get("k") == "x"


def test_a_claim_still_says_it_could_not_be_taken(own_redis):
    own_redis.kill()
    with pytest.raises(redis.ConnectionError):
        cache.add("claim", 1, 60)
