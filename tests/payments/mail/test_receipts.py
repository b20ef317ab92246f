"""The receipt email: what it says, money as on the site, and one per paid order."""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client
from django.utils import timezone

from payments.mail.receipts import order_receipt_send, receipts_late_send
from payments.models import Order, OrderLine, Product
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


def test_paying_sends_one_receipt_after_commit(site_on_sandbox, product, mailbox,
                                               django_capture_on_commit_callbacks,
                                               monkeypatch):
    from payments.mail import tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks.order_receipt_task, "apply_async",
                        lambda args, **options: queued.extend(args))
    shopper = shopper_with_order(product)
    with django_capture_on_commit_callbacks(execute=True):
        shopper.pay(payment_method_id="pm_card_visa")
    with django_capture_on_commit_callbacks(execute=True):
        shopper.pay(payment_method_id="pm_card_visa")  # already paid: no second receipt
    assert queued == [shopper.order.pk] and mailbox == []  # a worker mails it, not /pay
    tasks.order_receipt_task(*queued)
    assert [message.to for message in mailbox] == [["shopper@example.com"]]


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
    del settings.SITE_URL  # the default: the development server
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


def test_a_broker_that_is_down_does_not_fail_the_payment(site_on_sandbox, product, mailbox,
                                                         django_capture_on_commit_callbacks,
                                                         monkeypatch, caplog):
    from kombu.exceptions import OperationalError

    from payments.mail import tasks

    def broker_down(*args, **options):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.order_receipt_task, "apply_async", broker_down)
    shopper = shopper_with_order(product)
    with django_capture_on_commit_callbacks(execute=True):
        response = shopper.pay(payment_method_id="pm_card_visa")
    assert response.status_code == 200 and response.json()["success"] is True
    assert shopper.order_now().status == "paid" and mailbox == []
    assert "receipt of order" in caplog.text  # the late-receipt sweep mails it later


def test_the_sweep_mails_a_receipt_that_was_never_queued(db, mailoutbox):
    order = Order.objects.create(email="late@example.com", amount=1200, currency="eur",
                                 status=Order.Status.PAID,
                                 paid_at=timezone.now() - timedelta(minutes=30))
    Order.objects.create(email="fresh@example.com", amount=1200, currency="eur",
                         status=Order.Status.PAID, paid_at=timezone.now())
    receipts_late_send()
    receipts_late_send()
    assert [message.to for message in mailoutbox] == [["late@example.com"]]
    order.refresh_from_db()
    assert order.receipt_sent_at is not None


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
