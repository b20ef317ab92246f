"""Ops actions in the admin, against the sandbox over HTTP: confirm (single and bulk),
cancel with a reason, refresh, send a link; the confirmation page (what will happen to how
many payments, what is skipped and why); a form submitted twice acts once; a merchant sees
no action and gets a 403 posting one; and the read-only records of who did what.

Incidents are made as in production: a 3155 payment authenticated at the bank and never
confirmed, found by the stale sweep (auto-finalize off), so it waits in
requires_confirmation as a confirmation_abandoned incident."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.test import Client
from django.utils import timezone

from payments.models import Incident, OpsAction, Order, PaymentAttempt, RecoveryLink
from payments.monitoring import scans
from payments.recovery.actions import (
    RESUME_AFTER,
    recovery_issue,
    recovery_stalled_resume,
    recovery_submit,
)
from tests.payments.conftest import server_calls, shopper_abandoned

LIST = "/admin/payments/incident/"


def ops_url(action: str) -> str:
    return f"{LIST}ops/{action}/"


@pytest.fixture(autouse=True)
def quick_scans(site_on_sandbox):
    site_on_sandbox.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    site_on_sandbox.PAYMENTS_AUTO_FINALIZE = False


def staff_client(name: str, group: str) -> Client:
    user = User.objects.create_user(name, password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ops(db) -> Client:
    return staff_client("olga", "Payments ops")


@pytest.fixture
def merchant(db) -> Client:
    return staff_client("mia", "Merchants")


def abandoned(product, sandbox, *, authenticated: bool = True):
    """A shopper who went to the bank (and passed, if ``authenticated``), then left; the
    stale sweep opens the incident."""
    shopper, incident = shopper_abandoned(product, sandbox, authenticated=authenticated)
    assert incident.kind == ("confirmation_abandoned" if authenticated else "action_abandoned")
    return shopper, incident


def form_of(page) -> dict:
    """What the confirmation page's form would POST: its hidden fields, as a browser sends
    them (a field given several times, a list)."""
    assert page.status_code == 200, page.content[:500]
    form = re.search(r'<form method="post"[^>]*id="ops-form".*?</form>',
                     page.content.decode(), re.S).group(0)
    data: dict = {}
    for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form):
        if name == "csrfmiddlewaretoken":
            continue
        value = html.unescape(value)
        data[name] = [*data[name], value] if isinstance(data.get(name), list) else \
            [data[name], value] if name in data else value
    return data


def followed_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def progress_url(record: OpsAction, back: str) -> str:
    return f"/admin/payments/opsaction/{record.pk}/change/?{urlencode({'next': back})}"


def confirms_at_stripe(sandbox) -> int:
    return len([c for c in server_calls(sandbox) if c["path"].endswith("/confirm")])


# --- confirm ---------------------------------------------------------------------------

def test_ops_confirms_one_payment_from_its_page(product, sandbox, ops):
    shopper, incident = abandoned(product, sandbox)
    detail_url = f"{LIST}{incident.pk}/change/"
    detail = ops.get(detail_url).content.decode()
    button = re.search(r'<a href="([^"]+)" class="ops-confirm">Confirm now</a>', detail)
    assert button, "no Confirm now button"
    assert "Refresh from Stripe" in detail and "Cancel payment" in detail
    # A payment waiting for its confirm cannot get a link: said, not offered.
    assert "Send authentication link: not available (nothing for the shopper to do)" in detail
    page = ops.get(button.group(1).replace("&amp;", "&"))
    html = page.content.decode()
    assert "<h1>Confirm 1 payment?</h1>" in html
    assert "51.98\u00a0EUR" in html and "shopper@example.com" in html
    assert "Authenticated, never confirmed" in html and "Requires confirmation" in html
    data = form_of(page)
    # The token is the site's, stored with the payment the page showed (as shown).
    issued = OpsAction.objects.get(pk=uuid.UUID(data["token"]))
    assert issued.status == "issued" and [i.incident_id for i in issued.items.all()] == \
        [incident.pk]
    response = ops.post(ops_url("confirm"), data, follow=True)
    assert response.redirect_chain == [(detail_url, 302)]
    assert followed_messages(response) == ["1 confirmed."]
    assert shopper.order_now().status == Order.Status.PAID
    succeeded = shopper.order.attempts.get().events.get(to_status="succeeded")
    assert (succeeded.source, succeeded.actor) == ("admin", "user:olga")
    record = OpsAction.objects.get()
    assert (record.kind, record.user.username, record.done, record.summary) == \
        ("confirm", "olga", 1, "1 confirmed")
    after = ops.get(detail_url).content.decode()
    assert "Succeeded <span class=\"quiet\">(our ledger)</span>" in after
    assert "user:olga" in after and 'class="ops-confirm"' not in after


def test_ops_confirms_in_bulk_and_paid_ones_are_skipped_with_the_reason(product, sandbox,
                                                                         ops):
    first, one = abandoned(product, sandbox)
    second, two = abandoned(product, sandbox)
    paid_shopper, paid = abandoned(product, sandbox)
    assert paid_shopper.pay(payment_intent_id=paid.stripe_id).json()["success"] is True
    paid.refresh_from_db()
    filtered = f"{LIST}?kind=confirmation_abandoned"
    page = ops.post(filtered, {"action": "confirm_selected",
                               "_selected_action": [one.pk, two.pk, paid.pk]})
    html = page.content.decode()
    assert "<h1>Confirm 2 payments?</h1>" in html
    reason = f"already {paid.get_status_display().lower()}"
    assert f"1 will be skipped: {reason}" in html
    assert "Will be skipped (1)" in html and reason.capitalize() in html
    data = form_of(page)
    assert data["next"] == filtered
    assert OpsAction.objects.get(pk=data["token"]).items.count() == 3
    # Several payments: a Celery job (run here by hand), and the action's progress page.
    from payments.recovery.tasks import ops_action_run_task
    calls = confirms_at_stripe(sandbox)  # the paid shopper's own
    response = ops.post(ops_url("confirm"), data)
    record = OpsAction.objects.get(pk=data["token"])
    assert response["Location"] == progress_url(record, filtered)
    assert confirms_at_stripe(sandbox) == calls  # nothing done in the request
    ops_action_run_task(str(record.pk))
    record.refresh_from_db()
    assert (record.status, record.summary) == ("done", f"2 confirmed, 1 skipped: {reason}")
    progress = ops.get(response["Location"]).content.decode()
    assert f"2 confirmed, 1 skipped: {reason}" in progress
    assert progress.count('field-result_display"><p>confirmed</p>') == 2
    assert f"<strong>Skipped</strong>: {reason}" in progress
    assert f'href="{filtered}"' in progress  # back to where it came from
    assert {first.order_now().status, second.order_now().status} == {Order.Status.PAID}


@pytest.mark.django_db(transaction=True)
def test_a_bulk_action_submitted_while_the_broker_is_down_says_so_and_stays_queued(
        product, sandbox, staff_roles, own_redis):
    ops = staff_client("olga", "Payments ops")
    _, one = abandoned(product, sandbox)
    _, two = abandoned(product, sandbox)
    data = form_of(ops.post(f"{LIST}?kind=confirmation_abandoned", {
        "action": "confirm_selected", "_selected_action": [one.pk, two.pk]}))
    own_redis.kill()
    response = ops.post(ops_url("confirm"), data, follow=True)
    assert response.status_code == 200
    assert "The task queue did not answer: this action is saved and starts within a few " \
           "minutes, once a worker is back." in followed_messages(response)
    record = OpsAction.objects.get(pk=data["token"])
    assert record.status == OpsAction.Status.QUEUED
    # The beat's resume runs it once it has waited RESUME_AFTER (no worker had it).
    assert recovery_stalled_resume(budget_seconds=60) == 0  # too early to tell
    assert recovery_stalled_resume(budget_seconds=60,
                                   now=timezone.now() + RESUME_AFTER + timedelta(seconds=1)) == 1
    record.refresh_from_db()
    assert (record.status, record.summary) == ("done", "2 confirmed")


def test_a_form_submitted_twice_acts_once(product, sandbox, ops):
    shopper, incident = abandoned(product, sandbox)
    data = form_of(ops.get(ops_url("confirm"), {"ids": incident.pk}))
    assert followed_messages(ops.post(ops_url("confirm"), data, follow=True)) == \
        ["1 confirmed."]
    calls = confirms_at_stripe(sandbox)
    again = ops.post(ops_url("confirm"), data, follow=True)
    assert followed_messages(again) == ["This form was already submitted: 1 confirmed."]
    assert confirms_at_stripe(sandbox) == calls
    assert OpsAction.objects.count() == 1
    assert shopper.order.attempts.get().events.filter(to_status="succeeded").count() == 1


def test_a_payment_changed_since_the_page_was_shown_is_skipped(product, sandbox, ops):
    shopper, incident = abandoned(product, sandbox)
    data = form_of(ops.get(ops_url("confirm"), {"ids": incident.pk}))
    # The bank asked again (the shopper tried once more): what the action depends on.
    PaymentAttempt.objects.filter(stripe_id=incident.stripe_id).update(
        status="requires_action")
    response = ops.post(ops_url("confirm"), data, follow=True)
    assert followed_messages(response) == ["0 confirmed, 1 skipped: changed since you looked."]
    assert shopper.order_now().status == Order.Status.OPEN
    assert confirms_at_stripe(sandbox) == 0


def test_nothing_to_do_shows_why_and_offers_no_submit(product, sandbox, ops):
    _, waiting_at_bank = abandoned(product, sandbox, authenticated=False)
    page = ops.get(ops_url("confirm"), {"ids": waiting_at_bank.pk})
    html = page.content.decode()
    assert "<h1>No payment here can be confirmed</h1>" in html
    assert "1 will be skipped: not awaiting confirmation" in html
    assert "Yes, confirm" not in html and "Back</a>" in html


# --- cancel, refresh, send a link ------------------------------------------------------

def test_cancel_with_a_reason_cancels_at_stripe_and_the_order(product, sandbox, ops,
                                                               stripe_client):
    shopper, incident = abandoned(product, sandbox, authenticated=False)
    page = ops.get(ops_url("cancel"), {"ids": incident.pk})
    html = page.content.decode()
    assert "<h1>Cancel 1 payment?</h1>" in html and 'name="reason"' in html
    assert "Requested by customer" in html and "Fraudulent" in html
    response = ops.post(ops_url("cancel"), {**form_of(page), "reason": "fraudulent"},
                        follow=True)
    assert followed_messages(response) == ["1 canceled."]
    intent = stripe_client.v1.payment_intents.retrieve(incident.stripe_id)
    assert (intent.status, intent.cancellation_reason) == ("canceled", "fraudulent")
    assert shopper.order_now().status == Order.Status.CANCELED
    assert OpsAction.objects.get().reason == "fraudulent"
    # Then confirming it is skipped, with the reason.
    again = ops.get(ops_url("confirm"), {"ids": incident.pk}).content.decode()
    assert "1 will be skipped: already canceled" in again


@pytest.mark.parametrize("reason", [None, "", "bored", "abandoned\x00"])
def test_cancel_without_a_valid_reason_is_a_form_error_and_does_nothing(
        product, sandbox, ops, stripe_client, reason):
    shopper, incident = abandoned(product, sandbox, authenticated=False)
    data = form_of(ops.get(ops_url("cancel"), {"ids": incident.pk}))
    if reason is not None:
        data["reason"] = reason
    page = ops.post(ops_url("cancel"), data)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="errorlist' in html and "<h1>Cancel 1 payment?</h1>" in html
    assert form_of(page)["token"] == data["token"]  # the same form, corrected
    assert shopper.order_now().status == Order.Status.OPEN
    assert stripe_client.v1.payment_intents.retrieve(incident.stripe_id).status == \
        "requires_action"
    assert not OpsAction.objects.exclude(status="issued").exists()  # shown, never taken


def test_refresh_reads_the_payment_from_stripe(product, sandbox, ops):
    _, incident = abandoned(product, sandbox, authenticated=False)
    sandbox.authenticate(incident.stripe_id, "complete")  # Stripe moved; we do not know yet
    page = ops.post(LIST, {"action": "refresh_selected", "_selected_action": [incident.pk]})
    assert "<h1>Refresh 1 payment from Stripe?</h1>" in page.content.decode()
    response = ops.post(ops_url("refresh"), form_of(page), follow=True)
    assert followed_messages(response) == ["1 refreshed."]
    attempt = PaymentAttempt.objects.get(stripe_id=incident.stripe_id)
    assert attempt.status == "requires_confirmation"
    assert attempt.events.filter(source="admin", actor="user:olga").exists()


def test_send_link_mails_the_shopper(product, sandbox, ops):
    _, incident = abandoned(product, sandbox, authenticated=False)
    page = ops.get(ops_url("send_link"), {"ids": incident.pk})
    assert "<h1>Send an authentication link for 1 payment?</h1>" in page.content.decode()
    response = ops.post(ops_url("send_link"), form_of(page), follow=True)
    assert followed_messages(response) == ["1 link sent."]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["shopper@example.com"]
    link = RecoveryLink.objects.get()
    assert (link.order_id, link.created_by.username) == (incident.order_id, "olga")
    assert ops.get("/admin/payments/recoverylink/").status_code == 200


def test_the_send_link_confirmation_page(product, sandbox, ops):
    _, incident = abandoned(product, sandbox, authenticated=False)
    html = ops.get(ops_url("send_link"), {"ids": incident.pk}).content.decode()
    assert "<h1>Send an authentication link for 1 payment?</h1>" in html
    assert "expires in" in html


# --- issue 15: what ops met ------------------------------------------------------------

def test_refreshing_a_payment_stripe_does_not_know_is_a_result_not_a_500(product, sandbox,
                                                                        ops):
    """After new keys, another account or a sandbox reset, Stripe answers "no such
    payment_intent": that payment's result says so, the ledger records it, the action
    ends (it used to stay "still at work" after a 500)."""
    _, incident = abandoned(product, sandbox, authenticated=False)
    sandbox.reset()
    data = form_of(ops.get(ops_url("refresh"), {"ids": incident.pk}))
    response = ops.post(ops_url("refresh"), data, follow=True)
    assert response.status_code == 200
    assert followed_messages(response) == [
        "0 refreshed, 1 skipped: Stripe does not know this payment (keys or account "
        "changed?)."]
    record = OpsAction.objects.get()
    assert (record.status, record.done, record.skipped) == ("done", 0, 1)
    assert PaymentAttempt.objects.get(stripe_id=incident.stripe_id).status == "missing"
    again = ops.post(ops_url("refresh"), data, follow=True)  # the same form: said, not redone
    assert followed_messages(again) == [
        "This form was already submitted: 0 refreshed, 1 skipped: Stripe does not know this "
        "payment (keys or account changed?)."]


def test_a_page_is_not_stale_because_a_scan_saw_the_payment_again(product, sandbox, ops):
    """The sweep rewrites when it last saw every open abandoned payment each minute; the
    page's version covers only what the action depends on."""
    shopper, incident = abandoned(product, sandbox)
    data = form_of(ops.get(ops_url("confirm"), {"ids": incident.pk}))
    # Past the confirmation threshold, the sweep sees the payment again every minute.
    PaymentAttempt.objects.filter(stripe_id=incident.stripe_id).update(
        requires_confirmation_at=timezone.now() - timedelta(minutes=15))
    scans.scan_stale()
    assert Incident.objects.get(pk=incident.pk).last_seen_at > incident.last_seen_at
    response = ops.post(ops_url("confirm"), data, follow=True)
    assert followed_messages(response) == ["1 confirmed."]
    assert shopper.order_now().status == Order.Status.PAID


