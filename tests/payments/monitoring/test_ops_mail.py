"""Ops mail about payments in trouble (payments.monitoring.ops_mail): the daily digest
(counts and money per kind and currency, the urgent ones, admin links that work) and the
failed-authentication alert (above the threshold, not below, once per 24 hours); nothing
without recipients; customers' strings escaped."""

from __future__ import annotations

import html
import importlib
import re
import smtplib
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from payments.models import Incident, PaymentAttempt
from payments.monitoring import ops_mail, selectors, tasks
from paymentsite.celery import app
from tests.payments.factories import (
    OPS,
    SITE,
    asked_for_authentication,
    attempt_of,
    html_of,
    incident_of,
    order_of,
)

schedules = importlib.import_module("payments.migrations.0008_ops_mail_schedules")
Kind, Status = Incident.Kind, PaymentAttempt.Status


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
    assert ops_mail.ops_digest_send(now=a_day_of_incidents) == 2
    assert sorted(m.to[0] for m in mailbox) == sorted(OPS)
    message = mailbox[0]
    assert message.subject == \
        "Payments digest: 4 new payments in trouble in the last 24 hours, 3 still open"
    assert "Authentication failed: 3 (2 open), 35.99 EUR and 5.00 USD" in message.body
    assert "Expired unconfirmed: 1 (1 open), 1,500 JPY" in message.body
    body = html_of(message)
    for text in (message.body, body):
        assert "40.99" not in text and "99.99" not in text  # no sum across currencies
    assert "35.99 EUR" in body and "5.00 USD" in body and "1,500 JPY" in body


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin"])
def test_a_days_digests_cover_every_hour_once_across_a_dst_change(db, settings, zone):
    """The digest runs at 08:00 local: on the day clocks go back the two runs are 25
    hours apart, and in spring 23; an incident between them is in exactly one."""
    settings.TIME_ZONE = zone
    local = timezone.get_current_timezone()
    for days in ((datetime(2026, 10, 24), datetime(2026, 10, 25), datetime(2026, 10, 26)),
                 (datetime(2026, 10, 31), datetime(2026, 11, 1), datetime(2026, 11, 2)),
                 (datetime(2027, 3, 13), datetime(2027, 3, 14), datetime(2027, 3, 15)),
                 (datetime(2027, 3, 27), datetime(2027, 3, 28), datetime(2027, 3, 29))):
        runs = [day.replace(hour=8, tzinfo=local) for day in days]
        Incident.objects.all().delete()
        # Each half hour between the first run and the last.
        seen = runs[0] + timedelta(minutes=30)
        while seen < runs[2]:
            incident_of(Kind.EXPIRED, amount=1000, first_seen_at=seen)
            seen += timedelta(minutes=30)
        # The task passes timezone.now(), in UTC.
        counted = [ops_mail.ops_digest_content(now=run.astimezone(UTC))["count"]
                   for run in runs[1:]]
        assert sum(counted) == Incident.objects.count(), (zone, days, counted)


