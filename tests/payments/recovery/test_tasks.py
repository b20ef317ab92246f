"""Bulk ops actions as Celery jobs (payments.recovery.tasks), with a real worker: the
admin answers at once with the action's progress page, the worker acts on each payment
and records its result, and the page shows them as they come."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client

from payments.models import Incident, OpsAction, Order, PaymentAttempt
from tests.conftest import need
from tests.payments.conftest import server_calls, shopper_abandoned
from tests.payments.factories import attempt_of, incident_of, order_of
from tests.waiting import wait_until

LIST = "/admin/payments/incident/"


@pytest.fixture
def ops_client(quick_scans, celery_worker, staff_roles) -> Client:
    need(connection.vendor == "postgresql", "PostgreSQL is not configured (set DATABASE_URL="
         "postgres://…; .ci/run does): the worker and the test need a database they share")
    user = User.objects.create_user("olga", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Payments ops"))
    client = Client()
    client.force_login(user)
    return client


def submit_bulk(client: Client, action: str, incidents: list[Incident]):
    """Select the payments in the list, run the action, confirm its page; the answer."""
    back = f"{LIST}?status=open"
    page = client.post(back, {"action": f"{action}_selected",
                              "_selected_action": [i.pk for i in incidents]})
    assert page.status_code == 200, page.content[:300]
    form = re.search(r'<form method="post"[^>]*id="ops-form".*?</form>',
                     page.content.decode(), re.S).group(0)
    fields: dict[str, list[str]] = {}  # what a browser posts: the form's hidden fields
    for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form):
        fields.setdefault(name, []).append(html.unescape(value))
    token = fields["token"][0]
    return client.post(f"{LIST}ops/{action}/", fields), token, back


def finished(token: str) -> OpsAction | None:
    record = OpsAction.objects.get(pk=token)
    return record if record.status in ("done", "failed") else None


def test_a_bulk_confirm_answers_at_once_and_the_worker_confirms_each(product, sandbox,
                                                                     ops_client):
    shoppers = [shopper_abandoned(product, sandbox, authenticated=True) for _ in range(2)]
    calls = len(server_calls(sandbox))
    response, token, back = submit_bulk(ops_client, "confirm", [i for _, i in shoppers])
    assert response.status_code == 302
    assert response["Location"] == \
        f"/admin/payments/opsaction/{token}/change/?{urlencode({'next': back})}"
    record = wait_until(lambda: finished(token), timeout=30,
                        what="the worker to finish the action")
    assert (record.status, record.summary, record.done) == ("done", "2 confirmed", 2)
    assert {shopper.order_now().status for shopper, _ in shoppers} == {Order.Status.PAID}
    assert len([c for c in server_calls(sandbox)[calls:] if c["path"].endswith("/confirm")]) \
        == 2
    progress = ops_client.get(response["Location"]).content.decode()
    assert "2 confirmed" in progress
    assert progress.count('field-result_display"><p>confirmed</p>') == 2
    assert 'http-equiv="refresh"' not in progress  # done: the page stops reloading


def test_a_bulk_refresh_goes_on_past_a_payment_stripe_does_not_know(product, sandbox,
                                                                   ops_client):
    known = [shopper_abandoned(product, sandbox, authenticated=False)[1] for _ in range(2)]
    for incident in known:
        sandbox.authenticate(incident.stripe_id, "complete")  # Stripe moved; we do not know
    # A payment made before new keys, another account or a sandbox reset: Stripe has
    # no such intent.
    unknown = incident_of(Incident.Kind.ACTION_ABANDONED, attempt=attempt_of(order_of(
        ("Wool blanket", 8900, 1))))
    response, token, _ = submit_bulk(ops_client, "refresh", [unknown, *known])
    assert response.status_code == 302
    record = wait_until(lambda: finished(token), timeout=30,
                        what="the worker to finish the action")
    assert record.status == "done"
    assert record.summary == "2 refreshed, 1 skipped: Stripe does not know this payment " \
                             "(keys or account changed?)"
    assert PaymentAttempt.objects.get(stripe_id=unknown.stripe_id).status == "missing"
    assert {PaymentAttempt.objects.get(stripe_id=i.stripe_id).status for i in known} == \
        {"requires_confirmation"}
