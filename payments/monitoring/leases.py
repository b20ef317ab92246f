"""Leases that keep two workers (or two beats) from running the same scan at once.

A row per lease name in ``ScanLock``, taken with an INSERT (the primary key refuses a
second holder) and renewed while the work goes on. An expired lease, left by a worker that
was killed, is taken over; so nothing waits on a dead process for longer than the TTL.
Works the same on PostgreSQL and SQLite.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from payments.monitoring.models import ScanLock


class Lease:
    def __init__(self, name: str, holder: str, ttl: timedelta) -> None:
        self.name, self.holder, self.ttl = name, holder, ttl

    def renew(self) -> bool:
        """Extend the lease; False if it was lost (expired and taken over)."""
        return bool(ScanLock.objects.filter(name=self.name, holder=self.holder).update(
            expires_at=timezone.now() + self.ttl))


@contextmanager
def lease_hold(*, name: str, ttl: timedelta) -> Iterator[Lease | None]:
    """Yield the lease, or None when another holder has it."""
    lease = Lease(name, secrets.token_hex(8), ttl)
    now = timezone.now()
    ScanLock.objects.filter(name=name, expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            ScanLock.objects.create(name=name, holder=lease.holder, expires_at=now + ttl)
    except IntegrityError:
        yield None
        return
    try:
        yield lease
    finally:
        ScanLock.objects.filter(name=name, holder=lease.holder).delete()
