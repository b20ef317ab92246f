"""/pay for an order whose amount Stripe refuses (below the currency's minimum charge,
placed before the cart checked it): the cart's words in the shopper's language, not
Stripe's message for developers, and nothing asked of Stripe or recorded."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.utils import translation

from payments.models import Order, PaymentAttempt, PaymentEvent, Product
from payments.shop.limits import currency_refused, currency_refused_forget
from tests.conftest import ApplicationClient
from tests.payments.conftest import Shopper, server_calls
from tests.payments.factories import order_of

NBSP = "\u00a0"


@pytest.fixture(autouse=True)
def language_reset():
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def refusals_forgotten():
    """The mark of a refused currency lives in the cache (Redis under .ci/run), which
    outlives a test."""
    currency_refused_forget(currency="ngn")
    yield
    currency_refused_forget(currency="ngn")


def shopper_of(order: Order, **headers: str) -> Shopper:
    client = ApplicationClient(**headers)
    session = client.session
    session["orders"] = [order.reference]
    session.save()
    return Shopper(client=client, order=order)


@pytest.mark.parametrize(("language", "words"), [
    ("en", "Card payments in CZK must total at least 15.00 CZK. This order cannot be paid "
           "by card; please place a new order from your cart."),
    ("de", f"Kartenzahlungen in CZK müssen mindestens 15,00{NBSP}CZK betragen. Diese "
           "Bestellung kann nicht mit Karte bezahlt werden; bitte geben Sie aus Ihrem "
           "Warenkorb eine neue Bestellung auf."),
])
def test_an_old_order_below_the_minimum_gets_the_carts_words_and_reaches_no_stripe(
        site_on_sandbox, sandbox, db, language, words):
    order = order_of(("Fridge magnet", 1000, 1), currency="czk")  # 10 CZK; Stripe: ≥ 15
    shopper = shopper_of(order, HTTP_ACCEPT_LANGUAGE=language)
    answer = shopper.pay(payment_method_id="pm_card_visa", order_reference=order.reference)
    # 409, as for an order that cannot be paid: checkout.js shows the words as they are,
    # not under "Not paid: check the card details or use another card".
    assert answer.status_code == 409
    assert answer.json() == {"error": words}
    assert server_calls(sandbox) == []
    assert not PaymentAttempt.objects.exists() and not PaymentEvent.objects.exists()
    assert shopper.order_now().status == Order.Status.OPEN


def test_an_order_at_the_minimum_is_paid(site_on_sandbox, sandbox, db):
    order = order_of(("Fridge magnet", 1500, 1), currency="czk")
    shopper = shopper_of(order)
    answer = shopper.pay(payment_method_id="pm_card_visa", order_reference=order.reference)
    assert answer.status_code == 200, answer.content
    assert shopper.order_now().status == Order.Status.PAID
    assert [call["path"] for call in server_calls(sandbox)] == ["/v1/payment_intents"]


@pytest.mark.parametrize(("language", "words"), [
    ("en", "This order cannot be paid by card: our payment provider does not accept its "
           "total in NGN. Nothing was charged; please contact the shop."),
    ("fr", "Cette commande ne peut pas être payée par carte : notre prestataire de "
           "paiement n’accepte pas son total en NGN. Rien n’a été débité ; veuillez "
           "contacter la boutique."),
])
def test_a_currency_stripe_refuses_gets_the_shops_words_and_the_log_stripes(
        site_on_sandbox, sandbox, db, caplog, language, words):
    # A currency countries pay with that this Stripe account (the sandbox) does not take:
    # nothing the shop's tables can know, and nothing the shopper can change.
    order = order_of(("Bead necklace", 500000, 1), currency="ngn")
    shopper = shopper_of(order, HTTP_ACCEPT_LANGUAGE=language)
    with caplog.at_level("ERROR", logger="payments.checkout.services"):
        answer = shopper.pay(payment_method_id="pm_card_visa", order_reference=order.reference)
    # 409, as for an order that cannot be paid: checkout.js shows the words as they are,
    # not under "Not paid: check the card details or use another card".
    assert answer.status_code == 409
    assert answer.json() == {"error": words}
    [logged] = [record.getMessage() for record in caplog.records
                if record.name == "payments.checkout.services"]
    assert order.reference in logged and "Invalid currency: ngn" in logged
    # Stripe made nothing: the refused attempt is gone and the order can be paid anew.
    assert not PaymentAttempt.objects.exists()
    assert shopper.order_now().status == Order.Status.OPEN


def test_an_old_order_below_the_minimum_shows_why_in_place_of_a_card_form(db):
    below = order_of(("Fridge magnet", 1000, 1), currency="czk")  # before the cart checked
    payable = order_of(("Fridge magnet", 1000, 2), currency="czk")
    shopper = shopper_of(below)
    session = shopper.client.session
    session["orders"] = [below.reference, payable.reference]
    session.save()

    page = shopper.client.get(f"/orders/{below.reference}/").content.decode()
    assert ("Card payments in CZK must total at least 15.00 CZK. This order cannot be paid "
            "by card; please place a new order from your cart.") in page
    # No card form that could only fail, and no Stripe.js loaded for it.
    assert 'id="payment-form"' not in page and "checkout.js" not in page
    assert 'id="payment-form"' in shopper.client.get(
        f"/orders/{payable.reference}/").content.decode()
    # The cart's way back lists only the order a card can pay.
    cart = shopper.client.get("/cart/").content.decode()
    assert payable.reference in cart and below.reference not in cart


def test_after_stripe_refuses_a_currency_the_shop_stops_offering_it(site_on_sandbox,
                                                                    sandbox, db):
    """An NGN product failed every shopper, each invited to try another card, and the
    reloaded order page offered its card form again (user test)."""
    from django.contrib.auth.models import User

    order = order_of(("Bead necklace", 500000, 1), currency="ngn")
    shopper = shopper_of(order)
    assert shopper.pay(payment_method_id="pm_card_visa",
                       order_reference=order.reference).status_code == 409
    assert currency_refused(currency="ngn")
    page = shopper.client.get(f"/orders/{order.reference}/").content.decode()
    assert ("Our payment provider does not accept card payments in NGN. This order cannot "
            "be paid by card; please place a new order from your cart.") in page
    assert 'id="payment-form"' not in page
    # A new cart in NGN: said beside the total, and no checkout.
    Product.objects.create(sku="beads", name="Beads", price=500000, currency="ngn")
    shopper.client.post("/cart/", {"action": "add", "sku": "beads", "quantity": 1})
    cart = shopper.client.get("/cart/").content.decode()
    assert "Our payment provider does not accept card payments in NGN." in cart
    assert 'href="/checkout/"' not in cart
    # The merchant sees it on the dashboard and the products' list before saving any.
    merchant = ApplicationClient()
    merchant.force_login(User.objects.create_superuser("boss", "boss@example.com", "x"))
    refused = "Stripe refused card payments in NGN for this account: shoppers are told"
    for page in ("/admin/payments/dashboard/", "/admin/payments/product/"):
        assert refused in merchant.get(page).content.decode(), page
    # Once, also when the list redirects (a filter it does not know: Django's ?e=1).
    redirected = merchant.get("/admin/payments/product/?nonsense=1", follow=True)
    assert redirected.content.decode().count(refused) == 1
    # The merchant saves the product (the account may take NGN now): told, and the next
    # payment asks Stripe again.
    product = Product.objects.get(sku="beads")
    saved = merchant.post(f"/admin/payments/product/{product.pk}/change/", {
        "name": "Beads", "description": "", "price": "500000", "currency": "ngn",
        "active": "on"}, follow=True)
    assert "Stripe refused card payments in NGN for this account lately" in \
        saved.content.decode()
    assert not currency_refused(currency="ngn")
    assert refused not in merchant.get("/admin/payments/product/").content.decode()
