"""``manage.py payments_reconcile`` against the sandbox over HTTP: the report, the exit
status for each outcome, and a clear error (never a traceback, nothing written) for bad
arguments."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from payments.models import Order, ReconciliationMismatch, ReconciliationRun
from payments.monitoring import reconcile
from payments.monitoring.leases import lease_hold
from tests.payments.conftest import shopper_with_order

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def fast(site_on_sandbox, settings, monkeypatch):
    settings.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    monkeypatch.setattr(reconcile, "RETRY_DELAYS", (0.0, 0.0))


def reconcile_command(*args: str) -> str:
    out = io.StringIO()
    call_command("payments_reconcile", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_clean_shop_exits_zero_and_says_nothing_was_lost(sandbox, product, db):
    shopper = shopper_with_order(product)
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"]
    out = reconcile_command()
    run = ReconciliationRun.objects.get()
    assert run.days == reconcile.DAYS_DEFAULT == 2 and run.trigger == "command"
    lines = out.splitlines()
    assert lines[0].startswith(f"Reconciliation #{run.pk}, last 2 days (")
    assert ": done in " in lines[0] and "2 Stripe calls." in lines[0]
    assert lines[1] == "Compared at Stripe: 1 payment intents of this shop (0 others on " \
                       "the account not compared), 1 charges."
    assert lines[2] == "Compared here: 1 payment attempts, 1 paid orders."
    assert lines[3] == "Money at Stripe (the window's charges for this shop's orders): " \
                       "51.98 EUR; refunded since: none."  # 2 × 25.99
    assert lines[4] == "Money here (the orders paid in the window): 51.98 EUR."
    assert lines[5] == "Mismatches: 0 (0 new, 0 earlier ones resolved)."
    assert [line.split()[-1] for line in lines[6:11]] == ["0"] * 5
    assert lines[-1] == "Nothing lost: every payment of the window agrees with Stripe."


def test_mismatches_are_counted_per_kind_and_exit_one(sandbox, product, db):
    order = shopper_with_order(product).order
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID)
    out = io.StringIO()
    with pytest.raises(CommandError) as found:
        call_command("payments_reconcile", "--days", "7", stdout=out, stderr=io.StringIO())
    assert found.value.returncode == 1
    assert str(found.value) == "1 mismatch between Stripe and the shop (see above)."
    report = out.getvalue()
    assert "Mismatches: 1 (1 new, 0 earlier ones resolved)." in report
    counts = {line[:26].strip(): int(line.split()[-1]) for line in report.splitlines()
              if line.startswith("  ")}
    assert counts == {"Charged twice": 0, "Paid at Stripe, not here": 0,
                      "Paid here, not at Stripe": 1, "Amount differs": 0,
                      "Status differs": 0}
    assert "/admin/payments/reconciliationmismatch/?state=open" in report
    assert ReconciliationRun.objects.get().days == 7


def test_a_failed_run_exits_three_and_says_so(sandbox, db):
    sandbox.add_fault(method="GET", path="/v1/payment_intents", count=10, action="status",
                      status=503)
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("payments_reconcile", stdout=out, stderr=io.StringIO())
    assert failed.value.returncode == 3
    assert "the reconciliation failed: Stripe kept failing" in str(failed.value)
    assert "Error: Stripe kept failing" in out.getvalue()
    # Not "Compared here: 0 payment attempts, 0 paid orders", read as the shop's.
    assert "Compared here" not in out.getvalue() and "Money" not in out.getvalue()
    assert "Nothing was compared to the end, and nothing was resolved." in out.getvalue()


def test_another_run_under_way_exits_three(sandbox, db):
    with lease_hold(name=reconcile.LEASE_NAME, ttl=reconcile.LEASE_TTL):
        with pytest.raises(CommandError) as skipped:
            reconcile_command()
    assert skipped.value.returncode == 3 and "another reconciliation is running" in str(
        skipped.value)


@pytest.mark.parametrize(("days", "message"), [
    ("0", "N must be from 1 to 365, not 0"),
    ("-3", "N must be from 1 to 365, not -3"),
    ("366", "N must be from 1 to 365, not 366"),
    ("99999999999999999999", "N must be from 1 to 365"),
    ("two", "N must be a whole number of days, not 'two'"),
    ("1.5", "N must be a whole number of days, not '1.5'"),
])
def test_bad_days_are_refused_before_anything_runs(sandbox, db, days, message):
    with pytest.raises(CommandError, match=message):
        call_command("payments_reconcile", "--days", days, stdout=io.StringIO())
    assert not ReconciliationRun.objects.exists() and not sandbox.requests()
    assert not ReconciliationMismatch.objects.exists()


def test_bad_days_on_the_command_line_exit_two_without_a_traceback(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "STRIPE_API_BASE": "http://127.0.0.1:9"}  # nothing may be called anyway
    result = subprocess.run([sys.executable, "manage.py", "payments_reconcile", "--days", "0"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "argument --days: N must be from 1 to 365, not 0" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_calendar_month_of_the_sites_time_zone_is_reconciled(sandbox, product, db,
                                                                  settings):
    """Only --days N back from the moment it ran: an accountant could not reconcile
    November."""
    from django.utils import timezone

    settings.TIME_ZONE = "Asia/Karachi"
    shopper = shopper_with_order(product)
    assert shopper.pay(payment_method_id="pm_card_visa").json()["success"]
    month = timezone.localtime().strftime("%Y-%m")
    out = reconcile_command("--month", month)
    run = ReconciliationRun.objects.get()
    start = timezone.localtime(run.window_start)
    assert (start.day, start.hour, start.minute, start.strftime("%Y-%m")) == (1, 0, 0, month)
    assert str(start.utcoffset()) == "5:00:00"  # Karachi's midnight, not UTC's
    assert out.splitlines()[0].startswith(f"Reconciliation #{run.pk}, month {month} (")
    assert "Compared here: 1 payment attempts, 1 paid orders." in out


@pytest.mark.parametrize(("month", "message"), [
    ("2026-13", "month must be written YYYY-MM"), ("Nov 2026", "month must be written"),
    ("2999-01", "2999-01 has not begun"), ("2020-01", "ended more than 365 days ago"),
])
def test_a_bad_month_is_refused_before_anything_runs(sandbox, db, month, message):
    with pytest.raises(CommandError, match=message):
        call_command("payments_reconcile", "--month", month, stdout=io.StringIO())
    assert not ReconciliationRun.objects.exists() and not sandbox.requests()


def test_days_and_a_month_together_are_refused(sandbox, db):
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("payments_reconcile", "--days", "3", "--month", "2026-11",
                     stdout=io.StringIO())


def test_last_year_end_stays_in_reach(sandbox, db):
    """2025-12 was refused on 7 December 2026 ("began more than 365 days ago"): the year's
    end could not be reconciled in January's closing (user test)."""
    from datetime import datetime

    from django.utils import timezone

    now = datetime(2026, 12, 7, 19, 0, tzinfo=timezone.get_current_timezone())
    since, until = reconcile.month_bounds(month="2025-12", now=now)
    assert (since.year, since.month, until.year, until.month) == (2025, 12, 2026, 1)
