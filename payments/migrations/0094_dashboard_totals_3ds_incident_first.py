"""The dashboard's daily totals counted again: a payment counts as its latest 3-D Secure
incident before a card decline (``payments.monitoring.selectors.incident_latest_of_payment``),
so one that failed the bank's check and was then declined on the same intent is counted
where its failure is (the outcomes, "Recovered", at risk). Nothing changes in the tables'
shape."""

from django.db import migrations


def totals_recount(apps, schema_editor):
    # The live counting code, as 0052 does; ``manage.py dashboard_totals_rebuild`` does
    # the same by hand.
    from payments.monitoring.totals import dashboard_totals_rebuild

    dashboard_totals_rebuild()


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0093_reconciliation_refunds_and_event_runs"),
    ]

    operations = [
        migrations.RunPython(totals_recount, migrations.RunPython.noop, elidable=True),
    ]
