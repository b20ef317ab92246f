"""Answer a shopper's access or erasure request: ``manage.py shopper_data --email X
[--export FILE] [--erase [--yes]]``.

Without an option it says what is held about the address. ``--export FILE`` writes all
of it as JSON (``-`` for standard output; a file is created readable by its owner only,
and never overwritten). ``--erase`` asks for confirmation (``--yes`` skips it), erases
and prints what it changed (``payments.privacy.erasure``); with ``--export`` too, the
export is written first. Nothing held is not an error; bad input and a refused erasure
are (exit status 1). Thin: parse, call the privacy room's services, print.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from payments.privacy.erasure import ErasureRefused, shopper_data_erase
from payments.privacy.selectors import EmailInvalid, ShopperData, shopper_data_find

# What an erasure changed, each as (key of ErasureRecord.counts, one, several).
COUNTED = [("orders", "order", "orders"),
           ("orders_canceled", "order awaiting payment canceled",
            "orders awaiting payment canceled"),
           ("incidents_ended", "open incident ended (its order canceled)",
            "open incidents ended (their orders canceled)"),
           ("incidents", "incident", "incidents"),
           ("recovery_links", "recovery link (expired)", "recovery links (expired)"),
           ("admin_log", "admin history entry", "admin history entries"),
           ("receipts_stopped", "receipt stopped", "receipts stopped")]


def counted(number: int, one: str, several: str) -> str:
    """"1 order", "2 orders", "0 orders": the operator's English."""
    return f"{number:,} {one if number == 1 else several}"


def operator() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "operator"


class Command(BaseCommand):
    help = ("What the site holds about a shopper's email address: a summary, --export FILE "
            "(JSON, for an access or portability request), --erase (an erasure request).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--email", required=True, help="the shopper's address (any case)")
        parser.add_argument("--export", metavar="FILE",
                            help="write everything held as JSON to FILE ('-': standard output)")
        parser.add_argument("--erase", action="store_true",
                            help="erase the shopper's personal data (asks first)")
        parser.add_argument("--yes", action="store_true", help="erase without asking")
        parser.add_argument("--actor", default=None,
                            help="who erases, for the erasure record (default: "
                                 "operator:<your user name>)")

    def handle(self, *args: Any, email: str, export: str | None, erase: bool, yes: bool,
               actor: str | None, **options: Any) -> None:
        if yes and not erase:
            raise CommandError("--yes goes with --erase.")
        try:
            found = shopper_data_find(email=email)
        except EmailInvalid as error:
            raise CommandError(error.message) from None
        if export:
            self._export(found, export)
        if export != "-":
            self.stdout.write(summary(found))
        if not erase or not found.held:
            return
        if not yes and not self._confirmed(found):
            self.stdout.write("Not erased.")
            return
        try:
            erasure = shopper_data_erase(email=found.email, actor=actor or operator(),
                                         now=timezone.now())
        except ErasureRefused as error:
            raise CommandError(error.message) from None
        if erasure.record is None:  # erased by someone else meanwhile
            self.stdout.write("Nothing left to erase.")
            return
        self.stdout.write(f"Erased (record #{erasure.record.pk}, by {erasure.record.actor}):")
        for key, one, several in COUNTED:
            self.stdout.write(f"  {counted(erasure.counts.get(key, 0), one, several)}")
        self.stdout.write("Kept for accounting: amounts, lines, dates, statuses and Stripe "
                          "ids of the orders and their payments; the payment ledger.")

    def _export(self, found: ShopperData, path: str) -> None:
        text = found.as_json(generated_at=timezone.now()) + "\n"
        if path == "-":
            self.stdout.write(text, ending="")
            return
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists already; name a new file.") from None
        except OSError as error:
            raise CommandError(f"Cannot write {path}: {error.strerror}.") from None
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        self.stdout.write(f"Written to {path}.")

    def _confirmed(self, found: ShopperData) -> bool:
        self.stdout.write(f"Erase the personal data of {found.email}? This cannot be undone.")
        if not sys.stdin.isatty():
            raise CommandError("Not erased: standard input is not a terminal to ask on; "
                               "confirm with --yes.")
        try:
            return input("Type 'yes' to erase: ").strip().lower() == "yes"
        except EOFError:
            return False


def summary(found: ShopperData) -> str:
    lines = []
    if found.held:
        payments = sum(len(order.attempts.all()) for order in found.orders)
        lines.append(f"Held about {found.email}: "
                     + ", ".join([counted(len(found.orders), "order", "orders"),
                                  counted(payments, "payment", "payments"),
                                  counted(len(found.incidents), "incident", "incidents"),
                                  counted(len(found.recovery_links), "recovery link",
                                          "recovery links"),
                                  counted(len(found.ops_items), "ops action", "ops actions"),
                                  counted(len(found.admin_history), "admin history entry",
                                          "admin history entries")]) + ".")
        stripe = found.stripe_ids()
        if stripe["payment_intents"]:
            lines.append("At Stripe (ask Stripe for its part): "
                         + ", ".join(stripe["payment_intents"] + stripe["charges"]))
    else:
        lines.append(f"Nothing held about {found.email}.")
    for record in found.erasures:
        lines.append(f"Erased on {timezone.localtime(record.erased_at):%Y-%m-%d %H:%M %Z} by "
                     f"{record.actor} (record #{record.pk}).")
    return "\n".join(lines)
