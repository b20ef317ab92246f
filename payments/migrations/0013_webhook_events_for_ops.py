"""Payments ops may read the webhook events the intake stores (Admin → Webhook events):
what came from Stripe, and whether a worker processed it. Merchants do not need them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {"Payments ops": ["view_webhookevent"]}


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

    dependencies = [("payments", "0012_webhook_events_sweep_schedule")]

    operations = [migrations.RunPython(roles_grant, roles_revoke)]
