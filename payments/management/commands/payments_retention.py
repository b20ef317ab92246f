"""Prune what the site would otherwise keep for ever: ``manage.py payments_retention
[--dry-run] [--batch N]``.

The same run Celery beat makes nightly (``payments.monitoring.retention``), for ops: to
see what it would delete (``--dry-run``), to clear a first backlog without the task's
time limit, or for cron without Celery. Thin: it parses the arguments, runs the service
and prints the counts.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from payments.monitoring import retention


def batch_argument(value: str) -> int:
    try:
        batch = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"N must be a whole number, not {value!r}") from None
    if batch < 1:
        raise argparse.ArgumentTypeError("N must be at least 1")
    return batch


class Command(BaseCommand):
    help = ("Delete scan runs and processed webhook events past their retention "
            "(PAYMENTS_RETAIN_SCAN_RUNS_DAYS, PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS) and "
            "expired sessions, and mark failed the scan runs a killed worker left running; "
            "in batches. --dry-run prints the counts and changes nothing.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true",
                            help="count what would be deleted or marked; change nothing")
        parser.add_argument("--batch", type=batch_argument, default=retention.BATCH,
                            metavar="N", help=f"rows per DELETE (default {retention.BATCH})")

    def handle(self, *args: Any, dry_run: bool, batch: int, **options: Any) -> None:
        pruned = retention.retention_prune(now=timezone.now(), batch=batch, dry_run=dry_run)
        self.stdout.write(report(pruned, dry_run=dry_run))


def report(pruned: retention.Pruned, *, dry_run: bool) -> str:
    verb = "Would delete" if dry_run else "Deleted"
    marked = "Would mark" if dry_run else "Marked"
    lines = [
        f"{marked} failed: {pruned.scan_runs_failed:,} scan runs left running by a killed "
        "worker.",
        f"{verb}: {pruned.scan_runs_deleted:,} scan runs older than "
        f"{settings.PAYMENTS_RETAIN_SCAN_RUNS_DAYS} days (each kind's latest finished run "
        "kept),",
        f"  {pruned.webhook_events_deleted:,} webhook events processed more than "
        f"{settings.PAYMENTS_RETAIN_WEBHOOK_EVENTS_DAYS} days ago,",
        f"  {pruned.sessions_deleted:,} expired sessions.",
    ]
    if dry_run:
        lines.append("Dry run: nothing was changed.")
    return "\n".join(lines)
