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
from tests.payments.admin.test_ops import form_of
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


def test_the_progress_page_updates_in_place_and_never_reloads_itself(olga):
    user = User.objects.get(username="olga")
    action = action_at_work(user=user, incidents=[left_at_the_bank(), left_at_the_bank()])
    url = f"/admin/payments/opsaction/{action.pk}/change/?next=/admin/payments/incident/"
    html = olga.get(url).content.decode()
    assert 'http-equiv="refresh"' not in html  # axe meta-refresh: focus lost every 3 s
    assert 'src="/static/payments/admin/opsaction.js"' in html
    status = re.search(r'<p id="ops-progress"[^>]*>(.*?)</p>', html, re.S)
    assert status and 'role="status"' in status.group(0)
    assert 'data-at-work="1"' in status.group(0) and "0 of 2 done" in status.group(1)
    # Without scripts: a plain link to the same page.
    check = re.search(r'<a href="([^"]+)" class="ops-check-again">Check again</a>', html)
    assert check and check.group(1).replace("&amp;", "&") == url

    OpsAction.objects.filter(pk=action.pk).update(
        status=OpsAction.Status.DONE, done=2, finished_at=timezone.now(),
        summary="2 refreshed")
    action.items.update(result=OpsActionItem.Result.DONE, detail="refreshed",
                        finished_at=timezone.now())
    html = olga.get(url).content.decode()
    status = re.search(r'<p id="ops-progress"[^>]*>(.*?)</p>', html, re.S)
    assert 'data-at-work="0"' in status.group(0) and "Done" in status.group(1)
    assert "opsaction.js" not in html and "ops-check-again" not in html


def test_a_cancel_without_a_reason_is_announced_and_opens_on_the_field(olga):
    incident = left_at_the_bank()
    data = form_of(olga.get(CANCEL, {"ids": incident.pk}))
    page = olga.post(CANCEL, data)
    html = page.content.decode()
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()
    assert title.startswith("Error: Cancel 1 payment?"), title
    assert '<p class="errornote" role="alert">Please correct the error below.</p>' in html
    select = re.search(r'<select name="reason"[^>]*>', html).group(0)
    assert "autofocus" in select and 'aria-invalid="true"' in select
    described = re.search(r'aria-describedby="([^"]+)"', select).group(1).split()
    assert described == ["id_reason_helptext", "id_reason_error"]
    assert '<div class="help" id="id_reason_helptext">Stripe records it with the ' \
        'cancellation.</div>' in html
    assert 'id="id_reason_error"' in html

    first = olga.get(CANCEL, {"ids": incident.pk}).content.decode()  # no error yet
    assert "errornote" not in first and "Error:" not in first
    assert "autofocus" not in re.search(r'<select name="reason"[^>]*>', first).group(0)


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


def test_the_daily_chart_is_a_picture_beside_a_table(olga, settings):
    for days_ago in (1, 3):
        incident = incident_of(Incident.Kind.ACTION_ABANDONED, status=Incident.Status.LOST,
                               first_seen_at=timezone.now() - timedelta(days=days_ago))
        Incident.objects.filter(pk=incident.pk).update(
            intent_created_at=timezone.now() - timedelta(days=days_ago))
    html = olga.get("/admin/payments/dashboard/?days=30").content.decode()
    svg = re.search(r'<svg class="dash-daily"[^>]*>(.*?)</svg>', html, re.S)
    assert 'aria-hidden="true"' in svg.group(0) and 'role="img"' not in svg.group(0)
    chart_links = re.findall(r'<a href="([^"]+)"( tabindex="-1")?>', svg.group(1))
    assert len(chart_links) == 60 and all(hidden for _, hidden in chart_links)
    table = re.search(r'<details class="dash-days">\s*<summary>Show as table</summary>(.*?)'
                      r'</details>', html, re.S).group(1)
    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", table)
    assert len(rows) == 30
    table_links = re.findall(r'<a href="([^"]+)">(\d+)</a>', table)
    assert [href for href, _ in table_links] == [href for href, _ in chart_links]
    assert sum(int(n) for _, n in table_links) == 2  # made: 1 and 1; recovered: none


def test_the_countdown_takes_its_words_from_the_page(olga):
    html = olga.get("/admin/payments/dashboard/").content.decode()
    assert 'data-countdown-expired="expired"' in html
    assert 'data-countdown-minutes="%(minutes)s min %(seconds)s s"' in html
    assert 'data-countdown-hours="%(hours)s h %(minutes)s min"' in html
