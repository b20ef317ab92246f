"""/pay's card-testing throttle (and a recovery link's, ``payments.recovery.views``):
fixed-window counters, all of a request's in one round trip.

django-ratelimit spends up to three Redis round trips per counter (``SET NX``, then
``EXISTS`` and ``INCRBY`` through Django's cache); /pay counts two (its session and its
address) on every call, so this module sends one pipeline of ``INCR`` + ``EXPIRE`` per
counter instead. The rates keep django-ratelimit's form ("10/m", "100/5m") and an address
counts as its block, as django-ratelimit counts it (IPv4 /32, IPv6 /64). Without Redis
the counters live in Django's cache (per process), as before.

When Redis does not answer, the throttle lets the request through (fails open): a
cache outage must not stop the checkout, and card testing is still bounded by Stripe's
own rate limits and the Stripe budget. The outage is logged once a minute and counted
(``payments.telemetry.outages``); counting starts again with Redis's next answer.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import time
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache
from django.http import HttpRequest

from payments.telemetry import counters, outages

log = logging.getLogger(__name__)

RATE = re.compile(r"(\d+)/(\d*)([smhd])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Limit:
    group: str  # what is counted, e.g. "pay-session"
    value: str  # whose count: a session key, an address block
    rate: str  # "count/period"; empty: no limit


def rate_parse(*, rate: str) -> tuple[int, int]:
    """(allowed count, window in seconds) of a rate such as "10/m" or "100/5m"."""
    match = RATE.fullmatch(rate)
    if match is None:
        raise ValueError(f"{rate!r} is not a rate such as '10/m'")
    count, multiplier, unit = match.groups()
    return int(count), int(multiplier or 1) * UNIT_SECONDS[unit]


def address_block(*, request: HttpRequest) -> str:
    """The client's address as the throttle counts it: IPv4 /32, IPv6 /64 (one host).
    Behind a proxy, ``PAYMENTS_CLIENT_ADDRESS_META`` names the header the proxy sets."""
    meta = settings.PAYMENTS_CLIENT_ADDRESS_META
    if meta == "REMOTE_ADDR" and not _proxy_warned and "HTTP_X_FORWARDED_FOR" in request.META:
        _proxy_unnamed_warn(request.META.get("REMOTE_ADDR", ""))
    address = request.META.get(meta, "")
    prefix = 64 if ":" in address else 32
    try:
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
    except ValueError:
        return address


_proxy_warned = False


def _proxy_unnamed_warn(proxy: str) -> None:
    """Once per process (any client can send X-Forwarded-For: once per address was a
    line and a cache entry per address): a proxy that gunicorn trusts for the scheme
    (its ``forwarded_allow_ips``, 127.0.0.1 by default) needs no
    DJANGO_SECURE_PROXY_SSL_HEADER, so check --deploy's W005 never fires, and every
    shopper counted as the proxy."""
    global _proxy_warned
    _proxy_warned = True
    log.warning("Requests arrive through a proxy (%s sends X-Forwarded-For) but the client's "
                "address is read from REMOTE_ADDR: every shopper shares one /pay limit and "
                "one sign-in lockout. Set PAYMENTS_CLIENT_ADDRESS_META to the header the "
                "proxy sets with the client's address (README.md, 'Running in production').",
                proxy)


def limits_hit(*, limits: list[Limit]) -> bool:
    """Count this request against every limit that is on; True when any is exceeded."""
    counted = []
    for limit in limits:
        if limit.rate:
            allowed, window = rate_parse(rate=limit.rate)
            counted.append((_key(limit, window), allowed, window))
    if not counted:
        return False
    if not settings.REDIS_URL:
        counts = _cache_count(counted)
    else:
        try:
            counts = _redis_count(counted, url=settings.REDIS_URL)
        except redis.RedisError:
            outages.redis_unavailable(component="throttle", doing="request let through uncounted")
            return False
    return any(count > allowed for count, (_, allowed, _) in zip(counts, counted, strict=True))


def _key(limit: Limit, window: int) -> str:
    # The window's number is in the key, so a new window starts a new counter.
    digest = hashlib.sha256(limit.value.encode()).hexdigest()[:32]
    return f"payments:rl:{limit.group}:{window}:{int(time.time()) // window}:{digest}"


def _redis_count(counted: list[tuple[str, int, int]], *, url: str) -> list[int]:
    pipeline = _redis(url).pipeline(transaction=False)
    for key, _, window in counted:
        pipeline.incr(key)
        pipeline.expire(key, window + 5)  # a few seconds past the window, as django-ratelimit
    replies = pipeline.execute()
    return replies[0::2]


def _cache_count(counted: list[tuple[str, int, int]]) -> list[int]:
    counts = []
    for key, _, window in counted:
        django_cache.add(key, 0, window + 5)
        try:
            counts.append(django_cache.incr(key))
        except ValueError:  # expired between the two calls: a new window's first count
            django_cache.add(key, 1, window + 5)
            counts.append(1)
    return counts


@cache
def _redis(url: str) -> redis.Redis:
    return counters.redis_client(url=url)
