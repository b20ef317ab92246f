"""The orders' CSV export, for the books: each order of the list as filtered, with its
amount in major units next to its currency, its times in ISO 8601 with the site's
offset, and the PaymentIntent, charge and card of the attempt that paid it.

Rows come from a server-side cursor in chunks; each chunk's paid attempts are read in
one query by their orders' ids (not a look-up per row), so memory stays flat and the
queries are one per chunk, whatever the number of orders.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from itertools import islice

from django.conf import settings
from django.utils import translation

from payments.admin.incidents_csv import csv_cell, csv_time
from payments.checkout.models import PaymentAttempt
from payments.shop.models import Order
from payments.stripe.facts import card_brand_label, major_units

ORDER_FIELDS = ["pk", "reference", "status", "created_at", "paid_at", "amount", "currency",
                "email", "erased_at"]
PK, REFERENCE, STATUS, CREATED, PAID, AMOUNT, CURRENCY, EMAIL, ERASED = range(
    len(ORDER_FIELDS))
ATTEMPT_FIELDS = ["stripe_id", "latest_charge", "card_brand", "card_last4"]
NO_ATTEMPT = ("", "", "", "")
ORDER_CSV_HEADER = ["Order", "Status", "Created", "Paid", "Amount", "Currency", "Email",
                    "PaymentIntent", "Charge", "Card brand", "Card last4"]
ORDER_CSV_ROWS_PER_CHUNK = 2000


def _order_row(row: tuple, attempt: tuple, statuses: dict[str, str]) -> list[str]:
    intent, charge, brand, last4 = attempt
    return [
        csv_cell(row[REFERENCE]),
        statuses.get(row[STATUS], row[STATUS]),
        csv_time(row[CREATED]),
        csv_time(row[PAID]),
        major_units(amount=row[AMOUNT], currency=row[CURRENCY]),
        csv_cell(row[CURRENCY].upper()),
        "" if row[ERASED] else csv_cell(row[EMAIL]),  # erased on request: never exported
        csv_cell(intent or ""),
        csv_cell(charge),
        csv_cell(card_brand_label(brand=brand) if brand else ""),
        csv_cell(last4),
    ]


def paid_attempts_by_order(*, order_ids: list[int]) -> dict[int, tuple]:
    """Each order's succeeded attempt (the last, should there be two) as
    ``ATTEMPT_FIELDS``, in one query."""
    rows = (PaymentAttempt.objects.order_by("order_id", "number")
            .filter(order_id__in=order_ids, status=PaymentAttempt.Status.SUCCEEDED)
            .values_list("order_id", *ATTEMPT_FIELDS))
    return {order_id: tuple(fields) for order_id, *fields in rows}


def orders_csv(orders) -> Iterator[str]:
    """A BOM (so spreadsheet programs read UTF-8), the header, then the rows of
    ``orders`` (their filters and order kept) in chunks. In English whatever the
    reader's language, as the incidents' export: a generator runs after the view
    returns, so the override sits here."""
    with translation.override(settings.LANGUAGE_CODE):
        yield from _orders_csv(orders)


def _orders_csv(orders) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ORDER_CSV_HEADER)
    yield "\ufeff" + buffer.getvalue()
    statuses = {value: str(label) for value, label in Order.Status.choices}
    rows = orders.values_list(*ORDER_FIELDS).iterator(chunk_size=ORDER_CSV_ROWS_PER_CHUNK)
    while chunk := list(islice(rows, ORDER_CSV_ROWS_PER_CHUNK)):
        attempts = paid_attempts_by_order(order_ids=[row[PK] for row in chunk])
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([_order_row(row, attempts.get(row[PK], NO_ATTEMPT), statuses)
                          for row in chunk])
        yield buffer.getvalue()