def test_a_token_the_site_did_not_issue_does_nothing(product, sandbox, ops):
    _, incident = abandoned(product, sandbox, authenticated=False)
    data = form_of(ops.get(ops_url("send_link"), {"ids": incident.pk}))
    made_up = {**data, "token": str(uuid.uuid4())}
    response = ops.post(ops_url("send_link"), made_up, follow=True)
    assert response.status_code == 200
    assert followed_messages(response) == [
        "This confirmation page is not one this site showed you. Nothing was done; open the "
        "action again."]
    assert mail.outbox == [] and not RecoveryLink.objects.exists()
    # Another person's page is not hers either.
    other = staff_client("otto", "Payments ops")
    response = other.post(ops_url("send_link"), data, follow=True)
    assert "not one this site showed you" in followed_messages(response)[0]
    assert mail.outbox == [] and not RecoveryLink.objects.exists()


def test_two_confirmation_pages_send_one_link(product, sandbox, ops):
    """Two tabs (or two ops people) on the same payment: the second page's payment
    changed when the first sent its link."""
    _, incident = abandoned(product, sandbox, authenticated=False)
    first = form_of(ops.get(ops_url("send_link"), {"ids": incident.pk}))
    second = form_of(ops.get(ops_url("send_link"), {"ids": incident.pk}))
    assert first["token"] != second["token"]
    assert followed_messages(ops.post(ops_url("send_link"), first, follow=True)) == \
        ["1 link sent."]
    assert followed_messages(ops.post(ops_url("send_link"), second, follow=True)) == \
        ["0 links sent, 1 skipped: changed since you looked."]
    assert len(mail.outbox) == 1 and RecoveryLink.objects.count() == 1


