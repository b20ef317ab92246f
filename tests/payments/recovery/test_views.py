"""The page a recovery link opens (payments.recovery.views), against the sandbox: the
bank's challenge again, or the card form; bad links say so and reveal nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from payments.models import Incident, Order, RecoveryLink
from payments.monitoring import scans
from payments.recovery import links
from tests.payments.conftest import (
    random_address,
    server_calls,
    shopper_abandoned,
    shopper_with_order,
)
from tests.waiting import same_window

pytestmark = pytest.mark.usefixtures("quick_scans")


def link_for(incident: Incident, ops: User, **changes) -> tuple[RecoveryLink, str]:
    link = RecoveryLink.objects.create(
        order=incident.order, incident=incident, email=incident.order.email, created_by=ops,
        expires_at=timezone.now() + timedelta(days=2), **changes)
    return link, links.recovery_link_token(link=link)


def use(client: Client, token: str):
    """What the link page's script does: POST back with the page's CSRF token."""
    page = client.get(f"/recover/{token}/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    return client.post(f"/recover/{token}/", headers={
        "Accept": "application/json", "X-CSRFToken": csrf.group(1)})


def test_a_link_runs_the_banks_challenge_again_in_a_fresh_browser(product, sandbox, ops):
    _, incident = shopper_abandoned(product, sandbox, authenticated=False)
    _, token = link_for(incident, ops)
    stranger = Client(enforce_csrf_checks=True)  # no login, another browser
    page = stranger.get(f"/recover/{token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert incident.order.reference in html and "with my bank" in html
    assert "_secret_" not in html  # a GET shows no secret: the script fetches it
    answer = use(stranger, token).json()
    assert answer["clientSecret"].startswith(incident.stripe_id + "_secret_")
    assert answer["orderUrl"] == f"/orders/{incident.order.reference}/"
    sandbox.authenticate(incident.stripe_id, "complete")  # the modal's button
    paid = stranger.post("/pay", {"payment_intent_id": incident.stripe_id,
                                  "order_reference": incident.order.reference},
                         content_type="application/json",
                         headers={"X-CSRFToken": stranger.cookies["csrftoken"].value})
    assert paid.json()["success"] is True
    incident.refresh_from_db()
    assert incident.status == "recovered"
    reload = stranger.get(f"/recover/{token}/")  # a reload: paid, says so
    assert reload.status_code == 200 and "already paid" in reload.content.decode()
    link = RecoveryLink.objects.get()
    assert [step for step, _ in link.progress()] == ["opened", "used", "paid"]


def test_what_a_links_use_reads_from_stripe_is_the_shoppers_not_an_admin_action(
        product, sandbox, ops):
    """The shopper passed the bank on another device; the link's read finds it waiting
    for its confirm. The ledger and the incidents it touches say a payment link found
    it (it said "Admin action", as if ops had done it; the CSV's "Found by" too)."""
    _, incident = shopper_abandoned(product, sandbox, authenticated=False)
    _, token = link_for(incident, ops)
    sandbox.authenticate(incident.stripe_id, "complete")
    use(Client(enforce_csrf_checks=True), token)
    row = incident.attempt.events.get(to_status="requires_confirmation")
    assert (row.source, row.actor) == ("recovery_link", "recovery-link")
    assert row.get_source_display() == "Payment link"


def test_opening_a_link_uses_nothing_up_until_a_browser_uses_it(product, sandbox, ops):
    """A mail provider's scanner opens every link first: GETs without cookies."""
    _, incident = shopper_abandoned(product, sandbox, authenticated=False)
    link, token = link_for(incident, ops)
    reads_before = len(sandbox.requests("/v1/payment_intents"))
    for _ in range(3):
        scanner = Client()
        page = scanner.get(f"/recover/{token}/")
        assert page.status_code == 200
        assert "_secret_" not in page.content.decode()
        assert "sessionid" not in page.cookies  # no session made, no order handed over
    assert len(sandbox.requests("/v1/payment_intents")) == reads_before  # nor Stripe asked
    link.refresh_from_db()
    assert (link.open_count, link.used_at) == (3, None)
    assert link.opened_at is not None
    # A POST without the page's CSRF token (a scanner replaying the URL) uses nothing.
    assert Client(enforce_csrf_checks=True).post(f"/recover/{token}/").status_code == 403
    # The shopper's browser, then another of theirs: the link still works in both.
    for browser in (Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)):
        assert use(browser, token).json()["clientSecret"]
        assert browser.get(f"/orders/{incident.order.reference}/").status_code == 200
    link.refresh_from_db()
    assert link.used_at is not None and [step for step, _ in link.progress()] == [
        "opened", "used"]


