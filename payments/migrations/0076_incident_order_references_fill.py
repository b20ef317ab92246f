"""The order's reference copied onto the incidents opened before 0075, in batches of
5,000 ids, each its own short transaction (the migration is not atomic): the table is
never locked as a whole, the rows of one batch only for the time of its UPDATE, so
webhooks and scans keep opening and ending incidents meanwhile. 2,000,000 incidents
took 606 s (~3,300 rows/s; bench/admin.py --reuse, a 2-CPU machine at load average 6-7):
a deploy waits that long for it. Each batch writes new row versions (and entries in
every index of the table), so the table and its indexes grow until autovacuum reclaims
the old versions (VACUUM ANALYZE after it: 63 s for the whole bench database).

Only rows with an order and no reference yet: it can run again (a row opened by the
previous code while it ran). Until a row is filled the CSV export looks its reference
up, so the export is right throughout."""

from django.db import migrations
from django.db.models import Max, Min, OuterRef, Subquery

BATCH = 5_000


def incident_order_references_fill(apps, schema_editor, *, batch: int = BATCH) -> int:
    """The rows filled."""
    Incident = apps.get_model("payments", "Incident")
    Order = apps.get_model("payments", "Order")
    incidents = Incident.objects.using(schema_editor.connection.alias)
    reference = Subquery(Order.objects.filter(pk=OuterRef("order_id")).values("reference"))
    unfilled = incidents.filter(order__isnull=False, order_reference__isnull=True)
    ids = incidents.aggregate(first=Min("pk"), last=Max("pk"))
    if ids["first"] is None:
        return 0
    filled = 0
    for start in range(ids["first"] - 1, ids["last"], batch):  # autocommit: one each
        filled += unfilled.filter(pk__gt=start, pk__lte=start + batch).update(
            order_reference=reference)
    return filled


class Migration(migrations.Migration):
    atomic = False  # a transaction per batch, not one over the whole table

    dependencies = [
        ("payments", "0075_incident_order_reference"),
    ]

    operations = [
        migrations.RunPython(incident_order_references_fill, migrations.RunPython.noop,
                             elidable=True),
    ]
