"""The incident keeps its order's reference (``incident_open`` copies it when it opens
one), so the CSV export writes it without looking the order up for each row (17-20 % of
the database's CPU for the export at 2,000,000 orders, bench/README.md).

A nullable column without a default: PostgreSQL only records it in the catalog (no
rewrite of the table, however many rows), under an ACCESS EXCLUSIVE lock held for
milliseconds. The lock waits for queries already reading the table (a long CSV export),
and every query after it would wait behind it: ``lock_timeout`` gives up after 5 s
instead (run the migration again). 0076 fills the rows already there."""

from django.db import migrations, models


def lock_wait_limit(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET LOCAL lock_timeout = '5s'")


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0070_model_names_translated"),
    ]

    operations = [
        migrations.RunPython(lock_wait_limit, migrations.RunPython.noop, elidable=True),
        migrations.AddField(
            model_name="incident",
            name="order_reference",
            field=models.CharField(blank=True, editable=False, max_length=24, null=True,
                                   verbose_name="order reference"),
        ),
    ]
