"""One pace for all our Stripe reads, shared by every worker on every machine.

Stripe allows 25 requests a second in test mode (100 live) across the whole account, and
the checkout needs its share: scans read at a configurable rate, counted per second in the
shared cache (Redis when ``REDIS_URL`` is set; a per-process memory cache otherwise, where
there is one worker). A caller over the rate sleeps into the next second.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache


def stripe_read_pace(*, bucket: str = "scans") -> None:
    rate = settings.PAYMENTS_SCAN_READS_PER_SECOND
    if rate <= 0:
        return
    while True:
        second = int(time.time())
        key = f"payments:pace:{bucket}:{second}"
        cache.add(key, 0, timeout=5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: a new second began
            continue
        if count <= rate:
            return
        time.sleep(max(0.0, second + 1 - time.time()))
