"""Currencies in lower case, as Stripe answers with them (``CurrencyField``).

A product saved through the admin as "EUR" made orders in "EUR"; Stripe charged them in
"eur" and the status record, which pays an order only for its own amount and currency,
left them open. The field now lowers what it is given; this lowers what is stored (an
attempt's copy too, kept as the order's until Stripe answers). Only
rows not yet in lower case are written: one pass over each table (on 10,000,000 orders, a
sequential read), rows locked only where changed. An order so lowered whose payment
succeeded before stays open: the next reconciliation lists it as "Paid at Stripe, not
here"."""

from django.db import migrations
from django.db.models import F
from django.db.models.functions import Lower

import payments.shop.models


def currencies_lower(apps, schema_editor) -> None:
    alias = schema_editor.connection.alias
    for model in ("Product", "Order", "PaymentAttempt"):  # an attempt copies its order's
        rows = apps.get_model("payments", model).objects.using(alias)
        rows.exclude(currency=Lower(F("currency"))).update(currency=Lower(F("currency")))


class Migration(migrations.Migration):

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
        migrations.RunPython(currencies_lower, migrations.RunPython.noop, elidable=True),
    ]
