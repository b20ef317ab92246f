"""Currencies in lower case, as Stripe answers with them (``CurrencyField``).

A product saved through the admin as "EUR" made orders in "EUR"; Stripe charged them in
"eur" and the status record, which pays an order only for its own amount and currency,
left them open. The field now lowers what it is given; this lowers what is stored (an
attempt's copy too, kept as the order's until Stripe answers). Only
rows not yet in lower case are written, in batches of 5,000 ids, each its own short
transaction (the migration is not atomic, as 0076): in one transaction a row changed
early stayed locked until the whole pass ended, and a shopper paying that order waited
for it (17 s at 2,000,000 orders, minutes at 10,000,000: past gunicorn's timeout). An
order so lowered whose payment succeeded before stays open: run `manage.py
payments_reconcile --days N` back to the oldest such order after upgrading (the daily run
covers two days); it lists them as "Paid at Stripe, not here"."""

from django.db import migrations
from django.db.models import F, Max, Min
from django.db.models.functions import Lower

import payments.shop.models

BATCH = 5_000


def currencies_lower(apps, schema_editor, *, batch: int = BATCH) -> int:
    """The rows lowered."""
    alias = schema_editor.connection.alias
    lowered = 0
    for model in ("Product", "Order", "PaymentAttempt"):  # an attempt copies its order's
        rows = apps.get_model("payments", model).objects.using(alias)
        ids = rows.aggregate(first=Min("pk"), last=Max("pk"))
        if ids["first"] is None:
            continue
        upper = rows.exclude(currency=Lower(F("currency")))
        for start in range(ids["first"] - 1, ids["last"], batch):  # autocommit: one each
            lowered += upper.filter(pk__gt=start, pk__lte=start + batch).update(
                currency=Lower(F("currency")))
    return lowered


class Migration(migrations.Migration):
    atomic = False  # a transaction per batch, not one over the whole table

    dependencies = [
        ("payments", "0077_incident_finalize_sent"),
    ]

    operations = [
        migrations.AlterField(
            model_name="order",
            name="currency",
            field=payments.shop.models.CurrencyField(max_length=3, verbose_name="currency"),
        ),
        migrations.AlterField(
            model_name="product",
            name="currency",
            field=payments.shop.models.CurrencyField(default="eur", max_length=3,
                                                     verbose_name="currency"),
        ),
        migrations.RunPython(currencies_lower, migrations.RunPython.noop, elidable=True,
                             atomic=False),
    ]
