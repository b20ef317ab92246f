"""Merchants (and Payments ops, who hold what merchants hold) may export the orders list
as CSV (Admin → Orders → Export CSV): the accountant takes a month's paid orders into the
books."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {"Merchants": ["export_order"], "Payments ops": ["export_order"]}


def roles_grant(apps, schema_editor):
    # Permissions are made after migrations run; make ours now so the group can hold it.
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

    dependencies = [
        ("payments", "0088_ops_action_stop"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="order",
            options={"ordering": ["-created_at"],
                     "permissions": [("export_order", "Can export orders")],
                     "verbose_name": "order", "verbose_name_plural": "orders"},
        ),
        migrations.RunPython(roles_grant, roles_revoke),
    ]
