"""The payment ledger refuses UPDATE and DELETE in the database itself (PostgreSQL), so
no code path, shell session or raw SQL can rewrite history. TRUNCATE (a test database
flush) is not a row operation and stays possible."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION payments_ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'The payment ledger is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""
TRIGGER = """
DROP TRIGGER IF EXISTS payments_ledger_append_only ON payments_paymentevent;
CREATE TRIGGER payments_ledger_append_only
    BEFORE UPDATE OR DELETE ON payments_paymentevent
    FOR EACH ROW EXECUTE FUNCTION payments_ledger_refuse_change();
"""
DROP = """
DROP TRIGGER IF EXISTS payments_ledger_append_only ON payments_paymentevent;
DROP FUNCTION IF EXISTS payments_ledger_refuse_change();
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
        ("payments", "0002_order_session_hash_attempt_recovery"),
    ]

    operations = [migrations.RunPython(trigger_install, trigger_remove)]
