"""``manage.py payments_scan`` against the sandbox over HTTP: what it runs for each choice
of arguments, the progress line on stderr, the summary per run, the exit status of a failed
or skipped run, and a clear error (never a traceback) for bad arguments."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from payments.models import Incident, ScanRun
from payments.monitoring import scans
from payments.monitoring.leases import lease_hold
from tests.payments.conftest import server_calls

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def fast_scans(site_on_sandbox, settings, monkeypatch):
    settings.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    monkeypatch.setattr(scans, "RETRY_DELAYS", (0.0, 0.0))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def scan(*args: str, stderr: io.StringIO | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), stderr or io.StringIO()
    call_command("payments_scan", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def runs() -> list[tuple[str, str]]:
    return list(ScanRun.objects.order_by("started_at", "pk").values_list("kind", "status"))


# --- what runs -----------------------------------------------------------------------------

def test_by_default_the_events_scan_then_the_stale_sweep_run(sandbox, db):
    out, _ = scan()
    assert runs() == [("events", "done"), ("stale", "done")]
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("events scan #") and ": done in " in lines[0]
    assert lines[1].startswith("stale scan #") and ": done in " in lines[1]
    assert "Stripe calls 1," in lines[0]  # the first events scan anchors at the newest event


@pytest.mark.parametrize(("args", "kinds"), [
    (["--kind", "all"], ["events", "stale"]),
    (["--kind", "events"], ["events"]),
    (["--kind", "stale"], ["stale"]),
    (["--kind", "backfill"], ["backfill"]),
    (["--backfill", "3"], ["backfill"]),
    (["--kind", "backfill", "--backfill", "3"], ["backfill"]),
])
def test_each_kind_runs_only_its_scans(sandbox, db, args, kinds):
    scan(*args)
    assert [kind for kind, _ in runs()] == kinds


def test_a_backfill_records_incidents_and_sums_them_up(sandbox, db):
    sandbox.seed(batches=[
        {"count": 30, "kind": "authentication_not_handled", "age_seconds": 86400,
         "spread_seconds": 3600},
        {"count": 20, "kind": "succeeded", "age_seconds": 86400, "spread_seconds": 3600},
        {"count": 5, "kind": "succeeded", "age_seconds": 5 * 86400}])  # outside 2 days
    out, err = scan("--backfill", "2")
    assert Incident.objects.count() == 30
    run = ScanRun.objects.get()
    assert (run.kind, run.status, run.intents_seen, run.incidents_opened) == \
        ("backfill", "done", 50, 30)
    assert out == (f"backfill scan #{run.pk}: done in "
                   f"{(run.finished_at - run.started_at).total_seconds():.1f} s; "
                   "Stripe calls 1, intents seen 50, incidents opened 30, resolved 0, "
                   "finalized 0\n")
    listed = server_calls(sandbox, "/v1/payment_intents")
    assert len(listed) == 1 and listed[0]["method"] == "GET"


def test_kind_backfill_without_days_backfills_seven_days(sandbox, db):
    sandbox.seed(count=4, kind="card_declined", age_seconds=6 * 86400)
    sandbox.seed(count=3, kind="card_declined", age_seconds=8 * 86400)
    scan("--kind", "backfill")
    assert ScanRun.objects.get().intents_seen == 4


# --- progress ------------------------------------------------------------------------------

def test_progress_goes_to_stderr_as_plain_lines_off_a_terminal(sandbox, db):
    sandbox.seed(count=10, kind="succeeded", age_seconds=3600)
    out, err = scan("--backfill", "1")
    assert "\r" not in err
    assert err.splitlines()[0].startswith("backfill 1 d: intents seen 10, ")
    assert "backfill 1 d:" not in out


def test_verbosity_0_shows_no_progress_and_still_the_summary(sandbox, db):
    out, err = scan("--kind", "stale", "-v", "0")
    assert err == ""
    assert out.startswith("stale scan #")


@pytest.mark.parametrize(("verbosity", "shown"), [("1", False), ("2", True)])
def test_stripe_request_logs_only_from_verbosity_2(sandbox, db, caplog, verbosity, shown):
    caplog.set_level("INFO")
    before = logging.getLogger("stripe").level
    scan("--kind", "events", "-v", verbosity)
    assert any(r.name == "stripe" for r in caplog.records) is shown
    assert logging.getLogger("stripe").level == before  # put back


def test_progress_on_a_terminal_is_one_line_rewritten_then_erased(sandbox, db):
    sandbox.seed(count=10, kind="succeeded", age_seconds=3600)
    _, err = scan("--backfill", "1", stderr=Terminal())
    assert "\n" not in err
    assert err.startswith("\rbackfill 1 d: intents seen 10, ")
    assert err.endswith("\r") and err.rsplit("\r", 2)[-2].strip() == ""  # erased


def test_the_progress_line_shows_stripe_calls_when_the_scan_reports_them(db):
    from payments.management.commands.payments_scan import Progress

    class Out(io.StringIO):
        def write(self, text, style_func=None, ending="\n"):  # OutputWrapper's signature
            super().write(text + ending)

    out = Out()
    Progress(out, "stale")(12, None, 30)
    assert out.getvalue().startswith("stale: intents seen 12, Stripe calls 30, ")


# --- failures, leases, interruptions -------------------------------------------------------

def test_a_failed_run_is_summed_up_and_exits_non_zero(sandbox, db):
    sandbox.seed(count=5, kind="succeeded", age_seconds=3600)
    sandbox.add_fault(method="GET", path="/v1/payment_intents", count=10, action="status",
                      status=500)
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("payments_scan", "--backfill", "1", stdout=out, stderr=io.StringIO())
    assert failed.value.returncode == 1
    assert "backfill scan failed" in str(failed.value) and "resumes" in str(failed.value)
    assert ": failed in " in out.getvalue() and "error: Stripe kept failing" in out.getvalue()
    assert runs() == [("backfill", "failed")]


def test_with_all_a_failed_events_scan_still_lets_the_stale_sweep_run(sandbox, db):
    scan("--kind", "events")  # anchor the cursor, so the next events scan pages
    sandbox.add_fault(method="GET", path="/v1/events", count=10, action="status", status=503)
    out = io.StringIO()
    with pytest.raises(CommandError, match="events scan failed") as failed:
        call_command("payments_scan", stdout=out, stderr=io.StringIO())
    assert failed.value.returncode == 1
    assert runs()[1:] == [("events", "failed"), ("stale", "done")]


def test_a_run_skipped_for_the_lease_says_so_and_is_no_failure(sandbox, db):
    with lease_hold(name="scan:events", ttl=timedelta(minutes=1)) as lease:
        assert lease is not None
        out, _ = scan("--kind", "events")
    assert "events scan #" in out
    assert ": skipped: another run holds the lease" in out
    assert server_calls(sandbox, "/v1/") == []


def test_ctrl_c_exits_130_with_a_message_not_a_traceback(sandbox, db, monkeypatch):
    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(scans, "scan_stale", interrupted)
    with pytest.raises(CommandError, match="stale scan interrupted") as stopped:
        scan("--kind", "stale")
    assert stopped.value.returncode == 130


def test_an_unexpected_crash_is_one_line_with_the_error(sandbox, db, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(scans, "scan_events", broken)
    with pytest.raises(CommandError, match="events scan crashed: RuntimeError") as crashed:
        scan("--kind", "events")
    assert crashed.value.returncode == 1


# --- bad arguments -------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["--backfill", "0"], "DAYS must be from 1 to 365, not 0"),
    (["--backfill", "-3"], "DAYS must be from 1 to 365, not -3"),
    (["--backfill", "10000"], "DAYS must be from 1 to 365, not 10000"),
    (["--backfill", "abc"], "DAYS must be a whole number of days, not 'abc'"),
    (["--backfill", "1.5"], "DAYS must be a whole number of days, not '1.5'"),
    (["--kind", "everything"], "invalid choice: 'everything'"),
    (["--kind", "events", "--backfill", "3"], "cannot be combined with --kind events"),
    (["--kind", "all", "--backfill", "3"], "cannot be combined with --kind all"),
    (["stale"], "unrecognized arguments: stale"),
])
def test_bad_arguments_are_a_clear_command_error_and_run_nothing(sandbox, db, args, message):
    with pytest.raises(CommandError, match=message.replace(".", r"\.")):
        scan(*args)
    assert not ScanRun.objects.exists()
    assert server_calls(sandbox, "/v1/") == []


@pytest.mark.parametrize(("args", "message"), [
    (["--backfill", "abc"], "argument --backfill: DAYS must be a whole number of days"),
    (["--kind", "nope"], "argument --kind: invalid choice: 'nope'"),
    (["--kind", "stale", "--backfill", "2"], "CommandError: --backfill DAYS runs a backfill"),
])
def test_bad_arguments_on_the_command_line_print_no_traceback(args, message, tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "STRIPE_API_BASE": "http://127.0.0.1:9"}  # nothing may be called anyway
    result = subprocess.run([sys.executable, "manage.py", "payments_scan", *args], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
