"""Pages of lists with millions of rows (bench/admin.py: 10,000,000 payment attempts).

Django's admin counts a list with ``COUNT(*)`` on every page and reads a page with
``OFFSET``; both cost in proportion to the table. ``LargeTablePaginator`` keeps the same
pages and links with three changes, each for a cost measured in bench/README.md:

- an unfiltered list's size is PostgreSQL's estimate (``pg_class.reltuples``, kept by
  autovacuum's ANALYZE): the list reads "about 10,000,000 payment attempts";
- a filtered or searched list is counted up to ``COUNT_CAP`` rows (1,000 pages): beyond
  it the list reads "more than 100,000 …" and offers those pages;
- a page from ``DEEP_FROM`` rows on reads the ids of its rows first, skipping rows in
  the sort's index alone, then those rows with their joins (a "deferred join"), rather
  than joining every skipped row.

Small tables (and SQLite) are counted exactly, as before.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

COUNT_CAP = 100_000  # 1,000 pages of 100
ESTIMATE_FROM = 100_000  # an unfiltered table estimated smaller is counted exactly
DEEP_FROM = 2_000  # rows skipped before the page's ids are read on their own


class LargeTablePaginator(Paginator):
    estimated = False  # the count is PostgreSQL's estimate of an unfiltered table
    capped = False  # the count stopped at COUNT_CAP; there are more

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        estimate = table_rows_estimate(rows) if not rows.query.where else None
        if estimate is not None and estimate >= ESTIMATE_FROM:
            self.estimated = True
            return estimate
        counted = rows.order_by()[:COUNT_CAP + 1].count()
        if counted > COUNT_CAP:
            self.capped = True
            return COUNT_CAP
        return counted

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if bottom < DEEP_FROM:
            return self._get_page(self.object_list[bottom:top], number, self)
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        return self._get_page(self.object_list.filter(pk__in=ids), number, self)


def table_rows_estimate(rows) -> int | None:
    """PostgreSQL's estimate of the rows of ``rows``'s table; None elsewhere or when the
    table was never analyzed."""
    connection = connections[rows.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                       [rows.model._meta.db_table])
        row = cursor.fetchone()
    return row[0] if row and row[0] >= 0 else None