def test_the_digest_links_to_the_admin_list_of_those_incidents(mailbox, a_day_of_incidents,
                                                              admin_client):
    ops_mail.ops_digest_send(now=a_day_of_incidents)
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
    waiting = {"status": Status.REQUIRES_CONFIRMATION}  # passed the bank, awaits our confirm
    later = attempt_of(order_of(("Lamp", 4500, 1), email="later@example.com"), **waiting,
                       requires_confirmation_at=now - timedelta(minutes=10))
    sooner = attempt_of(order_of(("Desk", 19900, 1), email="<i>sooner</i>@example.com"),
                        **waiting, requires_confirmation_at=now - timedelta(minutes=40))
    gone = attempt_of(order_of(("Chair", 8000, 1), email="gone@example.com"), **waiting,
                      requires_confirmation_at=now - timedelta(minutes=70))
    paid = attempt_of(order_of(("Rug", 3000, 1), email="paid@example.com"),
                      status=Status.SUCCEEDED, requires_confirmation_at=now - timedelta(minutes=40))
    at_the_bank = attempt_of(order_of(("Vase", 6000, 1), email="bank@example.com"),
                             requires_action_at=now - timedelta(minutes=40))
    for attempt in (later, sooner, gone, paid):
        incident_of(Kind.CONFIRMATION_ABANDONED, attempt=attempt,
                    first_seen_at=now - timedelta(minutes=5))
    # Stripe's hour counts from passing the challenge: a payment at the bank has none.
    incident_of(Kind.ACTION_ABANDONED, attempt=at_the_bank,
                first_seen_at=now - timedelta(minutes=5))
    ops_mail.ops_digest_send(now=now)
    text, body = mailbox[0].body, html_of(mailbox[0])
    urgent = text.split("Most urgent")[1]
    assert urgent.index("199.00 EUR") < urgent.index("45.00 EUR")
    assert "<i>sooner</i>@example.com" in urgent
    assert "gone@example.com" not in text and "paid@example.com" not in text
    assert "bank@example.com" not in urgent
    assert "(in 20 minutes)" in urgent and "(in 50 minutes)" in urgent
    assert "&lt;i&gt;sooner&lt;/i&gt;@example.com" in body and "<i>sooner" not in body
    incident = Incident.objects.get(attempt=sooner)
    assert f"{SITE}/admin/payments/incident/{incident.pk}/change/" in body


def test_no_digest_without_recipients_or_without_new_incidents(mailbox, settings,
                                                              a_day_of_incidents):
    settings.PAYMENTS_OPS_EMAILS = []
    assert ops_mail.ops_digest_send(now=a_day_of_incidents) == 0
    settings.PAYMENTS_OPS_EMAILS = list(OPS)
    quiet_day = a_day_of_incidents + timedelta(days=3)
    assert ops_mail.ops_digest_send(now=quiet_day) == 0
    assert mailbox == []


def test_one_digest_per_day_however_often_the_task_runs(mailbox, a_day_of_incidents):
    assert tasks.ops_digest_task.apply().get() == 2
    assert tasks.ops_digest_task.apply().get() == 0  # delivered twice, or run by hand
    later = timezone.now() + timedelta(minutes=1)
    if timezone.localdate(later) != timezone.localdate():  # a minute before midnight
        later = timezone.now()  # the digest is one per day: "later" must be the same day
    assert ops_mail.ops_digest_send(now=later) == 0
    assert len(mailbox) == 2


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("connection closed")


def test_a_digest_that_failed_to_send_is_sent_by_the_retry(mailbox, settings,
                                                           a_day_of_incidents):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    with pytest.raises(smtplib.SMTPServerDisconnected):
        ops_mail.ops_digest_send(now=a_day_of_incidents)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert ops_mail.ops_digest_send(now=a_day_of_incidents) == 2


# --- the failed-authentication alert -----------------------------------------------------

def payments_asking(count: int) -> list[PaymentAttempt]:
    return [asked_for_authentication(order_of(("Lamp", 4500, 1))) for _ in range(count)]


def just_after() -> datetime:
    """A moment after every row made so far. The alert's window ends at its ``now`` cut
    to the whole second, so a ``now`` taken before a row is made may end it before that
    row (on a loaded machine, when a second begins in between)."""
    return timezone.now() + timedelta(seconds=1)