def test_ops_actions_are_in_the_admin_history_and_on_the_pages_they_touched(product,
                                                                           sandbox, ops,
                                                                           merchant):
    shopper, incident = abandoned(product, sandbox, authenticated=False)
    data = form_of(ops.get(ops_url("cancel"), {"ids": incident.pk}))
    ops.post(ops_url("cancel"), {**data, "reason": "fraudulent"})
    olga = User.objects.get(username="olga")
    for obj in (incident, shopper.order):
        entry = LogEntry.objects.get(content_type=ContentType.objects.get_for_model(obj),
                                     object_id=str(obj.pk))
        assert (entry.user, entry.action_flag) == (olga, CHANGE)
        assert entry.get_change_message().startswith("Cancel (Fraudulent): canceled")
    history = ops.get(f"{LIST}{incident.pk}/history/").content.decode()
    assert "Cancel (Fraudulent): canceled" in history and "olga" in history
    order_history = ops.get(f"/admin/payments/order/{shopper.order.pk}/history/")
    assert "Cancel (Fraudulent): canceled" in order_history.content.decode()
    recent = html.unescape(ops.get("/admin/").content.decode())  # "Recent actions"
    # Named by the order's reference and the kind: no copy of the shopper's email.
    assert f"{shopper.order.reference}, 51.98 EUR: Left at the bank" in recent
    assert not LogEntry.objects.filter(object_repr__contains="@").exists()
    for client in (ops, merchant):
        listing = client.get("/admin/payments/opsaction/").content.decode()
        # The payment it touched, by customer and amount.
        assert 'shopper@example.com <span class="quiet">51.98\u00a0EUR</span>' in listing
        page = html.unescape(client.get(f"{LIST}{incident.pk}/change/").content.decode())
        assert "Canceled by olga on " in page and ": Fraudulent" in page
        assert "Ops actions on this payment" in page and "Cancel (Fraudulent)" in page
        order = html.unescape(client.get(
            f"/admin/payments/order/{shopper.order.pk}/change/").content.decode())
        assert "Canceled by olga on " in order and ": Fraudulent" in order


