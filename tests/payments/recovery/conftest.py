"""What the recovery tests share: scans that act at once (ops: tests/payments/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def quick_scans(site_on_sandbox):
    """Scans unpaced, and no auto-finalize: the test decides who confirms."""
    site_on_sandbox.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    site_on_sandbox.PAYMENTS_AUTO_FINALIZE = False
