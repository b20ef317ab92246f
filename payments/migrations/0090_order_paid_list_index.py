"""The orders list's "paid" filter (and its totals, and the export of a month): an index on
``paid_at`` of the orders that have one, so a month of paid orders is found without
reading the whole table (10,000,000 orders at the scale goal)."""

import importlib

from django.db import migrations, models

indexes_add_concurrently = importlib.import_module(
    "payments.migrations.0065_admin_search_exact_indexes").indexes_add_concurrently

INDEXES = [
    ("order", models.Index(fields=["paid_at", "id"], name="order_paid_list",
                           condition=models.Q(paid_at__isnull=False))),
]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("payments", "0089_order_export_permission"),
    ]

    operations = indexes_add_concurrently(INDEXES)
