"""The two staff roles migration 0007 makes: merchants view, ops also act."""

from __future__ import annotations

from django.contrib.auth.models import Group

ACTIONS = {"confirm_payment", "send_recovery_link", "cancel_payment", "refresh_payment"}


def perms(group: str) -> set[str]:
    return set(Group.objects.get(name=group).permissions.values_list("codename", flat=True))


def test_merchants_view_everything_and_act_on_nothing(db):
    merchant = perms("Merchants")
    assert {"view_incident", "view_order", "view_paymentattempt", "view_dashboard",
            "export_incident"} <= merchant
    assert not merchant & ACTIONS
    assert not any(p.startswith(("add_", "change_", "delete_")) for p in merchant)


def test_ops_also_hold_one_permission_per_action(db):
    assert perms("Payments ops") == perms("Merchants") | ACTIONS
