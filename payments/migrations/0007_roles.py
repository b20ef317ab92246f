"""The two staff roles: Merchants see everything (the dashboard and the CSV export too)
and change nothing; Payments ops also act on incidents, one permission per action."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = ["view_order", "view_orderline", "view_paymentattempt", "view_paymentevent",
        "view_product", "view_incident", "view_scanrun", "view_scancursor", "view_scanlock",
        "view_opsaction", "view_recoverylink", "view_dashboard", "export_incident"]
OPS = ["confirm_payment", "send_recovery_link", "cancel_payment", "refresh_payment"]
ROLES = {"Merchants": VIEW, "Payments ops": VIEW + OPS}


def roles_create(apps, schema_editor):
    # Permissions are made after migrations run; make ours now so the groups can hold them.
    for app_config in apps.get_app_configs():
        original = getattr(app_config, "models_module", None)  # historical apps: none
        app_config.models_module = original or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        group.permissions.set(permission_model.objects.filter(
            content_type__app_label="payments", codename__in=codenames))


def roles_remove(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0006_ops_actions_recovery_links"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles_create, roles_remove)]
