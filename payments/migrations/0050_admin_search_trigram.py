"""The admin's searches (email, order, PaymentIntent id, the card's last 4) are Django's
``icontains``, ``UPPER(field) LIKE UPPER('%term%')``: no B-tree serves a leading
wildcard, so each search read every row (1.6 s at 400,000 incidents, bench/admin.py).
On PostgreSQL, pg_trgm GIN indexes on exactly those expressions serve it. Other
databases (SQLite, the zero-setup default) keep the plain scan: nothing happens there.

``TRIGRAM_INDEXES`` is also what bench/admin.py builds on a database it made from the
models, so the two never differ."""

from django.db import migrations

# (index name, table, column): GIN over UPPER(column::text), the expression Django's
# icontains writes on PostgreSQL (an index on the bare column would not be used).
TRIGRAM_INDEXES = [
    ("incident_email_trgm", "payments_incident", "customer_email"),
    ("incident_intent_trgm", "payments_incident", "stripe_id"),
    ("incident_last4_trgm", "payments_incident", "card_last4"),
    ("order_reference_trgm", "payments_order", "reference"),
    ("order_email_trgm", "payments_order", "email"),
    ("attempt_intent_trgm", "payments_paymentattempt", "stripe_id"),
]


def trigram_indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in TRIGRAM_INDEXES:
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" '
                              f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)')


def trigram_indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in TRIGRAM_INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0037_reconciliation_schedule"),
    ]

    operations = [
        migrations.RunPython(trigram_indexes_create, trigram_indexes_drop, elidable=False),
    ]