def test_a_link_after_a_failure_opens_the_orders_card_form(product, sandbox, ops, settings):
    settings.PAYMENTS_HANDLE_ACTIONS = False
    shopper = shopper_with_order(product)
    assert shopper.pay(payment_method_id="pm_card_authenticationRequired").status_code == 402
    scans.scan_events()  # anchors; the failure is found by the sweep of events next
    incident = Incident.objects.create(
        stripe_id=shopper.order.attempts.get().stripe_id, kind="requires_action_not_handled",
        attempt=shopper.order.attempts.get(), order=shopper.order, amount=5198,
        currency="eur", intent_status="requires_payment_method", source="scan")
    _, token = link_for(incident, ops)
    stranger = Client()
    page = stranger.get(f"/recover/{token}/")
    assert page.status_code == 200 and "with a card" in page.content.decode()
    response = stranger.post(f"/recover/{token}/")  # the form, without the script
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{shopper.order.reference}/"
    page = stranger.get(response["Location"]).content.decode()
    assert 'id="payment-form"' in page


@pytest.mark.parametrize("case", ["altered", "expired", "another_order", "paid", "canceled"])
def test_bad_links_say_so_and_reveal_nothing(product, sandbox, ops, case):
    shopper, incident = shopper_abandoned(product, sandbox, authenticated=False)
    link, token = link_for(incident, ops)
    if case == "altered":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif case == "expired":
        RecoveryLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())
    elif case == "another_order":
        other, other_incident = shopper_abandoned(product, sandbox, authenticated=False)
        _, other_token = link_for(other_incident, ops)
        token = other_token.split(":")[0] + ":" + token.split(":", 1)[1]
    elif case == "paid":
        Order.objects.filter(pk=shopper.order.pk).update(status=Order.Status.PAID)
    elif case == "canceled":
        Order.objects.filter(pk=shopper.order.pk).update(status=Order.Status.CANCELED)
    response = Client().get(f"/recover/{token}/")
    html = response.content.decode()
    assert response.status_code in (200, 404, 410)
    assert shopper.order.reference not in html and "shopper@example.com" not in html
    assert "client-secret" not in html
    expected = {"altered": "not valid", "expired": "expired", "canceled": "canceled",
                "another_order": "not valid", "paid": "already paid"}[case]
    assert expected in html
    used = Client().post(f"/recover/{token}/", headers={"Accept": "application/json"})
    assert expected in used.json()["error"] and "client" not in used.json()


def test_a_links_use_is_rate_limited_per_link_so_it_cannot_spend_the_stripe_budget(
        product, sandbox, ops, site_on_sandbox):
    """Each use reads the intent at Stripe while the payment waits at the bank: one link
    POSTed in a loop would spend the account's budget shoppers' /pay needs."""
    site_on_sandbox.PAYMENTS_RECOVER_RATE_PER_LINK = "3/m"
    _, incident = shopper_abandoned(product, sandbox, authenticated=False)
    _, token = link_for(incident, ops)
    _, other = link_for(incident, ops)
    client = Client(enforce_csrf_checks=True)
    same_window(seconds=60)
    reads_before = len(server_calls(sandbox))
    answers = [use(client, token) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[-1]["Retry-After"] == "60"
    assert "Too many attempts with this link" in answers[-1].json()["error"]
    assert len(server_calls(sandbox)) == reads_before + 3  # no read past the limit
    # Without the script, the form's POST gets the page saying so, not a 500.
    csrf = client.cookies["csrftoken"].value
    page = client.post(f"/recover/{token}/", {"csrfmiddlewaretoken": csrf})
    assert page.status_code == 429 and "Too many attempts" in page.content.decode()
    assert use(client, other).status_code == 200  # another link (the shop's next mail)


def test_a_links_use_is_rate_limited_per_address(product, sandbox, ops, site_on_sandbox):
    site_on_sandbox.PAYMENTS_RECOVER_RATE_PER_IP = "2/m"
    _, incident = shopper_abandoned(product, sandbox, authenticated=False)
    address = random_address()
    same_window(seconds=60)
    codes = [use(Client(REMOTE_ADDR=address), link_for(incident, ops)[1]).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]
    assert use(Client(REMOTE_ADDR=random_address()), link_for(incident, ops)[1]
               ).status_code == 200


def test_a_link_checker_s_head_request_is_answered_and_uses_nothing(product, sandbox, ops):
    _, incident = shopper_abandoned(product, sandbox, authenticated=False)
    link, token = link_for(incident, ops)
    assert Client().head(f"/recover/{token}/").status_code == 200
    link.refresh_from_db()
    assert link.used_at is None and link.open_count == 1
