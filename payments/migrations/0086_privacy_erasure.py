"""A shopper's erasure (payments.privacy): ``Order.erased_at``, the email of orders and
recovery links allowed blank, and ``ErasureRecord``, append-only, which PostgreSQL
enforces with a trigger like the ledger's (0003). Adding a nullable column and relaxing
a form-level ``blank`` touch no existing row."""

from django.db import migrations, models

FUNCTION = """
CREATE OR REPLACE FUNCTION payments_erasure_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'Erasure records are append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""
TRIGGER = """
DROP TRIGGER IF EXISTS payments_erasure_append_only ON payments_erasurerecord;
CREATE TRIGGER payments_erasure_append_only
    BEFORE UPDATE OR DELETE ON payments_erasurerecord
    FOR EACH ROW EXECUTE FUNCTION payments_erasure_refuse_change();
"""
DROP = """
DROP TRIGGER IF EXISTS payments_erasure_append_only ON payments_erasurerecord;
DROP FUNCTION IF EXISTS payments_erasure_refuse_change();
"""


def trigger_install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)  # no placeholders: keep its %
        schema_editor.execute(TRIGGER, params=None)


def trigger_remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0084_webhook_event_processed_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="ErasureRecord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("email_hmac", models.CharField(db_index=True, max_length=64,
                                                verbose_name="email HMAC")),
                ("actor", models.CharField(
                    help_text="Who erased it: a staff user or an operator.", max_length=255,
                    verbose_name="actor")),
                ("erased_at", models.DateTimeField(verbose_name="erased at")),
                ("counts", models.JSONField(default=dict, help_text="Rows changed, per table.",
                                            verbose_name="counts")),
            ],
            options={
                "verbose_name": "erasure record",
                "verbose_name_plural": "erasure records",
                "ordering": ["-erased_at", "-id"],
            },
        ),
        migrations.AddField(
            model_name="order",
            name="erased_at",
            field=models.DateTimeField(blank=True, editable=False, null=True,
                                       verbose_name="erased at"),
        ),
        migrations.AlterField(
            model_name="order",
            name="email",
            field=models.EmailField(blank=True, max_length=254, verbose_name="email"),
        ),
        migrations.AlterField(
            model_name="recoverylink",
            name="email",
            field=models.EmailField(blank=True, max_length=254, verbose_name="email"),
        ),
        migrations.RunPython(trigger_install, trigger_remove),
    ]