def test_the_alert_fires_above_the_threshold_once_per_day(mailbox, db):
    asking = payments_asking(4)
    incident_of(Kind.AUTHENTICATION_FAILED, attempt=asking[0])
    incident_of(Kind.REQUIRES_ACTION_NOT_HANDLED, attempt=asking[1])
    now = just_after()
    measured = selectors.authentication_failure_rate(since=now - timedelta(days=1),
                                                     until=now)
    assert (measured.failed, measured.asked) == (2, 4)

    assert ops_mail.ops_alert_check(now=now) is True
    assert sorted(m.to[0] for m in mailbox) == sorted(OPS)
    message = mailbox[0]
    assert message.subject == \
        "Payments alert: 50.0 % of authentications failed in the last 24 hours"
    for text in (message.body, html_of(message)):
        assert "2 of 4 payments that asked for authentication failed" in text
        assert "threshold of 25.0 %" in text and "at least 4 such payments" in text
        assert "Authentication failed" in text and "3-D Secure not handled" in text
        assert f"{SITE}/admin/payments/incident/?intent_created_at__gte=" in text

    incident_of(Kind.EXPIRED, attempt=asking[2])  # worse still, but alerted already
    assert ops_mail.ops_alert_check(now=now + timedelta(minutes=15)) is False
    assert tasks.ops_alert_task.apply().get() is False
    assert len(mailbox) == 2
    cache.delete(ops_mail.ALERT_CLAIM)  # what 24 hours do
    assert ops_mail.ops_alert_check(now=now + timedelta(minutes=30)) is True
    assert len(mailbox) == 4


def test_no_alert_at_or_below_the_threshold(mailbox, db):
    asking = payments_asking(4)
    incident_of(Kind.AUTHENTICATION_FAILED, attempt=asking[0])  # 1 of 4: 25%, not above
    assert ops_mail.ops_alert_check(now=just_after()) is False
    assert mailbox == []


def test_no_alert_below_the_minimum_of_payments_or_without_recipients(mailbox, settings, db):
    for attempt in payments_asking(3):
        incident_of(Kind.AUTHENTICATION_FAILED, attempt=attempt)  # 3 of 3, but only 3
    assert ops_mail.ops_alert_check(now=just_after()) is False
    incident_of(Kind.REQUIRES_ACTION_NOT_HANDLED)  # outside the checkout: counts on both sides
    now = just_after()  # a window holding the fourth payment: only no recipients stop it
    settings.PAYMENTS_OPS_EMAILS = []
    assert ops_mail.ops_alert_check(now=now) is False
    assert mailbox == []
    settings.PAYMENTS_OPS_EMAILS = ["ops@example.com"]
    assert ops_mail.ops_alert_check(now=now) is True


def test_the_alert_and_the_dashboard_report_the_same_rate(mailbox, client, django_user_model):
    """One definition of the failed-authentication rate: a shopper left at the bank's
    challenge is a failure for both (the alert once counted it as none)."""
    asking = payments_asking(4)
    incident_of(Kind.AUTHENTICATION_FAILED, attempt=asking[0])
    incident_of(Kind.ACTION_ABANDONED, attempt=asking[1])
    incident_of(Kind.REQUIRES_ACTION_NOT_HANDLED)  # outside the checkout: on both sides
    assert ops_mail.ops_alert_check(now=just_after()) is True
    alert = mailbox[0].body
    assert "3 of 5 payments that asked for authentication failed" in alert
    assert ": 60.0 %, above the alert threshold" in alert
    assert "Left at the bank's challenge: 1" in alert
    # The lines by kind need not add up to the failures (a payment left at the
    # challenge that then failed counts under both): the mail says so above them.
    assert ("By kind (a payment left at the bank's challenge that then failed or expired "
            "counts under each):\n") in alert

    merchant = django_user_model.objects.create_user("merchant", is_staff=True)
    merchant.groups.add(Group.objects.get(name="Merchants"))
    client.force_login(merchant)
    page = client.get("/admin/payments/dashboard/?days=7").content.decode()
    assert ">60.0 %</a>" in page  # the same number, written the same way
    assert ">3 failed</a> of 5 payments the bank asked to authenticate" in page


def test_an_alert_that_failed_to_send_is_sent_at_the_next_check(mailbox, settings, db):
    for attempt in payments_asking(4)[:2]:
        incident_of(Kind.AUTHENTICATION_FAILED, attempt=attempt)
    now = just_after()
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    with pytest.raises(smtplib.SMTPServerDisconnected):
        ops_mail.ops_alert_check(now=now)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert ops_mail.ops_alert_check(now=now) is True


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
