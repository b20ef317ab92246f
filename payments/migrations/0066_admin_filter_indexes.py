"""The incident list's filters on a column (decline code, card brand and currency),
each an index in the list's order: a value few incidents hold, or none, no longer reads
the whole table to fill a page or to count (0.46 s for a decline code 1 incident in
1,000 has, at 400,000 incidents; 1.0-1.2 s at 2,000,000, bench/admin.py); a common
value is counted from the index alone. Brand before currency: "usd + amex" is one range."""

import importlib

from django.db import migrations, models

indexes_add_concurrently = importlib.import_module(
    "payments.migrations.0065_admin_search_exact_indexes").indexes_add_concurrently

INDEXES = [
    ("incident", models.Index(fields=["decline_code", "first_seen_at", "id"],
                              name="incident_decline_list")),
    ("incident", models.Index(fields=["card_brand", "currency", "first_seen_at", "id"],
                              name="incident_brand_list")),
    ("incident", models.Index(fields=["currency", "first_seen_at", "id"],
                              name="incident_currency_list")),
]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("payments", "0065_admin_search_exact_indexes"),
    ]

    operations = indexes_add_concurrently(INDEXES)
