"""Compare Stripe with the shop now: ``manage.py payments_reconcile [--days N | --month
YYYY-MM]``.

The same run Celery beat makes daily (``payments.monitoring.reconcile``), for a merchant
after an incident, or for cron without Celery. Thin: it parses the arguments, runs the
reconciliation and prints what was compared and found, per kind.

Exit status, so a script or CI can act on it: 0 when Stripe and the shop agree, 1 when
the run found mismatches (listed in the admin), 2 for bad arguments (as argparse), 3
when the run failed (Stripe kept failing) or another run was under way.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils import timezone

from payments.mail.messages import site_url
from payments.management.commands.payments_scan import stripe_request_logs
from payments.monitoring import reconcile
from payments.monitoring.models import ReconciliationMismatch, ReconciliationRun
from payments.stripe.budget import stripe_calls_for

EXIT_MISMATCHES = 1
EXIT_NOT_DONE = 3


def days_argument(value: str) -> int:
    """``--days N``: a whole number of days from 1 to ``reconcile.DAYS_MAX``."""
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"N must be a whole number of days, not {value!r}") from None
    try:
        return reconcile.days_valid(days)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).replace("days must", "N must")) from None


def month_argument(value: str) -> str:
    """``--month YYYY-MM``: a month begun, ended within ``reconcile.DAYS_MAX`` days."""
    try:
        reconcile.month_bounds(month=value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value.strip()


class Command(BaseCommand):
    help = ("Compare Stripe's payment intents and charges of the last N days with the "
            "shop's orders and payments, and list every mismatch (charged twice, paid at "
            "Stripe but not here, paid here but not at Stripe, amount or status differs) "
            "in the admin; ops are mailed about new ones. Exit status: 0 all agree, 1 "
            "mismatches found, 2 bad arguments, 3 the run failed or another was running.")

    def add_arguments(self, parser) -> None:
        window = parser.add_mutually_exclusive_group()
        window.add_argument(
            "--days", type=days_argument, default=None, metavar="N",
            help=f"how far back (1 to {reconcile.DAYS_MAX}; default "
                 f"{reconcile.DAYS_DEFAULT}): intents and charges created in the last N days")
        window.add_argument(
            "--month", type=month_argument, default=None, metavar="YYYY-MM",
            help="a calendar month of the site's time zone (an accountant's month: "
                 "midnight to midnight, as the admin's dates read), up to now")

    def handle(self, *args: Any, days: int | None, month: str | None,
               **options: Any) -> None:
        if days is None and month is None:
            days = reconcile.DAYS_DEFAULT
        with stripe_request_logs(shown=options.get("verbosity", 1) >= 2), \
                stripe_calls_for("command"):
            run = reconcile.reconciliation_run(days=days, month=month, trigger="command")
        self.stdout.write(report(run, month=month))
        if run.status == ReconciliationRun.Status.SKIPPED:
            raise CommandError("another reconciliation is running; try again when it ends.",
                               returncode=EXIT_NOT_DONE)
        if run.status != ReconciliationRun.Status.DONE:
            raise CommandError(f"the reconciliation failed: {run.errors}; nothing was "
                               "resolved. Run it again later.", returncode=EXIT_NOT_DONE)
        if run.mismatches_found:
            raise CommandError(f"{run.mismatches_found} mismatch"
                               f"{'es' if run.mismatches_found != 1 else ''} between Stripe "
                               "and the shop (see above).", returncode=EXIT_MISMATCHES)


def report(run: ReconciliationRun, *, month: str | None = None) -> str:
    """What the run compared and found, in a few lines."""
    local = timezone.localtime
    window = (f"{local(run.window_start):%Y-%m-%d %H:%M} to "
              f"{local(run.window_end):%Y-%m-%d %H:%M %Z}")
    period = f"month {month}" if month else \
        f"last {run.days} day{'s' if run.days != 1 else ''}"
    head = f"Reconciliation #{run.pk}, {period} ({window}): {run.status}"
    if run.status == ReconciliationRun.Status.SKIPPED:
        return f"{head}; another run is under way, nothing done."
    lines = [f"{head} in {run.duration_seconds or 0:.1f} s, {run.stripe_calls:,} Stripe "
             "calls."]
    if run.status != ReconciliationRun.Status.DONE:
        # Its counts are those of a comparison cut short: "0 paid orders" read as the
        # shop's (user test).
        lines.append(f"Error: {run.errors}")
        lines.append("Nothing was compared to the end, and nothing was resolved.")
        return "\n".join(lines)
    lines.append(f"Compared at Stripe: {run.intents_compared:,} payment intents of this shop "
                 f"({run.intents_outside:,} others on the account not compared), "
                 f"{run.charges_compared:,} charges.")
    lines.append(f"Compared here: {run.attempts_compared:,} payment attempts, "
                 f"{run.orders_paid:,} paid orders.")
    lines.append(f"Money at Stripe (the window's charges for this shop's orders): "
                 f"{reconcile.money_text(run.money_at_stripe)}; refunded since: "
                 f"{reconcile.money_text(run.money_refunded)}.")
    lines.append(f"Money here (the orders paid in the window): "
                 f"{reconcile.money_text(run.money_here)}.")
    lines.append(f"Mismatches: {run.mismatches_found:,} ({run.mismatches_new:,} new, "
                 f"{run.mismatches_resolved:,} earlier ones resolved).")
    found = reconcile.reconciliation_found_counts(run=run)
    width = max(len(label) for label in ReconciliationMismatch.Kind.labels)
    for kind, label in ReconciliationMismatch.Kind.choices:
        lines.append(f"  {label:<{width}}  {found[kind]:>6,}")
    if run.mismatches_found:
        lines.append("In the admin: " + site_url(reverse(
            "admin:payments_reconciliationmismatch_changelist")) + "?state=open")
    else:
        lines.append("Nothing lost: every payment of the window agrees with Stripe.")
    if run.errors:
        lines.append(f"Note: {run.errors}")
    return "\n".join(lines)
