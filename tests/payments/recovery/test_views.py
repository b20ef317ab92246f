"""The page a recovery link opens (payments.recovery.views), against the sandbox: the
bank's challenge again, or the card form; bad links say so and reveal nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from payments.models import Incident, Order, RecoveryLink
from payments.monitoring import scans
from payments.recovery import links
from tests.payments.conftest import shopper_abandoned, shopper_with_order

pytestmark = pytest.mark.usefixtures("quick_scans")


def link_for(incident: Incident, ops: User, **changes) -> tuple[RecoveryLink, str]:
    link = RecoveryLink.objects.create(
        order=incident.order, incident=incident, email=incident.order.email, created_by=ops,
        expires_at=timezone.now() + timedelta(days=2), **changes)
    return link, links.recovery_link_token(link=link)


def test_a_link_runs_the_banks_challenge_again_in_a_fresh_browser(product, sandbox, ops):
    _, incident = shopper_abandoned(product, sandbox, authenticated=False)
    _, token = link_for(incident, ops)
    stranger = Client()  # no login, another browser
    page = stranger.get(f"/recover/{token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-client-secret="pi_' in html and incident.order.reference in html
    sandbox.authenticate(incident.stripe_id, "complete")  # the modal's button
    paid = stranger.post("/pay", {"payment_intent_id": incident.stripe_id,
                                  "order_reference": incident.order.reference},
                         content_type="application/json")
    assert paid.json()["success"] is True
    incident.refresh_from_db()
    assert incident.status == "recovered"
    assert stranger.get(f"/recover/{token}/").status_code == 200  # a reload: paid, says so


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
    response = stranger.get(f"/recover/{token}/")
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{shopper.order.reference}/"
    page = stranger.get(response["Location"]).content.decode()
    assert 'id="payment-form"' in page


@pytest.mark.parametrize("case", ["altered", "expired", "used", "another_order", "paid"])
def test_bad_links_say_so_and_reveal_nothing(product, sandbox, ops, case):
    shopper, incident = shopper_abandoned(product, sandbox, authenticated=False)
    link, token = link_for(incident, ops)
    if case == "altered":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif case == "expired":
        RecoveryLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())
    elif case == "used":
        assert Client().get(f"/recover/{token}/").status_code == 200
    elif case == "another_order":
        other, other_incident = shopper_abandoned(product, sandbox, authenticated=False)
        _, other_token = link_for(other_incident, ops)
        token = other_token.split(":")[0] + ":" + token.split(":", 1)[1]
    elif case == "paid":
        Order.objects.filter(pk=shopper.order.pk).update(status=Order.Status.PAID)
    response = Client().get(f"/recover/{token}/")
    html = response.content.decode()
    assert response.status_code in (200, 404, 410)
    assert shopper.order.reference not in html and "shopper@example.com" not in html
    assert "client-secret" not in html
    expected = {"altered": "not valid", "expired": "expired", "used": "already used",
                "another_order": "not valid", "paid": "already paid"}[case]
    assert expected in html
