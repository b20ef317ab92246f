"""B-trees for the admin's exact searches (``IndexedSearchMixin``): an address in any
case (``LOWER(email)``) and a card's last 4. The trigram indexes of 0050 cannot tell
apart the thousands of addresses sharing a name or a domain, nor serve a 4-digit
pattern (two trigrams): 0.9 s and 0.46 s at 10,000,000 orders (bench/admin.py).

On PostgreSQL each is built ``CONCURRENTLY`` (the tables may hold millions of rows that
checkouts keep writing), so the migration is not atomic; elsewhere a plain index."""

from django.db import migrations, models
from django.db.models.functions import Lower

INDEXES = [
    ("order", models.Index(Lower("email"), name="order_email_lower")),
    ("incident", models.Index(Lower("customer_email"), name="incident_email_lower")),
    ("incident", models.Index(fields=["card_last4"], name="incident_last4")),
]


def indexes_add_concurrently(indexes: list[tuple[str, models.Index]]) -> list:
    """The operations adding ``indexes`` ((model name, index)), concurrently on
    PostgreSQL (and idempotently: a bench database may have them already)."""

    def create(apps, schema_editor):
        for model_name, index in indexes:
            model = apps.get_model("payments", model_name)
            if schema_editor.connection.vendor == "postgresql":
                sql = str(index.create_sql(model, schema_editor, concurrently=True))
                schema_editor.execute(sql.replace("CREATE INDEX CONCURRENTLY",
                                                  "CREATE INDEX CONCURRENTLY IF NOT EXISTS", 1))
                if index.expressions:
                    # Statistics of the expression (LOWER(email)): without them the
                    # planner guesses 0.5 % of the rows match one address and may walk
                    # another index (0.3 s for an ops action's address, bench/admin.py)
                    # until autovacuum's next ANALYZE. A sample: seconds at any size.
                    schema_editor.execute(f'ANALYZE "{model._meta.db_table}"')
            else:
                schema_editor.add_index(model, index)

    def drop(apps, schema_editor):
        for model_name, index in indexes:
            schema_editor.remove_index(apps.get_model("payments", model_name), index)

    return [migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddIndex(model_name=model_name, index=index)
                          for model_name, index in indexes],
        database_operations=[migrations.RunPython(create, drop, elidable=False)])]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("payments", "0054_receipt_outbox"),
    ]

    operations = indexes_add_concurrently(INDEXES)
