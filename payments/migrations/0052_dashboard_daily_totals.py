"""The dashboard's daily totals (``DailyTotal``), kept by the writers from now on, and
counted once here from the incidents and attempts already stored. At 2,000,000 attempts
the dashboard recounted them on every view (2.4 / 4.1 / 4.6 s for 7 / 30 / 90 days,
bench/admin.py); it now sums these rows."""

from django.db import migrations, models


def totals_count(apps, schema_editor):
    # The live counting code (payments.monitoring.totals), which reads the tables as they
    # are at this migration; ``manage.py dashboard_totals_rebuild`` does the same later.
    from payments.monitoring.totals import dashboard_totals_rebuild

    dashboard_totals_rebuild()


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0051_admin_list_order_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='DailyTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('currency', models.CharField(max_length=3)),
                ('measure', models.CharField(max_length=16)),
                ('value', models.CharField(blank=True, max_length=64)),
                ('status', models.CharField(blank=True, max_length=16)),
                ('count', models.IntegerField(default=0)),
                ('amount', models.BigIntegerField(default=0, help_text='In minor units of ``currency``.')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('measure', 'day', 'currency', 'value', 'status'), name='daily_total_once')],
            },
        ),
        migrations.RunPython(totals_count, migrations.RunPython.noop, elidable=True),
    ]