# --- permissions -----------------------------------------------------------------------

def test_a_merchant_sees_no_actions_and_gets_a_403_posting_one(product, sandbox, merchant,
                                                               ops):
    shopper, incident = abandoned(product, sandbox)
    listing = merchant.get(LIST).content.decode()
    assert 'name="action"' not in listing and "Confirm now" not in listing
    assert "Export CSV" in listing  # merchants export
    detail = merchant.get(f"{LIST}{incident.pk}/change/").content.decode()
    for label in ("Confirm now", "Cancel payment", "Refresh from Stripe",
                  "Send authentication link"):
        assert label not in detail
    data = form_of(ops.get(ops_url("confirm"), {"ids": incident.pk}))  # a real form
    for action in ("confirm", "cancel", "refresh", "send_link"):
        assert merchant.get(ops_url(action), {"ids": incident.pk}).status_code == 403
        assert merchant.post(ops_url(action), {**data, "reason": "abandoned"}
                             ).status_code == 403
    # The changelist's action, posted by hand: not one of hers; nothing happens.
    response = merchant.post(LIST, {"action": "confirm_selected",
                                    "_selected_action": [incident.pk]}, follow=True)
    assert response.status_code == 200
    assert shopper.order_now().status == Order.Status.OPEN
    assert confirms_at_stripe(sandbox) == 0
    assert not OpsAction.objects.exclude(status="issued").exists()  # shown to ops, not taken


