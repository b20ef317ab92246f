"""Retention (``payments.monitoring.retention``) deletes processed webhook events oldest
first, 5,000 a statement: without an index on ``processed_at`` each statement read the
whole table, bodies and all (a first backlog of millions of events: hundreds of full
scans). A partial index of the processed ones, built concurrently on PostgreSQL (the
intake keeps storing events meanwhile)."""

import importlib

from django.db import migrations, models

indexes_add_concurrently = importlib.import_module(
    "payments.migrations.0065_admin_search_exact_indexes").indexes_add_concurrently

INDEXES = [("webhookevent", models.Index(fields=["processed_at"],
                                         name="webhook_event_processed",
                                         condition=models.Q(processed_at__isnull=False)))]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("payments", "0083_retention_schedule"),
    ]

    operations = indexes_add_concurrently(INDEXES)
