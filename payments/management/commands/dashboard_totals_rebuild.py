"""Count the dashboard's daily totals afresh from the incidents and attempts.

The writers keep the totals (``payments.monitoring.totals``); this is for rows that
arrived some other way (a bulk load, a restore), a change of ``TIME_ZONE`` (the totals
are per day of the site's time zone), or to check them: ``--check`` changes nothing and
says whether they equal a recount (exit status 1 if not).
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from payments.monitoring.totals import (
    dashboard_totals_rebuild,
    dashboard_totals_recount,
    dashboard_totals_stored,
)


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0]

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true",
                            help="compare the kept totals with a recount; change nothing")

    def handle(self, *args, check: bool = False, **options) -> None:
        started = time.monotonic()
        if check:
            differences = dashboard_totals_recount().minus(dashboard_totals_stored()).changed()
            if differences:
                for key, count, amount in differences[:20]:
                    self.stderr.write(f"{key}: recount - kept = {count} ({amount} minor units)")
                raise CommandError(f"{len(differences)} daily totals differ from a recount")
            self.stdout.write("The daily totals equal a recount.")
            return
        corrected = dashboard_totals_rebuild()
        self.stdout.write(f"{corrected} daily totals corrected in "
                          f"{time.monotonic() - started:.1f} s.")
