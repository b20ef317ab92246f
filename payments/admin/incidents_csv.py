"""The incidents' CSV export, both ways: row by row in Python (``INCIDENT_CSV``, any
database), and on PostgreSQL the same cells formatted by PostgreSQL and streamed with
``COPY (SELECT ...) TO STDOUT`` (a million incidents at the goal of >= 50,000 rows/s,
bench/admin.py, where formatting each row in Python reached ~6,000). The labels come
from the same dictionaries the Python path reads; ``tests/payments/admin/test_csv.py``
checks that both paths write the same rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from itertools import islice

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, NullIf, Upper
from django.utils import timezone, translation

from payments.admin.common import SOURCE_LABELS, intent_status_label
from payments.checkout.models import PaymentAttempt
from payments.monitoring.models import Incident
from payments.shop.models import Order
from payments.stripe.facts import (
    CARD_BRANDS,
    CONFIRMATION_WINDOW,
    ERROR_WORDS,
    THREE_DECIMAL,
    ZERO_DECIMAL,
    card_brand_label,
    confirmation_expires_at,
    error_in_words,
    major_units,
)

TEXT = CharField()
CHUNK_BYTES = 256 * 1024  # what the response holds at a time


def _iso_time(expression) -> Func:
    """"2026-11-29T15:04:05+01:00" in the session's time zone (set to the site's)."""
    return Func(expression, template="to_char(%(expressions)s, "
                "'YYYY-MM-DD\"T\"HH24:MI:SSTZH:TZM')", output_field=TEXT)


def _label(field: str, labels: dict[str, str], default=None) -> Case:
    return Case(*[When(**{field: key}, then=Value(str(label))) for key, label in labels.items()],
                default=default if default is not None else F(field), output_field=TEXT)


def _cell(expression) -> Func:
    """A cell a spreadsheet would run as a formula gets a leading quote (OWASP), as
    ``csv_cell`` does; an empty text is written as nothing, as Python's csv does."""
    return NullIf(Func(expression, template="regexp_replace(%(expressions)s, "
                       "'^([-=+@' || chr(9) || chr(13) || '])', '''\\1')", output_field=TEXT),
                  Value(""))


def _error_in_words() -> Case:
    """``facts.error_in_words``: the decline code's words, else the error code's, else
    Stripe's message, else the bare code."""
    whens = [When(decline_code=code, then=Value(str(words)))
             for code, words in ERROR_WORDS.items()]
    whens += [When(error_code=code, then=Value(str(words)))
              for code, words in ERROR_WORDS.items()]
    return Case(*whens, default=Coalesce(NullIf(F("error_message"), Value("")),
                                         NullIf(F("decline_code"), Value("")),
                                         F("error_code")), output_field=TEXT)


def _major_units() -> Case:
    """``facts.major_units`` in SQL: amounts are never negative here."""
    def fraction(digits: int) -> Func:
        unit = 10 ** digits
        return Func(F("amount"), template=f"(%(expressions)s / {unit})::text || '.' || "
                    f"lpad(mod(%(expressions)s, {unit})::text, {digits}, '0')",
                    output_field=TEXT)

    return Case(When(currency__in=sorted(ZERO_DECIMAL), then=Cast("amount", TEXT)),
                When(currency__in=sorted(THREE_DECIMAL), then=fraction(3)),
                default=fraction(2), output_field=TEXT)


def _brand() -> Case:
    fallback = Func(F("card_brand"), template="initcap(replace(%(expressions)s, '_', ' '))",
                    output_field=TEXT)
    return _label("card_brand", {"": "", **CARD_BRANDS}, default=fallback)


def _order_reference() -> Case:
    """The order's reference as the incident keeps it (``incident_open`` copies it): no
    look-up per row (17-20 % of the database's CPU for the export at 2,000,000 orders,
    bench/README.md). Looked up by its key only where the column is empty and there is
    an order: a row opened before the column, not filled yet (migration 0076)."""
    looked_up = Subquery(Order.objects.order_by().filter(pk=OuterRef("order_id"))
                         .values("reference"))
    return Case(When(order_reference__isnull=False, then=F("order_reference")),
                When(order__isnull=False, then=looked_up), default=None, output_field=TEXT)


