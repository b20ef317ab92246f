"""Reads of the shop for staff pages: the totals of a list of orders, per currency; the
currencies Stripe refused that products are still priced in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, QuerySet, Sum

from payments.shop.limits import currencies_refused
from payments.shop.models import Order, Product


@dataclass(frozen=True)
class OrderTotals:
    count: int
    # (currency, amount in minor units), by currency: amounts in different currencies
    # are never added together.
    amounts: list[tuple[str, int]]


# A page view sums at most this many orders: a year of a big merchant's orders (a
# million a day) would read for seconds on every page; the export has them all.
TOTALS_ROWS_MAX = 200_000


def order_totals_by_currency(*, orders: QuerySet[Order], rows_max: int | None = None
                             ) -> OrderTotals | None:
    """How many ``orders`` and their amounts per currency, in one aggregate query over
    exactly these rows (their filters and search kept, their order dropped); None when
    more than ``rows_max`` (``TOTALS_ROWS_MAX``) match, found without reading more."""
    rows_max = TOTALS_ROWS_MAX if rows_max is None else rows_max
    totals = _totals(Order.objects.filter(
        pk__in=orders.order_by().values("pk")[:rows_max + 1]))
    return None if totals.count > rows_max else totals


def orders_paid_totals(*, since: datetime, until: datetime) -> OrderTotals:
    """The orders paid from ``since`` to ``until`` (excluded) and their amounts per
    currency: what the Orders list's totals say with its Paid filter on those moments
    (the reconciliation's "Money here"). One aggregate over the ``paid_at`` index,
    unbounded."""
    return _totals(Order.objects.filter(paid_at__gte=since, paid_at__lt=until,
                                        status=Order.Status.PAID))


def _totals(orders: QuerySet[Order]) -> OrderTotals:
    """One aggregate: how many ``orders`` and their amounts, per currency."""
    rows = list(orders.order_by().values("currency")
                .annotate(orders=Count("pk"), amount=Sum("amount")).order_by("currency"))
    return OrderTotals(count=sum(row["orders"] for row in rows),
                       amounts=[(row["currency"], row["amount"] or 0) for row in rows])


def product_currencies_refused() -> list[str]:
    """The currencies of active products Stripe refused lately (``shop.limits``): one
    query (a handful of currencies) and one cache read."""
    currencies = Product.objects.filter(active=True).order_by().values_list(
        "currency", flat=True).distinct()
    return currencies_refused(currencies=list(currencies))