def test_each_action_needs_its_own_permission(product, sandbox, db):
    from django.contrib.auth.models import Permission

    _, incident = abandoned(product, sandbox)
    user = User.objects.create_user("rita", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Merchants"))
    user.user_permissions.add(Permission.objects.get(codename="refresh_payment"))
    client = Client()
    client.force_login(user)
    listing = client.get(LIST).content.decode()
    assert 'value="refresh_selected"' in listing and 'value="confirm_selected"' not in listing
    assert client.get(ops_url("refresh"), {"ids": incident.pk}).status_code == 200
    assert client.get(ops_url("confirm"), {"ids": incident.pk}).status_code == 403


@pytest.mark.parametrize("data", [
    {}, {"seen": "junk"}, {"seen": "1:x", "token": "not-a-uuid"},
    {"seen": "99999999:x", "token": str(uuid.uuid4())},
    {"seen": "\x00", "token": "\x00"}, {"seen": "9" * 40 + ":x", "token": str(uuid.uuid4())},
    {"seen": "1:x", "token": str(uuid.uuid4()), "next": "https://evil.example/"},
])
def test_junk_posted_to_an_action_never_fails(ops, data):
    response = ops.post(ops_url("confirm"), data, follow=True)
    assert response.status_code == 200
    for url, _ in response.redirect_chain:
        assert url.startswith("/admin/")


@pytest.mark.parametrize("query", [{}, {"ids": "junk"}, {"ids": "1,2,x"}, {"ids": "\x00"},
                                   {"ids": "9" * 40}, {"ids": "1", "next": "//evil.example"}])
def test_junk_in_an_action_address_never_fails(ops, query):
    response = ops.get(ops_url("confirm"), query, follow=True)
    assert response.status_code == 200
    assert ops.get(ops_url("nosuchaction"), query).status_code == 404


# --- who did what ----------------------------------------------------------------------

def test_ops_actions_and_links_are_listed_read_only(product, sandbox, ops, merchant):
    _, incident = abandoned(product, sandbox)
    ops.post(ops_url("confirm"), form_of(ops.get(ops_url("confirm"), {"ids": incident.pk})))
    RecoveryLink.objects.create(order=incident.order, incident=incident,
                                email="shopper@example.com",
                                created_by=User.objects.get(username="olga"),
                                expires_at=timezone.now() + timedelta(days=2))
    for client in (ops, merchant):
        actions = client.get("/admin/payments/opsaction/").content.decode()
        assert "olga" in actions and "Confirm now" in actions and "1 confirmed" in actions
        links = client.get("/admin/payments/recoverylink/").content.decode()
        assert "olga" in links and "not yet" in links and "shopper@" in links
        record = OpsAction.objects.get()
        assert client.post(f"/admin/payments/opsaction/{record.pk}/delete/",
                           {"post": "yes"}).status_code == 403
        assert client.get("/admin/payments/opsaction/add/").status_code == 403


def test_a_session_ended_on_the_confirmation_page_signs_in_back_to_that_page(product, sandbox,
                                                                             ops):
    """The page stays open past the staff session: its submit goes to the sign-in, whose
    way back names the payments (not an empty action: "No such payment")."""
    _, incident = abandoned(product, sandbox)
    page = ops.get(ops_url("refresh"), {"ids": incident.pk})
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)" id="ops-form"',
                                     page.content.decode())[1])
    data = form_of(page)
    ops.logout()  # the session ended
    login = ops.post(action, data)
    assert login.status_code == 302 and login["Location"].startswith("/admin/login/")
    back = parse_qs(urlsplit(login["Location"]).query)["next"][0]
    assert urlsplit(back).path == ops_url("refresh")
    assert len(back) < 300  # a token, not the ids of up to 500 payments (gunicorn: 4 KB)
    ops.force_login(User.objects.get(username="olga"))  # signed in again
    again = ops.get(back)
    assert again.status_code == 200 and incident.customer_email in again.content.decode()
    assert "Refresh" in again.content.decode()
    # Another person's token shows nothing of it.
    other = User.objects.create_user("otto", password="x", is_staff=True, is_superuser=True)
    ops.force_login(other)
    assert ops.get(back).status_code == 302