def _expires() -> Case:
    """The confirm deadline of an open incident whose attempt waits for it: the attempt
    looked up by its key for open incidents only, not joined for every row."""
    deadline = ExpressionWrapper(F("requires_confirmation_at") + Value(CONFIRMATION_WINDOW),
                                 output_field=DateTimeField())
    waiting = PaymentAttempt.objects.order_by().filter(
        pk=OuterRef("attempt_id"), status=PaymentAttempt.Status.REQUIRES_CONFIRMATION,
        requires_confirmation_at__isnull=False).values(deadline=_iso_time(deadline))
    return Case(When(status=Incident.Status.OPEN, then=Subquery(waiting)),
                default=Value(None), output_field=TEXT)


def csv_columns() -> list:
    """The cells of ``INCIDENT_CSV``, in its order, as SQL."""
    return [
        _iso_time(F("first_seen_at")),
        _label("kind", dict(Incident.Kind.choices)),
        _label("status", dict(Incident.Status.choices)),
        _cell(F("customer_email")),
        _major_units(),
        _cell(Upper("currency")),
        _cell(_error_in_words()),
        _cell(F("error_code")),
        _cell(F("decline_code")),
        _cell(F("error_message")),
        _cell(_brand()),
        _cell(F("card_last4")),
        _cell(F("card_country")),
        _cell(_order_reference()),
        _cell(F("stripe_id")),
        _cell(_label("intent_status", {"": "", **dict(PaymentAttempt.Status.choices)})),
        _iso_time(F("intent_created_at")),
        _expires(),
        _iso_time(F("resolved_at")),
        _cell(_label("source", SOURCE_LABELS)),
    ]


def incidents_csv_copy(incidents, *, header: str) -> Iterator[bytes]:
    """``header`` (its BOM included), then the rows of ``incidents`` (their filters and
    order kept) as PostgreSQL writes them, in chunks: memory stays flat. In English
    whatever the reader's language, as ``incidents_csv``."""
    with translation.override(settings.LANGUAGE_CODE):
        yield from _incidents_csv_copy(incidents, header=header)


def _incidents_csv_copy(incidents, *, header: str) -> Iterator[bytes]:
    yield header.encode()
    names = [f"csv_{i}" for i in range(len(csv_columns()))]
    rows = incidents.annotate(**dict(zip(names, csv_columns(), strict=True))).values_list(*names)
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:  # a filter Django knows matches nothing (a search without hits)
        return
    connection = connections[incidents.db]
    with transaction.atomic(using=incidents.db), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, true)",
                       [timezone.get_current_timezone_name()])
        # The lookups' cost estimate makes PostgreSQL compile the query (JIT): 0.4-0.5 s
        # of CPU per 200,000 rows, for a single pass that gains nothing from it.
        cursor.execute("SET LOCAL jit = off")
        buffer = bytearray()
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
            for data in copy:
                buffer += data
                if len(buffer) >= CHUNK_BYTES:
                    yield bytes(buffer)
                    buffer.clear()
        if buffer:
            yield bytes(buffer)


# --- row by row, in Python (any database) --------------------------------------------

# OWASP "CSV Injection": a cell a spreadsheet would run as a formula gets a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def csv_cell(value: object) -> str:
    text = "" if value is None else str(value).replace("\0", "")
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_time(value: datetime | None) -> str:
    """ISO 8601 with the offset ("2026-11-29T15:04:05+01:00"): a spreadsheet or a script
    reads the moment, whatever zone it runs in."""
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


# The export reads plain tuples, not model instances (a million incidents at >= 50,000
# rows/s, bench/admin.py): these fields, in this order, named in the cells below.
CSV_FIELDS = ["first_seen_at", "kind", "status", "customer_email", "amount", "currency",
              "error_code", "decline_code", "error_message", "card_brand", "card_last4",
              "card_country", "order__reference", "stripe_id", "intent_status",
              "intent_created_at", "attempt__status", "attempt__requires_confirmation_at",
              "resolved_at", "source"]
