"""When the sweep last sent an auto-finalize for the incident's payment. A nullable column
without a default: a catalog change under an ACCESS EXCLUSIVE lock held for milliseconds,
but the lock waits for queries already reading the table (a long CSV export) and every
query after it waits behind it; ``lock_timeout`` gives up after 5 s instead (run the
migration again), as in 0075."""

from django.db import migrations, models


def lock_wait_limit(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET LOCAL lock_timeout = '5s'")


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0076_incident_order_references_fill'),
    ]

    operations = [
        migrations.RunPython(lock_wait_limit, migrations.RunPython.noop, elidable=True),
        migrations.AddField(
            model_name='incident',
            name='finalize_sent_at',
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name='auto-finalize sent at'),
        ),
    ]
