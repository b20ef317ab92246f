"""What the admin's own pages say to assistive technology, as the server writes it: the ops
action's progress page updates in place (no meta refresh), the cancel confirmation's error
is announced and points at its field, the message list is a live region, and the
dashboard's daily chart is a picture hidden from screen readers beside a real table. The
browser's side (axe, focus, forced colours) is tests/browser/test_admin_accessibility.py."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib import messages
from django.contrib.auth.models import Group, User
from django.contrib.messages.storage.base import Message
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from payments.models import Incident, OpsAction, OpsActionItem
from payments.recovery.actions import incident_version
from tests.payments.factories import attempt_of, incident_of, order_of

CANCEL = "/admin/payments/incident/ops/cancel/"


@pytest.fixture
def olga(db, staff_roles) -> Client:
    user = User.objects.create_user("olga", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Payments ops"))
    client = Client()
    client.force_login(user)
    return client


def left_at_the_bank() -> Incident:
    """A shop payment left at the bank's challenge: one a cancel applies to."""
    attempt = attempt_of(order_of(("Wool blanket", 8900, 1)),
                         requires_action_at=timezone.now() - timedelta(hours=3))
    return incident_of(Incident.Kind.ACTION_ABANDONED, attempt=attempt)


def action_at_work(*, user: User, incidents: list[Incident]) -> OpsAction:
    now = timezone.now()
    action = OpsAction.objects.create(kind=OpsAction.Kind.REFRESH, user=user,
                                      requested=len(incidents), status=OpsAction.Status.RUNNING,
                                      submitted_at=now)
    for position, incident in enumerate(incidents):
        OpsActionItem.objects.create(ops_action=action, incident=incident, position=position,
                                     version=incident_version(incident))
    return action


@pytest.mark.parametrize(("level", "role"), [
    (messages.SUCCESS, "status"), (messages.INFO, "status"),
    (messages.WARNING, "alert"), (messages.ERROR, "alert")])
def test_the_message_list_is_a_live_region(level, role):
    html = render_to_string("admin/payments/messages.html", {"messages": [
        Message(messages.SUCCESS, "1 link sent."), Message(level, "Something.")]})
    assert re.search(rf'<div class="messagelist-region" role="{role}"><ul class="messagelist">',
                     html)
    assert "<li class=\"success\">1 link sent.</li>" in html
    assert render_to_string("admin/payments/messages.html", {"messages": []}).strip() == ""


def test_a_result_after_a_redirect_is_read_out(olga):
    """On our pages (the incident list here) the message list is the live region."""
    page = olga.get(CANCEL, {"ids": "999999", "next": "/admin/payments/incident/"},
                    follow=True)
    html = page.content.decode()
    assert re.search(r'<div class="messagelist-region" role="alert"><ul class="messagelist">'
                     r'\s*<li class="warning">No such payment: nothing was done.</li>', html)
