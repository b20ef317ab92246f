"""What the recovery tests share: an ops person, and scans that act at once."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User


@pytest.fixture
def ops(db) -> User:
    user = User.objects.create_user("olga", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Payments ops"))
    return user


@pytest.fixture
def quick_scans(site_on_sandbox):
    """Scans unpaced, and no auto-finalize: the test decides who confirms."""
    site_on_sandbox.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    site_on_sandbox.PAYMENTS_AUTO_FINALIZE = False
