"""Run the monitoring scans by hand: ``manage.py payments_scan``.

The same runs Celery beat schedules (``payments.scans``), for a first backfill after
installing, for catching up after an outage, or for cron without Celery. Thin: it parses
the arguments, calls the scans, shows progress on stderr and a summary per run on stdout.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from payments.monitoring import scans
from payments.monitoring.models import ScanRun

KINDS = ("events", "stale", "backfill", "all")
BACKFILL_DAYS_DEFAULT = 7  # as the beat task's default
BACKFILL_DAYS_MAX = 365  # what scan_backfill accepts
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # as a shell reports SIGINT


def backfill_days(value: str) -> int:
    """``--backfill DAYS``: a whole number of days from 1 to 365."""
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"DAYS must be a whole number of days, not {value!r}") from None
    if not 1 <= days <= BACKFILL_DAYS_MAX:
        raise argparse.ArgumentTypeError(
            f"DAYS must be from 1 to {BACKFILL_DAYS_MAX}, not {days}")
    return days


class Progress:
    """One status line on stderr while a scan runs.

    On a terminal the line is rewritten in place (``\\r``) at most ten times a second and
    erased at the end; elsewhere (a log file, cron) a plain line is written at the first
    report and then at most every ``interval`` seconds, so logs stay short.
    """

    def __init__(self, out: Any, kind: str, *, interval: float = 10.0) -> None:
        self.out, self.kind = out, kind
        self.tty = out.isatty()
        self.interval = 0.1 if self.tty else interval
        self.started = time.monotonic()
        self.shown_at: float | None = None
        self.width = 0

    def __call__(self, done: int, total: int | None, *extra: Any) -> None:
        now = time.monotonic()
        if self.shown_at is not None and now - self.shown_at < self.interval:
            return
        self.shown_at = now
        line = f"{self.kind}: intents seen {done:,}"
        if total is not None:
            line += f" of {total:,}"
        if extra and isinstance(extra[0], int):  # Stripe calls, when the scan reports them
            line += f", Stripe calls {extra[0]:,}"
        line += f", {now - self.started:.1f} s"
        self._write(line)

    def _write(self, line: str) -> None:
        if self.tty:
            padding = " " * max(0, self.width - len(line))
            self.width = len(line)
            self.out.write(f"\r{line}{padding}", style_func=_plain, ending="")
        else:
            self.out.write(line, style_func=_plain)
        self.out.flush()

    def close(self) -> None:
        if self.tty and self.width:
            self.out.write("\r" + " " * self.width + "\r", style_func=_plain, ending="")
            self.out.flush()
        self.width = 0


def _plain(text: str) -> str:
    return text


class Command(BaseCommand):
    help = ("Run the monitoring scans now: the incremental events scan and the stale sweep "
            "(the default, --kind all), or a backfill of the intents created in the last "
            "DAYS days (--backfill DAYS). Progress goes to stderr, a summary per run to "
            "stdout; the exit status is 1 when a run failed (it resumes on the next run). "
            "-v 0 hides the progress line; -v 2 adds stripe-python's log of each request.")

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--kind", choices=KINDS, default=None,
            help="events: Stripe's events since the last scan; stale: intents waiting past "
                 "their thresholds (auto-finalize included); backfill: every intent created "
                 f"in the window (default {BACKFILL_DAYS_DEFAULT} days); all (default): "
                 "events, then stale.")
        parser.add_argument(
            "--backfill", type=backfill_days, metavar="DAYS", default=None,
            help=f"backfill the last DAYS days (1 to {BACKFILL_DAYS_MAX}); implies "
                 "--kind backfill. An interrupted backfill of the same DAYS resumes where "
                 "it stopped.")

    def handle(self, *args: Any, kind: str | None, backfill: int | None,
               **options: Any) -> None:
        if backfill is not None and kind not in (None, "backfill"):
            raise CommandError(f"--backfill DAYS runs a backfill; it cannot be combined "
                               f"with --kind {kind}.")
        if backfill is not None or kind == "backfill":
            plan = [("backfill", backfill or BACKFILL_DAYS_DEFAULT)]
        elif kind in (None, "all"):
            plan = [("events", None), ("stale", None)]
        else:
            plan = [(kind, None)]

        self.verbosity = options.get("verbosity", 1)
        failed: list[str] = []
        with stripe_request_logs(shown=self.verbosity >= 2):
            for name, days in plan:
                run = self._run(name, days)
                self.stdout.write(summary(run))
                if run.status == ScanRun.Status.FAILED:
                    failed.append(name)
        if failed:
            raise CommandError(f"{' and '.join(failed)} scan failed; the next run resumes "
                               "where it stopped.", returncode=EXIT_FAILED)

    def _run(self, name: str, days: int | None) -> ScanRun:
        label = name if days is None else f"backfill {days} d"
        progress = Progress(self.stderr, label) if self.verbosity >= 1 else None
        try:
            if name == "events":
                return scans.scan_events(progress=progress)
            if name == "stale":
                return scans.scan_stale(progress=progress)
            return scans.scan_backfill(days=days, progress=progress)
        except KeyboardInterrupt:
            raise CommandError(f"{name} scan interrupted; the next run resumes where it "
                               "stopped.", returncode=EXIT_INTERRUPTED) from None
        except Exception as error:
            # The scan recorded the failure on its ScanRun before raising; say it in one
            # line (--traceback shows the whole trace).
            raise CommandError(f"{name} scan crashed: {error!r}",
                               returncode=EXIT_FAILED) from error
        finally:
            if progress:
                progress.close()


@contextmanager
def stripe_request_logs(*, shown: bool) -> Iterator[None]:
    """stripe-python logs two INFO lines per request: thousands in a backfill, breaking the
    progress line. They are shown from ``-v 2``; below it only its warnings and errors pass
    (settings.LOGGING keeps them at WARNING everywhere else)."""
    logger = logging.getLogger("stripe")
    level = logger.level
    logger.setLevel(logging.INFO if shown else max(logging.WARNING, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        logger.setLevel(level)


def summary(run: ScanRun) -> str:
    """One line per run: what it did, or why it did nothing."""
    head = f"{run.kind} scan #{run.pk}: {run.status}"
    if run.status == ScanRun.Status.SKIPPED:
        return f"{head}: another run holds the lease (it is running now); nothing done."
    duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0.0
    line = (f"{head} in {duration:.1f} s; Stripe calls {run.stripe_calls:,}, "
            f"intents seen {run.intents_seen:,}, incidents opened {run.incidents_opened:,}, "
            f"resolved {run.incidents_resolved:,}, finalized {run.finalized:,}")
    if run.errors:
        line += f"; error: {run.errors}"
    return line