def test_ops_actions_are_listed_newest_submitted_first(product, sandbox, ops):
    """A page left open five minutes is submitted after one shown later: the list reads
    by "When" (submitted), not by when each page was shown."""
    _, first = abandoned(product, sandbox)
    _, second = abandoned(product, sandbox)
    left_open = form_of(ops.get(ops_url("refresh"), {"ids": first.pk}))
    quick = form_of(ops.get(ops_url("refresh"), {"ids": second.pk}))
    ops.post(ops_url("refresh"), quick)
    ops.post(ops_url("refresh"), left_open)
    page = ops.get("/admin/payments/opsaction/")
    listed = [record.pk for record in page.context["cl"].result_list]
    assert listed == [uuid.UUID(left_open["token"]), uuid.UUID(quick["token"])]


# --- stop ------------------------------------------------------------------------------

def test_stop_on_the_progress_page_stops_an_action_and_says_so(product, sandbox, ops):
    incidents = [abandoned(product, sandbox, authenticated=False)[1] for _ in range(2)]
    olga = User.objects.get(username="olga")
    record = recovery_issue(action="cancel", incidents=incidents, user=olga)
    recovery_submit(token=record.pk, action="cancel", user=olga,
                    reason="requested_by_customer")  # queued: no worker has it yet
    back = f"{LIST}?kind=action_abandoned"
    page = ops.get(progress_url(record, back)).content.decode()
    stop_url = f"/admin/payments/opsaction/{record.pk}/stop/"
    assert f'action="{stop_url}"' in page and "Stop this action" in page

    assert ops.get(stop_url).status_code == 405
    response = ops.post(stop_url, {"next": back}, follow=True)
    assert response.redirect_chain[-1][0] == progress_url(record, back)
    assert followed_messages(response) == [
        "Stopping: the payment at work finishes, the others are left as they were."]
    page = response.content.decode()
    assert "<strong>Stopped by ops</strong>" in page and "Stop this action" not in page
    assert "0 canceled, 2 skipped: stopped before its turn" in page
    record.refresh_from_db()
    assert record.status == OpsAction.Status.STOPPED and record.stop_requested_by == olga
    assert not [c for c in server_calls(sandbox) if c["path"].endswith("/cancel")]

    # Again (a second tab): said, nothing changes.
    again = ops.post(stop_url, follow=True)
    assert followed_messages(again) == [
        "This action has finished: there is nothing to stop."]


