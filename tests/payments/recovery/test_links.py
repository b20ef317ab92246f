"""The recovery link's mail (payments.recovery.links): what it says, the link it carries,
customers' strings escaped."""

from __future__ import annotations

import re
from datetime import timedelta

from django.core import signing
from django.urls import reverse
from django.utils import timezone

from payments.models import Incident, PaymentAttempt, RecoveryLink
from payments.recovery import links
from tests.payments.factories import (
    SITE,
    attempt_of,
    html_of,
    incident_of,
    order_of,
    recovery_link_sent,
)

Kind, Status = Incident.Kind, PaymentAttempt.Status


def test_the_recovery_mail_names_the_order_its_lines_and_a_link_that_works_until_paid(
        mailbox, staff):
    order = order_of(("Espresso cups", 2599, 2), ("Saucer", 450, 1))
    attempt = attempt_of(order)
    incident = incident_of(Kind.ACTION_ABANDONED, attempt=attempt)
    link = recovery_link_sent(incident=incident, user=staff)

    [message] = mailbox
    assert message.to == ["shopper@example.com"]
    assert message.from_email == "Shop <shop@example.com>"
    assert message.subject == f"Finish paying for your order {order.reference}"
    token = re.search(rf"{SITE}/recover/([^/\s]+)/", message.body).group(1)
    assert signing.loads(token, salt=links.LINK_SALT) == link.pk
    url = f"{SITE}{reverse('recover', args=[token])}"
    assert url == f"{SITE}/recover/{token}/"
    expires = timezone.localtime(link.expires_at).strftime("%-d %B %Y, %H:%M")
    body = html_of(message)
    for text in (message.body, body):
        assert order.reference in text
        assert "2 × Espresso cups" in text and "25.99 EUR each" in text
        assert "51.98 EUR" in text and "1 × Saucer" in text and "56.48 EUR" in text
        assert "your bank asked you to confirm the payment" in text
        assert "wasn't finished" in text or "wasn&#x27;t finished" in text
        assert url in text
        assert f"{expires} UTC (in 2 days)" in text  # 48 hours by default
        assert "works until the order is paid" in text
        # no card data, no client secret, no intent id: the link alone opens the order
        assert "3155" not in text and "secret" not in text and attempt.stripe_id not in text
    assert f'<a href="{url}"' in body


def test_the_recovery_mail_says_why_for_a_failed_challenge(mailbox, staff):
    incident = incident_of(Kind.AUTHENTICATION_FAILED,
                           attempt=attempt_of(order_of(("Lamp", 4500, 1)),
                                              status=Status.REQUIRES_PAYMENT_METHOD))
    recovery_link_sent(incident=incident, user=staff)
    [message] = mailbox
    assert "the confirmation did not go through" in message.body


def test_the_recovery_mail_of_the_old_guides_failure_does_not_say_the_bank_asked(mailbox,
                                                                                  staff):
    """A payment the old guide failed (3-D Secure not handled) never showed the shopper the
    bank's check: the mail said the bank "asked you to confirm" (a merchant leaving the
    old guide)."""
    incident = incident_of(Kind.REQUIRES_ACTION_NOT_HANDLED,
                           attempt=attempt_of(order_of(("Lamp", 4500, 1)),
                                              status=Status.REQUIRES_PAYMENT_METHOD))
    recovery_link_sent(incident=incident, user=staff)
    [message] = mailbox
    for text in (message.body, html_of(message)):
        assert "our checkout could not ask you for it then" in text
        assert "asked you to confirm" not in text


def test_customer_strings_are_escaped_in_html_and_plain_in_text(mailbox, staff):
    order = order_of(("<b>Cups</b> & saucers", 1500, 3), currency="jpy")
    link = RecoveryLink.objects.create(order=order, email=order.email, created_by=staff,
                                       expires_at=timezone.now() + timedelta(hours=1))
    links.recovery_link_mail(link=link, token="tok")
    [message] = mailbox
    assert "3 × <b>Cups</b> & saucers: 4,500 JPY (1,500 JPY each)" in message.body
    body = html_of(message)
    assert "&lt;b&gt;Cups&lt;/b&gt; &amp; saucers" in body and "<b>Cups" not in body
    assert "4,500 JPY" in body and "(in 60 minutes)" in body


def test_the_link_is_built_from_the_recover_route(settings):
    settings.SITE_URL = SITE
    assert links.recovery_url(token="abc:def") == f"{SITE}/recover/abc:def/"
