"""Reads of orders for staff pages: the totals of a list of orders, per currency."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet, Sum

from payments.shop.models import Order


@dataclass(frozen=True)
class OrderTotals:
    count: int
    # (currency, amount in minor units), by currency: amounts in different currencies
    # are never added together.
    amounts: list[tuple[str, int]]


def order_totals_by_currency(*, orders: QuerySet[Order]) -> OrderTotals:
    """How many ``orders`` and their amounts per currency, in one aggregate query over
    exactly these rows (their filters and search kept, their order dropped)."""
    rows = list(orders.order_by().values("currency")
                .annotate(orders=Count("pk"), amount=Sum("amount")).order_by("currency"))
    return OrderTotals(count=sum(row["orders"] for row in rows),
                       amounts=[(row["currency"], row["amount"] or 0) for row in rows])
