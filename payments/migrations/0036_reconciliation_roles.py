"""Merchants and Payments ops may read reconciliation runs and their mismatches (Admin →
Reconciliation runs, Reconciliation mismatches): a merchant sees, in numbers, that
nothing was lost. Neither may change them; only a run writes them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = ["view_reconciliationrun", "view_reconciliationmismatch"]
GRANTS = {"Merchants": VIEW, "Payments ops": VIEW}


def roles_grant(apps, schema_editor):
    app_config = apps.get_app_config("payments")
    original = getattr(app_config, "models_module", None)  # historical apps: none
    app_config.models_module = original or True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = original
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = group_model.objects.get_or_create(name=name)
        group.permissions.add(*permission_model.objects.filter(
            content_type__app_label="payments", codename__in=codenames))


def roles_revoke(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        for group in group_model.objects.filter(name=name):
            group.permissions.remove(*permission_model.objects.filter(
                content_type__app_label="payments", codename__in=codenames))


class Migration(migrations.Migration):

    dependencies = [("payments", "0035_reconciliation")]

    operations = [migrations.RunPython(roles_grant, roles_revoke)]
