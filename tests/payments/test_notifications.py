"""Mail about payments in trouble: the shopper's recovery link (what it says, the link it
carries), ops' daily digest (counts and money per kind and currency, the urgent ones,
admin links that work) and the failed-authentication alert (above the threshold, not
below, once per 24 hours); nothing without recipients; customers' strings escaped."""

from __future__ import annotations

import html
import importlib
import itertools
import re
import smtplib
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.core import signing
from django.core.cache import cache
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from payments import notifications, recovery, tasks
from payments.models import (
    Incident,
    Order,
    OrderLine,
    PaymentAttempt,
    PaymentEvent,
    Product,
    RecoveryLink,
)
from paymentsite.celery import app

schedules = importlib.import_module("payments.migrations.0008_ops_mail_schedules")
Kind, Status = Incident.Kind, PaymentAttempt.Status
SITE = "https://shop.example.com"
OPS = ["ops@example.com", "lead@example.com"]
ids = itertools.count(1)


@pytest.fixture
def mailbox(db, settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = SITE + "/"
    settings.DEFAULT_FROM_EMAIL = "Shop <shop@example.com>"
    settings.PAYMENTS_OPS_EMAILS = list(OPS)
    settings.PAYMENTS_ALERT_FAILED_AUTH_RATE = 0.25
    settings.PAYMENTS_ALERT_MIN_PAYMENTS = 4
    cache.clear()
    yield mailoutbox
    cache.clear()


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops-person")


def order_of(*lines: tuple[str, int, int], currency: str = "eur",
             email: str = "shopper@example.com") -> Order:
    """An open order of (name, unit price, quantity) lines."""
    order = Order.objects.create(email=email, currency=currency,
                                 amount=sum(price * n for _, price, n in lines))
    for name, price, quantity in lines:
        product = Product.objects.create(sku=f"sku-{next(ids)}", name=name, price=price,
                                         currency=currency)
        OrderLine.objects.create(order=order, product=product, name=name, unit_price=price,
                                 quantity=quantity)
    return order


def attempt_of(order: Order, *, status: str = Status.REQUIRES_ACTION,
               requires_action_at=None) -> PaymentAttempt:
    return PaymentAttempt.objects.create(
        order=order, number=order.attempts.count() + 1, stripe_id=f"pi_test{next(ids)}",
        create_payment_method="pm_card_threeDSecure2Required", status=status,
        amount=order.amount, currency=order.currency, confirmation_method="manual",
        card_brand="visa", card_last4="3155", requires_action_at=requires_action_at)


def incident_of(kind: str, *, amount: int = 2599, currency: str = "eur", first_seen_at=None,
                status: str = Incident.Status.OPEN, attempt: PaymentAttempt | None = None,
                email: str = "", intent_status: str = "") -> Incident:
    return Incident.objects.create(
        kind=kind, status=status, amount=attempt.amount if attempt else amount,
        currency=attempt.currency if attempt else currency,
        stripe_id=attempt.stripe_id if attempt else f"pi_outside{next(ids)}",
        attempt=attempt, order=attempt.order if attempt else None,
        customer_email=email or (attempt.order.email if attempt else "shopper@example.com"),
        card_last4="3155", intent_status=intent_status or (attempt.status if attempt else
                                                          "requires_payment_method"),
        first_seen_at=first_seen_at or timezone.now(), source="scan")


def asked_for_authentication(order: Order) -> PaymentAttempt:
    """An attempt whose ledger says it entered requires_action just now."""
    attempt = attempt_of(order, requires_action_at=timezone.now())
    PaymentEvent.objects.create(attempt=attempt, from_status="creating",
                                to_status=Status.REQUIRES_ACTION, source="pay", actor="test")
    return attempt


def html_of(message) -> str:
    [(body, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return body


# --- the recovery link -------------------------------------------------------------------

def test_the_recovery_mail_names_the_order_its_lines_and_a_link_that_works_once(mailbox,
                                                                              staff):
    order = order_of(("Espresso cups", 2599, 2), ("Saucer", 450, 1))
    attempt = attempt_of(order)
    incident = incident_of(Kind.ACTION_ABANDONED, attempt=attempt)
    link = recovery.recovery_link_send(incident=incident, user=staff)

    [message] = mailbox
    assert message.to == ["shopper@example.com"]
    assert message.from_email == "Shop <shop@example.com>"
    assert message.subject == f"Finish paying for your order {order.reference}"
    token = re.search(rf"{SITE}/recover/([^/\s]+)/", message.body).group(1)
    assert signing.loads(token, salt=recovery.LINK_SALT) == link.pk
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
        assert "works once" in text
        # no card data, no client secret, no intent id: the link alone opens the order
        assert "3155" not in text and "secret" not in text and attempt.stripe_id not in text
    assert f'<a href="{url}"' in body


def test_the_recovery_mail_says_why_for_a_failed_challenge(mailbox, staff):
    incident = incident_of(Kind.AUTHENTICATION_FAILED,
                           attempt=attempt_of(order_of(("Lamp", 4500, 1)),
                                              status=Status.REQUIRES_PAYMENT_METHOD))
    recovery.recovery_link_send(incident=incident, user=staff)
    [message] = mailbox
    assert "the confirmation did not go through" in message.body


def test_customer_strings_are_escaped_in_html_and_plain_in_text(mailbox, staff):
    order = order_of(("<b>Cups</b> & saucers", 1500, 3), currency="jpy")
    link = RecoveryLink.objects.create(order=order, email=order.email, created_by=staff,
                                       expires_at=timezone.now() + timedelta(hours=1))
    notifications.recovery_link_mail(link=link, token="tok")
    [message] = mailbox
    assert "3 × <b>Cups</b> & saucers: 4,500 JPY (1,500 JPY each)" in message.body
    body = html_of(message)
    assert "&lt;b&gt;Cups&lt;/b&gt; &amp; saucers" in body and "<b>Cups" not in body
    assert "4,500 JPY" in body and "(in 60 minutes)" in body


@pytest.mark.parametrize(("delta", "words"), [
    (timedelta(seconds=20), "0 minutes"), (timedelta(seconds=50), "1 minute"),
    (timedelta(minutes=119), "119 minutes"), (timedelta(hours=5, minutes=20), "5 hours"),
    (timedelta(hours=47, minutes=59), "2 days"), (timedelta(days=7), "7 days"),
    (timedelta(minutes=-5), "0 minutes"),
])
def test_times_to_come_are_rounded_as_people_say_them(delta, words):
    assert notifications.in_words(delta) == words


def test_the_link_is_built_from_the_recover_route(settings):
    settings.SITE_URL = SITE
    assert notifications.recovery_url(token="abc:def") == f"{SITE}/recover/abc:def/"


# --- the digest ----------------------------------------------------------------------------

@pytest.fixture
def a_day_of_incidents(db):
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    incident_of(Kind.AUTHENTICATION_FAILED, amount=2599, first_seen_at=hour_ago)
    incident_of(Kind.AUTHENTICATION_FAILED, amount=1000, first_seen_at=hour_ago,
                status=Incident.Status.RECOVERED)
    incident_of(Kind.AUTHENTICATION_FAILED, amount=500, currency="usd", first_seen_at=hour_ago,
                email='"<script>alert(1)</script>"@example.com')
    incident_of(Kind.EXPIRED, amount=1500, currency="jpy", first_seen_at=hour_ago)
    incident_of(Kind.EXPIRED, amount=9999, first_seen_at=now - timedelta(hours=30))  # old
    return now


def test_the_digest_counts_new_incidents_by_kind_with_money_per_currency(mailbox,
                                                                        a_day_of_incidents):
    assert notifications.ops_digest_send(now=a_day_of_incidents) == 2
    assert sorted(m.to[0] for m in mailbox) == sorted(OPS)
    message = mailbox[0]
    assert message.subject == \
        "Payments digest: 4 new incidents in the last 24 hours, 3 still open"
    assert "Authentication failed: 3 (2 open), 35.99 EUR and 5.00 USD" in message.body
    assert "Expired unconfirmed: 1 (1 open), 1,500 JPY" in message.body
    body = html_of(message)
    for text in (message.body, body):
        assert "40.99" not in text and "99.99" not in text  # no sum across currencies
    assert "35.99 EUR" in body and "5.00 USD" in body and "1,500 JPY" in body


def test_the_digest_links_to_the_admin_list_of_those_incidents(mailbox, a_day_of_incidents,
                                                              admin_client):
    notifications.ops_digest_send(now=a_day_of_incidents)
    body = html_of(mailbox[0])
    links = [html.unescape(href) for href in re.findall(r'href="([^"]+)"', body)]
    everything = next(link for link in links if "kind__exact" not in link)
    assert everything.startswith(f"{SITE}/admin/payments/incident/?first_seen_at__gte=")
    failed = next(link for link in links if "kind__exact=authentication_failed" in link)
    for link, count in ((everything, 4), (failed, 3)):
        page = admin_client.get(link.removeprefix(SITE))
        assert page.status_code == 200  # bad filter values would redirect to ?e=1
        assert page.context["cl"].result_count == count
        assert link in mailbox[0].body


def test_the_digest_lists_payments_about_to_expire_soonest_first(mailbox, db):
    now = timezone.now()
    later = attempt_of(order_of(("Lamp", 4500, 1), email="later@example.com"),
                       requires_action_at=now - timedelta(minutes=10))
    sooner = attempt_of(order_of(("Desk", 19900, 1), email="<i>sooner</i>@example.com"),
                        requires_action_at=now - timedelta(minutes=40))
    gone = attempt_of(order_of(("Chair", 8000, 1), email="gone@example.com"),
                      requires_action_at=now - timedelta(minutes=70))
    paid = attempt_of(order_of(("Rug", 3000, 1), email="paid@example.com"),
                      status=Status.SUCCEEDED, requires_action_at=now - timedelta(minutes=40))
    for attempt in (later, sooner, gone, paid):
        incident_of(Kind.ACTION_ABANDONED, attempt=attempt,
                    first_seen_at=now - timedelta(minutes=5))
    notifications.ops_digest_send(now=now)
    text, body = mailbox[0].body, html_of(mailbox[0])
    urgent = text.split("Most urgent")[1]
    assert urgent.index("199.00 EUR") < urgent.index("45.00 EUR")
    assert "<i>sooner</i>@example.com" in urgent
    assert "gone@example.com" not in text and "paid@example.com" not in text
    assert "(in 20 minutes)" in urgent and "(in 50 minutes)" in urgent
    assert "&lt;i&gt;sooner&lt;/i&gt;@example.com" in body and "<i>sooner" not in body
    incident = Incident.objects.get(attempt=sooner)
    assert f"{SITE}/admin/payments/incident/{incident.pk}/change/" in body


def test_no_digest_without_recipients_or_without_new_incidents(mailbox, settings,
                                                              a_day_of_incidents):
    settings.PAYMENTS_OPS_EMAILS = []
    assert notifications.ops_digest_send(now=a_day_of_incidents) == 0
    settings.PAYMENTS_OPS_EMAILS = list(OPS)
    quiet_day = a_day_of_incidents + timedelta(days=3)
    assert notifications.ops_digest_send(now=quiet_day) == 0
    assert mailbox == []


def test_one_digest_per_day_however_often_the_task_runs(mailbox, a_day_of_incidents):
    assert tasks.ops_digest_task.apply().get() == 2
    assert tasks.ops_digest_task.apply().get() == 0  # delivered twice, or run by hand
    assert notifications.ops_digest_send(now=timezone.now() + timedelta(minutes=1)) == 0
    assert len(mailbox) == 2


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("connection closed")


def test_a_digest_that_failed_to_send_is_sent_by_the_retry(mailbox, settings,
                                                           a_day_of_incidents):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    with pytest.raises(smtplib.SMTPServerDisconnected):
        notifications.ops_digest_send(now=a_day_of_incidents)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notifications.ops_digest_send(now=a_day_of_incidents) == 2


# --- the failed-authentication alert -----------------------------------------------------

def payments_asking(count: int) -> list[PaymentAttempt]:
    return [asked_for_authentication(order_of(("Lamp", 4500, 1))) for _ in range(count)]


def test_the_alert_fires_above_the_threshold_once_per_day(mailbox, db):
    asking = payments_asking(4)
    incident_of(Kind.AUTHENTICATION_FAILED, attempt=asking[0])
    incident_of(Kind.REQUIRES_ACTION_NOT_HANDLED, attempt=asking[1])
    now = timezone.now() + timedelta(seconds=1)
    measured = notifications.failed_authentication_rate(since=now - timedelta(days=1),
                                                        until=now)
    assert (measured.failures, measured.asked) == (2, 4)

    assert notifications.ops_alert_check(now=now) is True
    assert sorted(m.to[0] for m in mailbox) == sorted(OPS)
    message = mailbox[0]
    assert message.subject == \
        "Payments alert: 50% of authentications failed in the last 24 hours"
    for text in (message.body, html_of(message)):
        assert "2 of 4 payments that asked for authentication failed" in text
        assert "threshold of 25%" in text and "at least 4 such payments" in text
        assert "Authentication failed" in text and "3-D Secure not handled" in text
        assert f"{SITE}/admin/payments/incident/?first_seen_at__gte=" in text

    incident_of(Kind.EXPIRED, attempt=asking[2])  # worse still, but alerted already
    assert notifications.ops_alert_check(now=now + timedelta(minutes=15)) is False
    assert tasks.ops_alert_task.apply().get() is False
    assert len(mailbox) == 2
    cache.delete(notifications.ALERT_CLAIM)  # what 24 hours do
    assert notifications.ops_alert_check(now=now + timedelta(minutes=30)) is True
    assert len(mailbox) == 4


def test_no_alert_at_or_below_the_threshold(mailbox, db):
    asking = payments_asking(4)
    incident_of(Kind.AUTHENTICATION_FAILED, attempt=asking[0])  # 1 of 4: 25%, not above
    assert notifications.ops_alert_check(now=timezone.now() + timedelta(seconds=1)) is False
    assert mailbox == []


def test_no_alert_below_the_minimum_of_payments_or_without_recipients(mailbox, settings, db):
    for attempt in payments_asking(3):
        incident_of(Kind.AUTHENTICATION_FAILED, attempt=attempt)  # 3 of 3, but only 3
    now = timezone.now() + timedelta(seconds=1)
    assert notifications.ops_alert_check(now=now) is False
    incident_of(Kind.REQUIRES_ACTION_NOT_HANDLED)  # outside the checkout: counts on both sides
    settings.PAYMENTS_OPS_EMAILS = []
    assert notifications.ops_alert_check(now=now) is False
    assert mailbox == []
    settings.PAYMENTS_OPS_EMAILS = ["ops@example.com"]
    assert notifications.ops_alert_check(now=now) is True


def test_the_rate_counts_each_payment_once_and_only_within_the_day(db):
    [twice, legacy, *_] = payments_asking(3)
    PaymentEvent.objects.create(attempt=twice, from_status="requires_confirmation",
                                to_status=Status.REQUIRES_ACTION, source="pay", actor="test")
    incident_of(Kind.AUTHENTICATION_FAILED, attempt=twice)
    incident_of(Kind.EXPIRED, attempt=twice)  # one payment, two failure kinds
    not_handled = attempt_of(order_of(("Lamp", 4500, 1)), status=Status.REQUIRES_PAYMENT_METHOD)
    PaymentEvent.objects.create(attempt=not_handled, from_status="creating",
                                to_status=Status.REQUIRES_PAYMENT_METHOD,
                                error_code="card_declined",
                                decline_code="authentication_not_handled", source="pay",
                                actor="test")
    incident_of(Kind.ACTION_ABANDONED, attempt=legacy)  # not a failure
    incident_of(Kind.AUTHENTICATION_FAILED, first_seen_at=timezone.now() - timedelta(days=2))
    now = timezone.now() + timedelta(seconds=1)
    measured = notifications.failed_authentication_rate(since=now - timedelta(days=1),
                                                        until=now)
    assert (measured.failures, measured.asked) == (1, 4)
    assert measured.by_kind == [("Authentication failed", 1), ("Expired unconfirmed", 1)]
    later = now + timedelta(days=2)
    assert notifications.failed_authentication_rate(since=later - timedelta(days=1),
                                                    until=later).asked == 0


def test_an_alert_that_failed_to_send_is_sent_at_the_next_check(mailbox, settings, db):
    for attempt in payments_asking(4)[:2]:
        incident_of(Kind.AUTHENTICATION_FAILED, attempt=attempt)
    now = timezone.now() + timedelta(seconds=1)
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    with pytest.raises(smtplib.SMTPServerDisconnected):
        notifications.ops_alert_check(now=now)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notifications.ops_alert_check(now=now) is True


# --- the beat schedules (migration 0008) ---------------------------------------------------

def test_the_migration_schedules_the_digest_daily_and_the_alert_every_quarter_hour(db):
    schedules.schedules_create(django_apps, None)  # the function uses no schema editor
    schedules.schedules_create(django_apps, None)  # idempotent
    tasks_ = {t.task: t for t in PeriodicTask.objects.filter(name__startswith="Ops mail:")}
    assert sorted(tasks_) == ["payments.tasks.ops_alert_task", "payments.tasks.ops_digest_task"]
    digest = tasks_["payments.tasks.ops_digest_task"]
    assert (digest.crontab.minute, digest.crontab.hour, digest.crontab.day_of_week,
            str(digest.crontab.timezone), digest.interval) == ("0", "8", "*", "UTC", None)
    alert = tasks_["payments.tasks.ops_alert_task"]
    assert (alert.interval.every, alert.interval.period, alert.crontab) == \
        (900, "seconds", None)
    assert all(t.enabled for t in tasks_.values())
    assert PeriodicTasks.last_change() is not None
    app.loader.import_default_modules()
    assert all(name in app.tasks for name in tasks_)
    schedules.schedules_remove(django_apps, None)
    assert not PeriodicTask.objects.filter(name__startswith="Ops mail:").exists()
