"""A shopper with a history, made the way the site makes it (checkout, /pay against the
sandbox, the stale scan, ops' actions), and another shopper beside her."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.utils import timezone

from payments.models import Incident, Order, PaymentAttempt, RecoveryLink
from payments.monitoring import scans
from payments.recovery import actions
from tests.conftest import ApplicationClient
from tests.payments.conftest import Shopper
from tests.payments.factories import incident_of, recovery_link_sent

CAROL = "carol@example.com"
OTHER = "dave@example.com"


def shopper_as(product, email: str) -> Shopper:
    """A fresh session that checked out two of ``product`` as ``email``."""
    client = ApplicationClient()
    client.post("/cart/", {"action": "add", "sku": product.sku, "quantity": 2})
    response = client.post("/checkout/", {"email": email})
    assert response.status_code == 302, response.content
    reference = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    return Shopper(client=client, order=Order.objects.get(reference=reference))


def at_the_bank(product, email: str) -> tuple[Shopper, PaymentAttempt]:
    """A shopper whose payment waits at the bank's challenge: in flight at Stripe."""
    shopper = shopper_as(product, email)
    secret = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()[
        "clientSecret"]
    return shopper, PaymentAttempt.objects.get(stripe_id=secret.split("_secret_")[0])


def abandoned(product, email: str) -> tuple[Shopper, Incident]:
    """A shopper who left the bank's challenge an hour ago; the stale sweep opened the
    incident."""
    shopper, attempt = at_the_bank(product, email)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(
        requires_action_at=timezone.now() - timedelta(hours=1))
    scans.scan_stale()
    return shopper, Incident.objects.get(stripe_id=attempt.stripe_id)


def execute(action: str, incidents, user, **extra):
    record = actions.recovery_issue(action=action, incidents=list(incidents), user=user)
    record = actions.recovery_submit(token=record.pk, action=action, user=user, **extra)
    return actions.recovery_run(action_id=record.pk)


@pytest.fixture
def quick_scans(site_on_sandbox, mailoutbox, settings):
    site_on_sandbox.PAYMENTS_BACKGROUND_CALLS_PER_SECOND = 0
    site_on_sandbox.PAYMENTS_AUTO_FINALIZE = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://shop.example.com/"


@dataclass
class History:
    paid: Shopper  # paid by card; its receipt still due
    canceled: Shopper  # left at the bank, mailed a link (opened), then canceled by ops
    incident: Incident  # the canceled one's
    link: RecoveryLink
    outside: Incident  # a payment made outside the checkout, with Stripe's receipt_email
    other: Shopper  # another shopper, left at the bank too
    other_incident: Incident


@pytest.fixture
def history(quick_scans, product, ops, client) -> History:
    # Carol types her address with capitals once: it is the same address.
    paid = shopper_as(product, "Carol@Example.com")
    assert paid.pay(payment_method_id="pm_card_visa").json()["success"] is True
    canceled, incident = abandoned(product, CAROL)
    link = recovery_link_sent(incident=incident, user=ops)
    opened = client.get(mail_link(link))
    assert opened.status_code == 200, opened.status_code
    assert execute("cancel", [incident], ops, reason="requested_by_customer").done == 1
    outside = incident_of("card_declined", email="CAROL@example.com")
    other, other_incident = abandoned(product, OTHER)
    # An entry the ops actions wrote before they named incidents without the email.
    LogEntry.objects.log_actions(user_id=ops.pk, queryset=[incident], action_flag=CHANGE,
                                 change_message="Refresh from Stripe: refreshed")
    assert CAROL in LogEntry.objects.filter(object_id=str(incident.pk)).latest("pk").object_repr
    return History(paid=paid, canceled=canceled, incident=incident,
                   link=RecoveryLink.objects.get(pk=link.pk), outside=outside,
                   other=other, other_incident=other_incident)


def mail_link(link: RecoveryLink) -> str:
    """The path of the link the shopper was mailed."""
    from django.core import mail

    [message] = [m for m in mail.outbox if m.to == [link.email]]
    return "/recover/" + message.body.split("/recover/", 1)[1].split("/", 1)[0] + "/"
