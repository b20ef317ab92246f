"""``manage.py payments_retention``: the counts printed; ``--dry-run`` changes nothing;
a bad ``--batch`` is argparse's error, not a traceback."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from payments.models import ScanRun, WebhookEvent

pytestmark = pytest.mark.django_db


def retention_command(*args: str) -> str:
    out = io.StringIO()
    call_command("payments_retention", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def old_rows() -> None:
    long_ago = timezone.now() - timedelta(days=200)
    for _ in range(3):
        ScanRun.objects.create(kind=ScanRun.Kind.EVENTS, status=ScanRun.Status.SKIPPED,
                               started_at=long_ago, finished_at=long_ago)
    WebhookEvent.objects.create(id="evt_old", type="payment_intent.succeeded",
                                object_id="pi_old", created=long_ago, livemode=False,
                                body="{}", received_at=long_ago, processed_at=long_ago)


def test_a_dry_run_prints_the_counts_and_deletes_nothing(old_rows):
    out = retention_command("--dry-run")
    assert "Would delete: 3 scan runs older than 30 days" in out
    assert "1 webhook events processed more than 90 days ago" in out
    assert "Dry run: nothing was changed." in out
    assert (ScanRun.objects.count(), WebhookEvent.objects.count()) == (3, 1)


def test_a_run_deletes_and_says_so(old_rows):
    out = retention_command("--batch", "2")
    assert "Deleted: 3 scan runs" in out and "Dry run" not in out
    assert (ScanRun.objects.count(), WebhookEvent.objects.count()) == (0, 0)


@pytest.mark.parametrize("value", ["0", "many"])
def test_a_bad_batch_is_refused(value):
    with pytest.raises(CommandError, match="N must"):
        call_command("payments_retention", "--batch", value, stderr=io.StringIO())
