"""The two staff roles migration 0007 makes: merchants view, ops also act."""

from __future__ import annotations

from django.contrib.auth.models import Group

from payments.recovery.actions import ACTION_PERMISSIONS

ACTIONS_OF_0007 = {"confirm_payment", "send_recovery_link", "cancel_payment",
                   "refresh_payment"}
# Every ops action's permission: the four of 0007 by name, and a new action's grant, which
# must reach the ops group.
ACTIONS = ACTIONS_OF_0007 | set(ACTION_PERMISSIONS.values())


def perms(group: str) -> set[str]:
    return set(Group.objects.get(name=group).permissions.values_list("codename", flat=True))


def test_merchants_view_everything_and_act_on_nothing(db):
    merchant = perms("Merchants")
    assert {"view_incident", "view_order", "view_paymentattempt", "view_dashboard",
            "export_incident"} <= merchant
    assert not merchant & ACTIONS
    assert not any(p.startswith(("add_", "change_", "delete_")) for p in merchant)


def test_ops_also_hold_one_permission_per_action(db):
    # ... and read the webhook events the intake stored (migration 0013).
    assert perms("Payments ops") == perms("Merchants") | ACTIONS | {"view_webhookevent"}


def test_both_roles_export_the_orders_for_the_books(db):
    assert "export_order" in perms("Merchants") & perms("Payments ops")


def test_both_roles_read_the_reconciliation(db):
    """Migration 0036: runs and mismatches, view only."""
    reconciliation = {"view_reconciliationrun", "view_reconciliationmismatch"}
    assert reconciliation <= perms("Merchants") and reconciliation <= perms("Payments ops")


def test_the_migration_runs_on_historical_models(db, settings):
    """As `migrate` runs it (the suite builds tables without migrations): on the apps of
    the project state at 0007, whose app configs are stubs."""
    import importlib

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    settings.MIGRATION_MODULES = {}  # undo --no-migrations for the loader
    roles = importlib.import_module("payments.migrations.0007_roles")
    state_apps = MigrationLoader(connection).project_state(("payments", "0007_roles")).apps
    Group.objects.all().delete()
    roles.roles_create(state_apps, None)
    assert perms("Payments ops") == perms("Merchants") | ACTIONS_OF_0007
