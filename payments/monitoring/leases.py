"""Leases that keep two workers (or two beats) from running the same scan at once.

A row per lease name in ``ScanLock``, taken with an INSERT (the primary key refuses a
second holder). While the work goes on, a heartbeat thread renews it every third of its
TTL, however long one Stripe call or one retry's wait takes; so the TTL can be short
(``PAYMENTS_SCAN_LEASE_SECONDS``, a minute by default): a worker that is killed stops
renewing, its lease expires within the TTL, and the next run takes it over, while a live
scan, however long, keeps its lease. Works the same on PostgreSQL and SQLite.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.utils import timezone

from payments.monitoring.models import ScanLock

log = logging.getLogger(__name__)


class Lease:
    def __init__(self, name: str, holder: str, ttl: timedelta) -> None:
        self.name, self.holder, self.ttl = name, holder, ttl
        self.lost = threading.Event()  # set once a renewal found it taken over

    def renew(self) -> bool:
        """Extend the lease; False if it was lost (expired and taken over)."""
        renewed = bool(ScanLock.objects.filter(name=self.name, holder=self.holder).update(
            expires_at=timezone.now() + self.ttl))
        if not renewed:
            self.lost.set()
        return renewed


class _Heartbeat(threading.Thread):
    """Renews ``lease`` every third of its TTL until stopped or the lease is lost. Its
    own database connection (Django's are per thread), closed when it ends."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(name=f"lease heartbeat {lease.name}", daemon=True)
        self.lease = lease
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.lease.ttl.total_seconds() / 3):
                try:
                    if not self.lease.renew():
                        log.warning("lease %s was taken over: its work stops", self.lease.name)
                        return
                except DatabaseError:  # tried again at the next beat; expires if never
                    log.warning("lease %s not renewed", self.lease.name, exc_info=True)
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def lease_ttl() -> timedelta:
    """How long a lease outlives its last renewal: how long a killed worker keeps its
    scan kind (or ops action) from running (PAYMENTS_SCAN_LEASE_SECONDS)."""
    return timedelta(seconds=settings.PAYMENTS_SCAN_LEASE_SECONDS)


@contextmanager
def lease_hold(*, name: str, ttl: timedelta, heartbeat: bool = True
               ) -> Iterator[Lease | None]:
    """Yield the lease, or None when another holder has it. ``heartbeat``: renewed by a
    thread while the block runs. Inside a transaction (the lease row not yet visible to
    others) no thread can renew it: the holder renews it itself (``Lease.renew``)."""
    lease = Lease(name, secrets.token_hex(8), ttl)
    now = timezone.now()
    ScanLock.objects.filter(name=name, expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            ScanLock.objects.create(name=name, holder=lease.holder, expires_at=now + ttl)
    except IntegrityError:
        yield None
        return
    beat = _Heartbeat(lease) if heartbeat and not connection.in_atomic_block else None
    if beat:
        beat.start()
    try:
        yield lease
    finally:
        if beat:
            beat.stop()
        ScanLock.objects.filter(name=name, holder=lease.holder).delete()
