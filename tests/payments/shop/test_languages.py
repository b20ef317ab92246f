"""The shopper's language: chosen from Accept-Language or the switch, kept by the order
for its mails; money as the language writes it; /pay's words in it."""

from __future__ import annotations

import re

import pytest
from babel import Locale
from django.conf import settings
from django.test import Client
from django.utils import translation

from payments.checkout.errors import decline_in_words
from payments.mail.receipts import order_receipt_send
from payments.models import Incident, Order, PaymentAttempt
from payments.templatetags.money import money_localized
from tests.conftest import ApplicationClient
from tests.payments.conftest import shopper_with_order
from tests.payments.factories import (
    attempt_of,
    html_of,
    incident_of,
    order_of,
    recovery_link_sent,
)

NBSP, NNBSP = "\u00a0", "\u202f"


@pytest.fixture(autouse=True)
def language_reset():
    """The test client runs in this thread, and LocaleMiddleware leaves the language of
    its last request active here: put the site's back for the tests after these."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def test_money_is_written_as_each_language_writes_it():
    assert money_localized(amount=123450, currency="eur", language="en") == "1,234.50 EUR"
    assert money_localized(amount=123450, currency="eur", language="de") == f"1.234,50{NBSP}€"
    assert money_localized(amount=123450, currency="eur", language="fr") == \
        f"1{NNBSP}234,50{NBSP}€"
    assert money_localized(amount=500, currency="jpy", language="de") == f"500{NBSP}¥"


def test_writing_one_currency_leaves_babels_shared_pattern_alone():
    """Babel keeps one pattern per locale for the whole process (gunicorn's threads share
    it): our digits go on a copy, or a price written in one thread took the digits of a
    currency another thread was writing ("26 €", "5,12 KWD")."""
    shared = [Locale.parse(name).currency_formats["standard"] for name in ("de", "fr")]
    before = [pattern.frac_prec for pattern in shared]
    money_localized(amount=5120, currency="kwd", language="de")
    money_localized(amount=500, currency="jpy", language="fr")
    assert [pattern.frac_prec for pattern in shared] == before == [(2, 2), (2, 2)]


@pytest.mark.parametrize(("amount", "currency", "english", "german", "french"), [
    # CLDR writes ALL and ISK without decimals; Stripe charges them in hundredths.
    (1050, "all", "10.50 ALL", f"10,50{NBSP}ALL", f"10,50{NBSP}ALL"),
    (5120, "kwd", "5.120 KWD", f"5,120{NBSP}KWD", f"5,120{NBSP}KWD"),
    (10000, "isk", "100.00 ISK", f"100,00{NBSP}ISK", f"100,00{NBSP}ISK"),
])
def test_every_language_writes_the_digits_stripe_charges(amount, currency, english, german,
                                                        french):
    shown = [money_localized(amount=amount, currency=currency, language=language)
             for language in ("en", "de", "fr")]
    assert shown == [english, german, french]


@pytest.mark.parametrize(("header", "heading", "price"), [
    ("de-DE,de;q=0.9,en;q=0.5", "<h1>Shop</h1>", f"25,99{NBSP}€"),
    ("fr-FR,fr;q=0.9", "<h1>Boutique</h1>", f"25,99{NBSP}€"),
    ("en-GB,en;q=0.9", "<h1>Store</h1>", "25.99 EUR"),
    ("tlh,x-klingon;q=0.9", "<h1>Store</h1>", "25.99 EUR"),  # unknown: English
    ("", "<h1>Store</h1>", "25.99 EUR"),
])
def test_the_store_speaks_the_browsers_language_else_english(product, header, heading,
                                                             price):
    page = Client(HTTP_ACCEPT_LANGUAGE=header).get("/")
    text = page.content.decode()
    assert page.status_code == 200
    assert heading in text and price in text
    assert f'<html lang="{page["Content-Language"]}">' in text


def test_the_switch_changes_the_language_and_keeps_the_cart(product):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.post("/cart/", {"action": "add", "sku": product.sku, "quantity": 2})
    switched = client.post("/i18n/setlang/", {"language": "fr", "next": "/cart/"})
    assert switched.status_code == 302 and switched["Location"] == "/cart/"
    cart = client.get("/cart/").content.decode()
    assert "<h1>Votre panier</h1>" in cart
    assert "Espresso cups" in cart and f"51,98{NBSP}€" in cart


@pytest.mark.parametrize("forged", ["xx", "de<script>", "../../etc", "", "de" * 100])
def test_a_forged_language_changes_nothing(product, forged):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.post("/cart/", {"action": "add", "sku": product.sku, "quantity": 1})
    answer = client.post("/i18n/setlang/", {"language": forged, "next": "/cart/"})
    assert answer.status_code == 302
    assert "django_language" not in answer.cookies
    cart = client.get("/cart/").content.decode()
    assert "<h1>Your cart</h1>" in cart and "Espresso cups" in cart


def test_the_switch_never_sends_the_shopper_off_the_site(product):
    answer = Client().post("/i18n/setlang/", {"language": "de",
                                              "next": "https://evil.example.com/"})
    assert answer.status_code == 302 and answer["Location"] == "/"


def test_a_decline_reaches_pay_in_the_shoppers_words_by_decline_code(site_on_sandbox,
                                                                    product):
    shopper = shopper_with_order(product, client=ApplicationClient(HTTP_ACCEPT_LANGUAGE="de"))
    declined = shopper.pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds")
    assert declined.status_code == 402
    assert declined.json() == {"error": "Ihre Karte ist nicht ausreichend gedeckt."}
    stolen = shopper.pay(payment_method_id="pm_card_chargeDeclinedStolenCard")
    # Stripe advises not to tell a fraudster why: a plain decline.
    assert stolen.json() == {"error": "Ihre Karte wurde abgelehnt."}
    bad = shopper.pay_raw("{")
    assert bad.json() == {"error": "Der Inhalt der Anfrage muss JSON sein."}


def test_every_decline_code_reads_in_plain_words_an_unknown_one_as_a_decline():
    with translation.override("fr"):
        assert decline_in_words(decline_code="card_velocity_exceeded", code="card_declined") \
            == "Votre carte a atteint son plafond pour le moment. Veuillez utiliser une " \
               "autre carte ou contacter votre banque."
        assert decline_in_words(decline_code=None, code="expired_card") == \
            "Votre carte a expiré. Veuillez utiliser une autre carte."
        assert decline_in_words(decline_code="new_code_from_2030", code=None) == \
            "Votre carte a été refusée. Veuillez utiliser une autre carte ou contacter " \
            "votre banque."


def test_the_order_page_in_french_names_its_amount_and_date_as_the_french_do(
        site_on_sandbox, product):
    shopper = shopper_with_order(product, client=ApplicationClient(HTTP_ACCEPT_LANGUAGE="fr"))
    page = shopper.client.get(f"/orders/{shopper.order.reference}/").content.decode()
    assert f"Payer 51,98{NBSP}€" in page and 'data-locale="fr"' in page
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 200
    paid = shopper.client.get(f"/orders/{shopper.order.reference}/").content.decode()
    assert "Payée" in paid and re.search(
        "reçu le \\d{1,2}\u00a0\\w+\u00a0\\d{4} à \\d\\d:\\d\\d\u00a0UTC", paid)  # unbroken


def test_the_receipt_is_written_in_the_language_the_order_was_placed_in(
        site_on_sandbox, product, mailbox):
    shopper = shopper_with_order(product, client=ApplicationClient(HTTP_ACCEPT_LANGUAGE="de"))
    assert shopper.order.language == "de"
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 200
    order_receipt_send(order_id=shopper.order.pk)
    [message] = mailbox
    assert message.subject == f"Ihr Beleg für Bestellung {shopper.order.reference}"
    for body in (message.body, html_of(message)):
        assert "Vielen Dank für Ihre Bestellung." in body
        assert f"25,99{NBSP}€" in body and f"51,98{NBSP}€" in body and "EUR" not in body
        assert re.search(
            "Bezahlt am \\d{1,2}\\.\u00a0\\w+\u00a0\\d{4}, \\d\\d:\\d\\d", body)
    assert '<html lang="de">' in html_of(message)


def test_ops_mail_is_written_in_the_sites_language_whatever_a_request_left_active(
        mailbox, staff):
    from payments.mail.messages import email_message

    translation.activate("de")  # as a German shopper's request leaves this thread
    order = order_of(("Espresso cups", 2599, 1))
    message = email_message(template="ops_alert", to="ops@example.com", context={
        "rate_percent": "50 %", "measured": {"failed": 1, "asked": 2},
        "since": order.created_at, "now": order.created_at, "threshold_percent": "25 %",
        "min_payments": 4, "meaning": "", "by_kind": [], "admin_url": "/admin/"})
    assert message.subject.startswith("Payments alert: 50 %")
    assert '<html lang="en">' in html_of(message)


def test_the_recovery_mail_is_written_in_the_orders_language(mailbox, staff):
    order = order_of(("Espresso cups", 2599, 2))
    Order.objects.filter(pk=order.pk).update(language="fr")
    order.refresh_from_db()
    incident = incident_of(Incident.Kind.ACTION_ABANDONED, attempt=attempt_of(order))
    recovery_link_sent(incident=incident, user=staff)
    [message] = mailbox
    assert message.subject == f"Terminez le paiement de votre commande {order.reference}"
    assert "Terminer le paiement" in html_of(message)
    assert re.search(r"\(dans \d+ (heures|jours|minutes)\)", message.body)
    assert PaymentAttempt.objects.count() == 1


def test_a_german_merchant_reads_the_dashboard_in_german(db, staff_roles):
    """The admin's own pages use gettext too: with a translation, the dashboard and the
    index speak the staff member's language (Django's admin has its own German)."""
    from tests.payments.admin.test_dashboard import staff_client

    merchant = staff_client("merchant", group="Merchants")
    merchant.defaults["HTTP_ACCEPT_LANGUAGE"] = "de"
    page = merchant.get("/admin/payments/dashboard/").content.decode()
    assert "Jetzt gefährdet" in page and "Verlorener Umsatz" in page
    assert "Dashboard der gescheiterten Zahlungen" in merchant.get("/admin/").content.decode()


def test_the_language_switch_names_each_language_in_itself(product):
    page = Client(HTTP_ACCEPT_LANGUAGE="de").get("/").content.decode()
    assert '<option value="en" lang="en">English</option>' in page  # not "Englisch"
    assert '<option value="fr" lang="fr">Français</option>' in page