def test_a_merchant_may_not_stop_an_ops_action(product, sandbox, merchant):
    incident = abandoned(product, sandbox, authenticated=False)[1]
    olga = User.objects.create_user("olga", password="x", is_staff=True)
    olga.groups.add(Group.objects.get(name="Payments ops"))
    record = recovery_issue(action="cancel", incidents=[incident], user=olga)
    recovery_submit(token=record.pk, action="cancel", user=olga,
                    reason="requested_by_customer")
    page = merchant.get(f"/admin/payments/opsaction/{record.pk}/change/")
    assert "Stop this action" not in page.content.decode()
    response = merchant.post(f"/admin/payments/opsaction/{record.pk}/stop/", follow=True)
    assert followed_messages(response) == ["You may not stop this action."]
    record.refresh_from_db()
    assert record.status == OpsAction.Status.QUEUED and record.stop_requested_at is None


def test_stop_needs_the_ops_actions_page_too(product, sandbox, ops):
    """The action's permission alone (no view of ops actions) could stop any action whose
    id it knew (review)."""
    incident = abandoned(product, sandbox, authenticated=False)[1]
    olga = User.objects.get(username="olga")
    record = recovery_issue(action="cancel", incidents=[incident], user=olga)
    recovery_submit(token=record.pk, action="cancel", user=olga,
                    reason="requested_by_customer")
    bare = User.objects.create_user("bea", password="x", is_staff=True)
    bare.user_permissions.add(Permission.objects.get(codename="cancel_payment"))
    client = Client()
    client.force_login(bare)
    assert client.post(f"/admin/payments/opsaction/{record.pk}/stop/").status_code == 403
    record.refresh_from_db()
    assert record.status == OpsAction.Status.QUEUED and record.stop_requested_at is None


def test_a_stop_asked_of_a_running_action_reads_stopping_without_the_button(product,
                                                                             sandbox, ops):
    """After Stop the page still said "At work" and offered Stop again (user test)."""
    from tests.payments.admin.test_accessibility import action_at_work

    olga = User.objects.get(username="olga")
    incidents = [abandoned(product, sandbox, authenticated=False)[1] for _ in range(2)]
    record = action_at_work(user=olga, incidents=incidents)  # a worker has it
    stop_url = f"/admin/payments/opsaction/{record.pk}/stop/"
    assert "Stop this action" in ops.get(progress_url(record, LIST)).content.decode()
    ops.post(stop_url)
    record.refresh_from_db()
    assert record.status == OpsAction.Status.RUNNING and record.stop_requested_at
    page = ops.get(progress_url(record, LIST)).content.decode()
    assert "<strong>Stopping: 0 of 2 done</strong>" in page
    assert "Stop this action" not in page
