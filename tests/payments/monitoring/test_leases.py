"""payments/monitoring/leases.py: a scan's lease is short and kept alive by a heartbeat,
so a killed worker's lease runs out within a minute and a live scan is never overtaken."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import ScanLock, ScanRun
from payments.monitoring import scans
from payments.monitoring.leases import lease_hold
from tests.waiting import wait_until


def test_a_scans_lease_lasts_a_minute_by_default(settings):
    assert settings.PAYMENTS_SCAN_LEASE_SECONDS == 60
    assert scans.lease_ttl() == timedelta(seconds=60)


@pytest.mark.django_db(transaction=True)
def test_a_lease_its_holder_stopped_renewing_is_taken_over_once_it_expires(settings,
                                                                             sandbox,
                                                                             site_on_sandbox):
    """A worker killed mid-scan renews nothing: the next scan of that kind is skipped
    while the lease lasts and runs once it has expired (PAYMENTS_SCAN_LEASE_SECONDS)."""
    settings.PAYMENTS_SCAN_LEASE_SECONDS = 2
    with lease_hold(name="scan:stale", ttl=scans.lease_ttl(), heartbeat=False) as dead:
        assert dead is not None
        assert scans.scan_stale().status == ScanRun.Status.SKIPPED
        ran = wait_until(lambda: scans.scan_stale().status == ScanRun.Status.DONE,
                         timeout=10, what="the dead holder's lease to expire")
        assert ran
        assert dead.renew() is False  # the dead holder lost it


@pytest.mark.django_db(transaction=True)
def test_a_renewing_holder_keeps_its_lease_past_its_ttl(settings):
    ttl = timedelta(seconds=1)
    with lease_hold(name="scan:events", ttl=ttl) as live:
        assert live is not None
        deadline = time.monotonic() + 3 * ttl.total_seconds()
        while time.monotonic() < deadline:  # three TTLs: the heartbeat renewed it
            with lease_hold(name="scan:events", ttl=ttl) as other:
                assert other is None
            time.sleep(0.1)
        assert ScanLock.objects.get(name="scan:events").expires_at > timezone.now()
        assert not live.lost.is_set()
    assert not ScanLock.objects.filter(name="scan:events").exists()  # given back


@pytest.mark.django_db(transaction=True)
def test_a_holder_whose_lease_was_taken_over_learns_it(settings):
    with lease_hold(name="scan:backfill", ttl=timedelta(seconds=1)) as first:
        ScanLock.objects.filter(name="scan:backfill").update(holder="someone-else")
        wait_until(first.lost.is_set, timeout=5, what="the heartbeat to notice")
