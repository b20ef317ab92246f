"""Searching payment attempts and orders by a card's last 4 digits (the admin's search,
``search_last4_fields``): an index on the attempts' ``card_last4``, so four digits are a
short range of it, not a read of every attempt (10,000,000 at the scale goal)."""

import importlib

from django.db import migrations, models

indexes_add_concurrently = importlib.import_module(
    "payments.migrations.0065_admin_search_exact_indexes").indexes_add_concurrently

INDEXES = [
    ("paymentattempt", models.Index(fields=["card_last4"], name="attempt_last4")),
]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("payments", "0091_reconciliation_money"),
    ]

    operations = indexes_add_concurrently(INDEXES)