(FIRST_SEEN, KIND, STATUS, EMAIL, AMOUNT, CURRENCY, ERROR_CODE, DECLINE_CODE, MESSAGE, BRAND,
 LAST4, COUNTRY, ORDER, INTENT, INTENT_STATUS, MADE, ATTEMPT_STATUS, PASSED_CHALLENGE,
 RESOLVED, SOURCE) = range(len(CSV_FIELDS))

KIND_LABELS = dict(Incident.Kind.choices)
STATUS_LABELS = dict(Incident.Status.choices)


@lru_cache(maxsize=4096)
def _words(error_code: str, decline_code: str, message: str) -> str:
    return error_in_words(error_code=error_code, decline_code=decline_code, message=message)


@lru_cache(maxsize=256)
def _brand_label(brand: str) -> str:
    return card_brand_label(brand=brand) if brand else ""


@lru_cache(maxsize=64)
def _intent_status(status: str) -> str:
    return intent_status_label(status) if status else ""


def _row_expires_at(row: tuple) -> datetime | None:
    """``expires_at`` of an incident, from the row's attempt fields."""
    if row[STATUS] != Incident.Status.OPEN or row[ATTEMPT_STATUS] is None:
        return None
    if row[ATTEMPT_STATUS] != PaymentAttempt.Status.REQUIRES_CONFIRMATION:
        return None
    return confirmation_expires_at(passed_challenge_at=row[PASSED_CHALLENGE])


INCIDENT_CSV = [
    ("First seen", lambda r: csv_time(r[FIRST_SEEN])),
    ("Kind", lambda r: KIND_LABELS.get(r[KIND], r[KIND])),
    ("Status", lambda r: STATUS_LABELS.get(r[STATUS], r[STATUS])),
    ("Customer email", lambda r: csv_cell(r[EMAIL])),
    ("Amount", lambda r: major_units(amount=r[AMOUNT], currency=r[CURRENCY])),
    ("Currency", lambda r: csv_cell(r[CURRENCY].upper())),
    ("Last error", lambda r: csv_cell(_words(r[ERROR_CODE], r[DECLINE_CODE], r[MESSAGE]))),
    ("Error code", lambda r: csv_cell(r[ERROR_CODE])),
    ("Decline code", lambda r: csv_cell(r[DECLINE_CODE])),
    ("Stripe's message", lambda r: csv_cell(r[MESSAGE])),
    ("Card brand", lambda r: csv_cell(_brand_label(r[BRAND]))),
    ("Card last4", lambda r: csv_cell(r[LAST4])),
    ("Card country", lambda r: csv_cell(r[COUNTRY])),
    ("Order", lambda r: csv_cell(r[ORDER] or "")),
    ("PaymentIntent", lambda r: csv_cell(r[INTENT])),
    ("Intent status", lambda r: csv_cell(_intent_status(r[INTENT_STATUS]))),
    ("Payment made", lambda r: csv_time(r[MADE])),
    ("Expires", lambda r: csv_time(_row_expires_at(r))),
    ("Resolved", lambda r: csv_time(r[RESOLVED])),
    ("Found by", lambda r: csv_cell(SOURCE_LABELS.get(r[SOURCE], r[SOURCE]))),
]
CSV_ROWS_PER_CHUNK = 2000  # what the response holds at a time


def incidents_csv(incidents) -> Iterator[str]:
    """The rows in chunks (a BOM first, so spreadsheet programs read UTF-8), from a
    server-side cursor: memory stays flat whatever the number of rows."""
    # English whatever the reader's language: scripts and spreadsheets read these words
    # (the labels are translated for the pages); a generator runs after the view returns.
    with translation.override(settings.LANGUAGE_CODE):
        yield from _incidents_csv(incidents)


def _incidents_csv(incidents) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([label for label, _cell in INCIDENT_CSV])
    yield "\ufeff" + buffer.getvalue()
    cells = [cell for _label, cell in INCIDENT_CSV]
    rows = incidents.values_list(*CSV_FIELDS).iterator(chunk_size=CSV_ROWS_PER_CHUNK)
    while chunk := list(islice(rows, CSV_ROWS_PER_CHUNK)):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([[cell(row) for cell in cells] for row in chunk])
        yield buffer.getvalue()
