"""The incident list sorted by amount has an index in that order: a filter holding many
incidents (a common decline code, 160,000 of 2,000,000) sorted every one of them, on
disk, to show the first 100 (0.72 s, bench/admin.py); now it walks the amounts in order
and stops at 100 matches. A rare value still takes its own index (0066) and sorts its
few rows."""

import importlib

from django.db import migrations, models

indexes_add_concurrently = importlib.import_module(
    "payments.migrations.0065_admin_search_exact_indexes").indexes_add_concurrently

INDEXES = [("incident", models.Index(fields=["amount", "id"], name="incident_amount_list"))]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("payments", "0066_admin_filter_indexes"),
    ]

    operations = indexes_add_concurrently(INDEXES)
