"""The receipt email: what it says, money as on the site, and one per paid order, sent
by the drain of the receipts due (the order row is the outbox), never by /pay."""

from __future__ import annotations

import io
import json
import logging
import re
import smtplib
import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection
from django.test import Client
from django.utils import timezone

from payments.mail.receipts import RECEIPT_MAX_REFUSALS, order_receipt_send, receipts_due_send
from payments.models import Order, OrderLine, Product
from paymentsite.logging import RedactingFilter
from tests.conftest import need
from tests.payments.conftest import shopper_with_order


@pytest.fixture
def mailbox(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://shop.example.com/"
    mail.outbox.clear()
    return mail.outbox


@pytest.fixture
def paid_order(site_on_sandbox, product, mailbox) -> Order:
    shopper = shopper_with_order(product, quantity=2)  # 2 × 25.99 EUR
    response = shopper.pay(payment_method_id="pm_card_visa")
    assert response.status_code == 200, response.content
    order = shopper.order_now()
    assert order.status == Order.Status.PAID and order.receipt_sent_at is None
    return order


def test_the_receipt_lists_the_order_in_money_with_a_link(paid_order, mailbox):
    order_receipt_send(order_id=paid_order.pk)
    [message] = mailbox
    assert message.to == ["shopper@example.com"]
    assert message.subject == f"Your receipt for order {paid_order.reference}"
    paid_on = timezone.localtime(paid_order.paid_at).strftime("%-d %B %Y, %H:%M")
    link = re.search(r"https://shop\.example\.com/order-status/[^/\s\"]+/", message.body).group(0)
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    for body in (message.body, html):
        assert paid_order.reference in body
        assert "2 × Espresso cups" in body and "25.99 EUR each" in body
        assert "51.98 EUR" in body and "5198" not in body
        assert paid_on in body
        assert link in body
    assert f'<a href="{link}">' in html


def test_the_receipt_is_sent_once_however_often_it_is_asked(paid_order, mailbox):
    order_receipt_send(order_id=paid_order.pk)
    order_receipt_send(order_id=paid_order.pk)
    assert len(mailbox) == 1
    paid_order.refresh_from_db()
    assert paid_order.receipt_sent_at is not None


@pytest.fixture
def publishes(monkeypatch) -> list[str]:
    """Every Celery task queued (any task, any broker): /pay must queue none."""
    from celery.app.task import Task

    queued: list[str] = []
    monkeypatch.setattr(Task, "apply_async",
                        lambda self, *args, **options: queued.append(self.name))
    return queued


def test_paying_queues_nothing_and_the_drain_sends_one_receipt(site_on_sandbox, product,
                                                               mailbox, publishes,
                                                               django_capture_on_commit_callbacks):
    shopper = shopper_with_order(product)
    with django_capture_on_commit_callbacks(execute=True):
        shopper.pay(payment_method_id="pm_card_visa")
    with django_capture_on_commit_callbacks(execute=True):
        shopper.pay(payment_method_id="pm_card_visa")  # already paid: no second receipt
    assert publishes == [] and mailbox == []  # a worker mails it, not /pay
    assert Order.objects.filter(pk=shopper.order.pk, receipt_sent_at__isnull=True).exists()
    assert receipts_due_send() == 1
    assert receipts_due_send() == 0
    assert [message.to for message in mailbox] == [["shopper@example.com"]]
    assert publishes == []


def test_an_unpaid_order_gets_no_receipt(site_on_sandbox, product, mailbox):
    shopper = shopper_with_order(product)
    shopper.pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds")
    order_receipt_send(order_id=shopper.order.pk)
    assert mailbox == [] and shopper.order_now().receipt_sent_at is None


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("connection closed")


def test_a_failed_send_can_be_tried_again(paid_order, mailbox, settings):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    with pytest.raises(smtplib.SMTPServerDisconnected):
        order_receipt_send(order_id=paid_order.pk)
    paid_order.refresh_from_db()
    assert paid_order.receipt_sent_at is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    order_receipt_send(order_id=paid_order.pk)
    assert len(mailbox) == 1


def test_zero_decimal_money_and_names_are_written_as_on_the_site(db, mailbox, settings):
    settings.SITE_URL = "http://127.0.0.1:8000"  # the development default
    cups = Product.objects.create(sku="tea-cups", name="Cups & <saucers>", price=1500,
                                  currency="jpy")
    order = Order.objects.create(email="shopper@example.com", amount=4500, currency="jpy",
                                 status=Order.Status.PAID, paid_at=timezone.now())
    OrderLine.objects.create(order=order, product=cups, name=cups.name, unit_price=1500,
                             quantity=3)
    order_receipt_send(order_id=order.pk)
    [message] = mailbox
    [(html, _)] = message.alternatives
    assert "3 × Cups & <saucers>: 4,500 JPY (1,500 JPY each)" in message.body
    assert "Cups &amp; &lt;saucers&gt;" in html and "4,500 JPY" in html
    assert "http://127.0.0.1:8000/order-status/" in message.body


def test_the_checkout_form_promises_only_the_receipt(site_on_sandbox, product, client):
    client.post("/cart/", {"action": "add", "sku": product.sku, "quantity": 1})
    html = client.get("/checkout/").content.decode()
    assert "receipt" in html and "interrupted" not in html


def test_a_broker_that_is_down_does_not_hold_the_receipt(site_on_sandbox, product, mailbox,
                                                          django_capture_on_commit_callbacks,
                                                          monkeypatch):
    from celery.app.task import Task
    from kombu.exceptions import OperationalError

    def broker_down(*args, **options):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(Task, "apply_async", broker_down)
    shopper = shopper_with_order(product)
    with django_capture_on_commit_callbacks(execute=True):
        response = shopper.pay(payment_method_id="pm_card_visa")
    assert response.status_code == 200 and response.json()["success"] is True
    assert shopper.order_now().status == "paid" and mailbox == []
    assert receipts_due_send() == 1 and len(mailbox) == 1  # the worker needs no broker


def test_the_drain_mails_every_receipt_due_once_oldest_first(db, mailoutbox):
    """A crash between the payment's commit and any sending loses nothing: the paid order
    is the receipt due, whoever paid it (/pay, a webhook, a scan) and whenever."""
    late = Order.objects.create(email="late@example.com", amount=1200, currency="eur",
                                status=Order.Status.PAID,
                                paid_at=timezone.now() - timedelta(minutes=30))
    fresh = Order.objects.create(email="fresh@example.com", amount=1200, currency="eur",
                                 status=Order.Status.PAID, paid_at=timezone.now())
    Order.objects.create(email="open@example.com", amount=1200, currency="eur")
    Order.objects.create(email="sent@example.com", amount=1200, currency="eur",
                         status=Order.Status.PAID, paid_at=timezone.now(),
                         receipt_sent_at=timezone.now())
    assert receipts_due_send(limit=1) == 1
    assert receipts_due_send() == 1
    assert receipts_due_send() == 0
    assert [message.to for message in mailoutbox] == [["late@example.com"],
                                                      ["fresh@example.com"]]
    late.refresh_from_db()
    fresh.refresh_from_db()
    assert late.receipt_sent_at is not None and fresh.receipt_sent_at is not None


class CrashingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise KeyboardInterrupt  # the worker stopped in the middle of the send


def test_a_drain_stopped_mid_send_leaves_the_receipt_due(paid_order, mailbox, settings):
    settings.EMAIL_BACKEND = f"{__name__}.CrashingBackend"
    with pytest.raises(KeyboardInterrupt):
        receipts_due_send()
    paid_order.refresh_from_db()
    assert paid_order.receipt_sent_at is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert receipts_due_send() == 1 and len(mailbox) == 1


def test_a_mail_server_that_fails_is_tried_again_at_the_next_drain(paid_order, mailbox,
                                                                   settings, caplog):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    assert receipts_due_send() == 0
    assert "not sent" in caplog.text
    paid_order.refresh_from_db()
    assert paid_order.receipt_sent_at is None and mailbox == []
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert receipts_due_send() == 1 and len(mailbox) == 1
    assert receipts_due_send() == 0 and len(mailbox) == 1


class OneRefusedBackend(LocmemBackend):
    def send_messages(self, messages):
        if messages[0].to == ["refused@example.com"]:
            raise smtplib.SMTPRecipientsRefused({"refused@example.com": (550, b"no")})
        return super().send_messages(messages)


class DownBackend(BaseEmailBackend):
    calls = 0

    def send_messages(self, messages):
        DownBackend.calls += 1
        raise ConnectionRefusedError(111, "Connection refused")


def test_a_refused_address_does_not_stop_the_others_but_a_server_down_does(db, mailoutbox,
                                                                           settings):
    paid = {"status": Order.Status.PAID, "amount": 1200, "currency": "eur"}
    refused = Order.objects.create(email="refused@example.com",
                                   paid_at=timezone.now() - timedelta(minutes=1), **paid)
    Order.objects.create(email="fine@example.com", paid_at=timezone.now(), **paid)
    settings.EMAIL_BACKEND = f"{__name__}.OneRefusedBackend"
    assert receipts_due_send() == 1
    assert [message.to for message in mailoutbox] == [["fine@example.com"]]
    refused.refresh_from_db()
    assert refused.receipt_sent_at is None  # still due, tried again later
    assert refused.receipt_refusals == 1 and refused.receipt_retry_at > timezone.now()
    Order.objects.create(email="other@example.com", paid_at=timezone.now(), **paid)
    settings.EMAIL_BACKEND = f"{__name__}.DownBackend"
    DownBackend.calls = 0
    assert receipts_due_send() == 0
    assert DownBackend.calls == 1  # one try, not one per receipt due
    assert Order.objects.filter(status="paid", receipt_sent_at__isnull=True).count() == 2


class SlowBackend(LocmemBackend):
    def send_messages(self, messages):
        time.sleep(0.05)  # long enough for the other drain to reach the same orders
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_two_drains_at_once_send_each_receipt_once(settings, mailoutbox):
    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    settings.EMAIL_BACKEND = f"{__name__}.SlowBackend"
    orders = [Order.objects.create(email=f"shopper{n}@example.com", amount=1200,
                                   currency="eur", status=Order.Status.PAID,
                                   paid_at=timezone.now()) for n in range(6)]
    barrier = threading.Barrier(2)
    sent = [0, 0]
    spans: list[tuple[float, float]] = [(0.0, 0.0), (0.0, 0.0)]

    def drain(index: int) -> None:
        try:
            barrier.wait()
            started = time.monotonic()
            sent[index] = receipts_due_send()
            spans[index] = (started, time.monotonic())
        finally:
            connection.close()

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Both drains ran together (neither ended before the other started), so the claim
    # was tested, not the order of two runs.
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans
    assert sum(sent) == 6
    assert sorted(m.to[0] for m in mailoutbox) == sorted(o.email for o in orders)


def test_the_receipts_link_opens_the_order_in_any_browser_until_it_expires(paid_order,
                                                                           mailbox, settings):
    order_receipt_send(order_id=paid_order.pk)
    [message] = mailbox
    path = re.search(r"https://shop\.example\.com(/order-status/[^/\s]+/)", message.body)[1]
    elsewhere = Client()  # the shopper's phone: not the session that ordered
    page = elsewhere.get(path)
    assert page.status_code == 200
    html = page.content.decode()
    assert paid_order.reference in html and "Paid" in html and "51.98 EUR" in html
    assert 'id="payment-form"' not in html
    assert elsewhere.get(path[:-3] + "xx/").status_code == 404  # altered
    settings.PAYMENTS_ORDER_LINK_SECONDS = -1
    gone = elsewhere.get(path)
    assert gone.status_code == 410 and "expired" in gone.content.decode()
    assert paid_order.reference not in gone.content.decode()


@pytest.fixture
def site_log():
    """What the site's own log handler (settings.LOGGING: redacting filter, JSON lines)
    writes, read back: the handler's stream swapped for a buffer."""
    [handler] = [handler for handler in logging.getLogger().handlers
                 if any(isinstance(f, RedactingFilter) for f in handler.filters)]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def test_a_refused_receipt_is_logged_by_its_order_reference_without_the_address(
        db, mailoutbox, settings, site_log):
    """smtplib names the refused recipient in its exception; the log line and its
    traceback keep the order's reference and no address."""
    paid = {"status": Order.Status.PAID, "amount": 1200, "currency": "eur"}
    order = Order.objects.create(email="refused@example.com", paid_at=timezone.now(), **paid)
    settings.EMAIL_BACKEND = f"{__name__}.OneRefusedBackend"
    assert receipts_due_send() == 0
    [line] = [json.loads(line) for line in site_log.getvalue().splitlines()
              if "refused by the mail server" in line]
    assert order.reference in line["message"]
    assert "SMTPRecipientsRefused" in line["exception"]
    assert "@" not in site_log.getvalue() and "[email redacted]" in line["exception"]


def test_refused_receipts_wait_longer_each_time_and_never_hold_the_queue(db, mailoutbox,
                                                                        settings, caplog):
    paid = {"status": Order.Status.PAID, "amount": 1200, "currency": "eur"}
    long_ago = timezone.now() - timedelta(days=1)
    refused = [Order.objects.create(email="refused@example.com", paid_at=long_ago, **paid)
               for _ in range(3)]
    fine = Order.objects.create(email="fine@example.com", paid_at=timezone.now(), **paid)
    settings.EMAIL_BACKEND = f"{__name__}.OneRefusedBackend"
    # A drain of two: the refused receipts come first, yet the next run reaches the rest.
    assert receipts_due_send(limit=2) == 0
    assert receipts_due_send(limit=2) == 1
    assert [message.to for message in mailoutbox] == [["fine@example.com"]]
    fine.refresh_from_db()
    assert fine.receipt_sent_at is not None
    order = refused[0]
    order.refresh_from_db()
    waits = [order.receipt_retry_at - timezone.now()]
    for refusals in range(2, RECEIPT_MAX_REFUSALS + 1):
        Order.objects.filter(pk=order.pk).update(receipt_retry_at=timezone.now())
        before = timezone.now()
        receipts_due_send()
        order.refresh_from_db()
        assert order.receipt_refusals == refusals and order.receipt_sent_at is None
        waits.append(order.receipt_retry_at - before)
    assert all(later >= earlier for earlier, later in zip(waits, waits[1:], strict=False))
    assert waits[1] > waits[0] and waits[-1] <= timedelta(hours=6, seconds=5)
    assert "given up" in caplog.text
    # Given up: no further try, even once its wait is over.
    Order.objects.filter(pk=order.pk).update(receipt_retry_at=timezone.now())
    receipts_due_send()
    order.refresh_from_db()
    assert order.receipt_refusals == RECEIPT_MAX_REFUSALS


def test_the_receipts_link_and_its_page_read_the_same_time_with_its_zone(paid_order, mailbox,
                                                                       client):
    order_receipt_send(order_id=paid_order.pk)
    [message] = mailbox
    path = re.search(r"https://shop\.example\.com(/order-status/[^/\s]+/)", message.body)[1]
    paid_on = timezone.localtime(paid_order.paid_at).strftime("%-d %B %Y, %H:%M %Z")
    assert paid_on.endswith(" UTC") and paid_on in message.body
    assert client.head(path).status_code == 200  # a link checker's HEAD is no 405
    page = client.get(path, follow=True).content.decode()
    assert f"received on {paid_on}." in page
