"""Store, cart, checkout and order pages: server-side prices, bad input answered in the
page, orders visible only to the session that placed them."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from payments.models import Order, PaymentAttempt, Product
from payments.shop.orders import order_status_token
from tests.payments.conftest import shopper_with_order


def html_text(page: str) -> str:
    return html.unescape(page)


def add(client: Client, **data):
    return client.post("/cart/", {"action": "add", **data}, follow=True)


def test_store_lists_active_products_with_prices(client, product):
    Product.objects.create(sku="gone", name="Withdrawn", price=100, active=False)
    page = client.get("/").content.decode()
    assert "Espresso cups" in page and "25.99 EUR" in page and "Withdrawn" not in page
    # Each product's "Add to cart" and quantity say which product they are for.
    assert '<h2 id="product-espresso-cups">Espresso cups</h2>' in page
    assert page.count('aria-describedby="product-espresso-cups"') == 2


def test_cart_totals_from_server_prices(client, product):
    add(client, sku=product.sku, quantity=3, price=1)
    page = client.get("/cart/").content.decode()
    assert "77.97 EUR" in page
    assert 'id="line-espresso-cups"' in page
    assert page.count('aria-describedby="line-espresso-cups"') == 2  # Update and Remove
    # Each change is said in a status message: the page reloads, and a screen reader
    # would otherwise hear nothing.
    updated = client.post("/cart/", {"action": "update", "sku": product.sku, "quantity": 1},
                          follow=True).content.decode()
    assert "25.99 EUR" in updated
    assert '<p class="success" role="status">Your cart was updated.</p>' in updated
    removed = client.post("/cart/", {"action": "remove", "sku": product.sku},
                          follow=True).content.decode()
    assert "Your cart is empty" in removed
    assert '<p class="success" role="status">Removed from your cart.</p>' in removed


@pytest.mark.parametrize("data,message", [
    ({"sku": "no-such-thing", "quantity": 1}, "That product does not exist."),
    ({"sku": "espresso-cups", "quantity": 0}, "greater than or equal to 1"),
    ({"sku": "espresso-cups", "quantity": -2}, "greater than or equal to 1"),
    ({"sku": "espresso-cups", "quantity": 100}, "less than or equal to 99"),
    ({"sku": "espresso-cups", "quantity": "two"}, "Enter a whole number."),
    ({"sku": "../etc", "quantity": 1}, "Enter a valid"),
    ({"quantity": 1}, "This field is required."),
])
def test_bad_cart_input_is_shown_and_changes_nothing(client, product, data, message):
    response = add(client, **data)
    assert response.status_code == 200 and message in response.content.decode()
    assert client.session.get("cart", {}) == {}


def test_adding_past_the_maximum_is_refused(client, product):
    add(client, sku=product.sku, quantity=60)
    assert "from 1 to 99" in add(client, sku=product.sku, quantity=60).content.decode()
    assert client.session["cart"] == {product.sku: 60}


def test_checkout_with_an_empty_cart_is_refused(client, db):
    response = client.post("/checkout/", {"email": "a@example.com"}, follow=True)
    assert "Your cart is empty." in response.content.decode()
    assert not Order.objects.exists()
    assert "Your cart is empty." in client.get("/checkout/", follow=True).content.decode()


def test_checkout_needs_a_valid_email(client, product):
    add(client, sku=product.sku, quantity=1)
    response = client.post("/checkout/", {"email": "not-an-address"})
    assert response.status_code == 200 and "Enter a valid email" in response.content.decode()
    assert not Order.objects.exists()
    # Said to a keyboard or screen reader too: the field takes the focus, the title says.
    field = re.search(r'<input type="email" name="email"[^>]*>', response.content.decode())[0]
    assert "autofocus" in field and 'aria-invalid="true"' in field
    assert "<title>Error: Checkout" in response.content.decode()
    assert "autofocus" not in client.get("/checkout/").content.decode()
    assert 'autocomplete="email"' in field  # WCAG 1.3.5: the browser may fill it in


def test_placing_an_order_snapshots_lines_and_empties_the_cart(site_on_sandbox, product):
    shopper = shopper_with_order(product, quantity=2)
    order = shopper.order
    assert (order.amount, order.currency, order.status, order.email) == \
        (5198, "eur", "open", "shopper@example.com")
    product.price = 1
    product.save()
    line = order.lines.get()
    assert (line.name, line.unit_price, line.quantity) == ("Espresso cups", 2599, 2)
    assert shopper.client.session.get("cart", {}) == {}


def test_order_page_shows_the_card_form_with_stripe_js_and_a_strict_csp(site_on_sandbox,
                                                                        product, sandbox):
    shopper = shopper_with_order(product)
    response = shopper.client.get(f"/orders/{shopper.order.reference}/")
    page = response.content.decode()
    assert f'<script src="{sandbox.url}/v3/">' in page and 'id="payment-form"' in page
    assert "Pay 51.98 EUR" in page
    policy = response["Content-Security-Policy"]
    assert f"script-src 'self' {sandbox.url}" in policy
    assert "'unsafe-inline'" not in policy and "default-src 'self'" in policy


def test_paid_order_page_says_paid(site_on_sandbox, product, sandbox):
    shopper = shopper_with_order(product)
    shopper.pay(payment_method_id="pm_card_visa")
    page = shopper.client.get(f"/orders/{shopper.order.reference}/").content.decode()
    assert "Paid" in page and 'id="payment-form"' not in page
    # The title says it first: what a screen reader reads when the page comes back.
    assert f"<title>Paid · Order {shopper.order.reference} · " in page


def test_another_session_cannot_see_an_order(site_on_sandbox, product, client):
    shopper = shopper_with_order(product)
    assert client.get(f"/orders/{shopper.order.reference}/").status_code == 404
    assert client.get("/orders/ord_nothing/").status_code == 404


def test_staff_who_may_view_orders_are_sent_to_the_admin_and_cannot_pay(
        site_on_sandbox, product, admin_client):
    shopper = shopper_with_order(product)
    response = admin_client.get(f"/orders/{shopper.order.reference}/")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/payments/order/{shopper.order.pk}/change/"
    response = admin_client.post("/pay", '{"payment_method_id": "pm_card_visa"}',
                                 content_type="application/json")
    assert response.status_code == 404


def test_staff_without_view_order_cannot_read_an_order_page(site_on_sandbox, product, client,
                                                              django_user_model):
    shopper = shopper_with_order(product)
    staff = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(staff)
    response = client.get(f"/orders/{shopper.order.reference}/")
    assert response.status_code == 404
    assert shopper.order.email.encode() not in response.content


@pytest.mark.parametrize("length", [255, 300, 320])
def test_an_email_longer_than_the_column_is_a_form_error(site_on_sandbox, product, client,
                                                         length):
    client.post("/cart/", {"action": "add", "sku": product.sku, "quantity": 1})
    email = "a" * (length - len("@example.com")) + "@example.com"
    response = client.post("/checkout/", {"email": email})
    assert response.status_code == 200
    assert "at most 254 characters" in response.content.decode()
    assert not Order.objects.exists()


def test_no_usable_session_key_is_stored_or_shown(site_on_sandbox, product, admin_client):
    shopper = shopper_with_order(product)
    session_key = shopper.client.cookies["sessionid"].value
    order = shopper.order_now()
    assert order.session_hash and session_key not in order.session_hash
    assert all(session_key not in str(value) for value in
               Order.objects.filter(pk=order.pk).values().get().values())
    page = admin_client.get(f"/admin/payments/order/{order.pk}/change/").content.decode()
    assert session_key not in page


def test_an_unknown_cart_action_changes_nothing(client, product):
    response = client.post("/cart/", {"action": "explode", "sku": product.sku,
                                      "quantity": 1}, follow=True)
    assert "Unknown cart action." in response.content.decode()
    assert client.session.get("cart", {}) == {}


def test_static_files_are_served_with_debug_off(client, settings, db):
    settings.DEBUG = False
    response = client.get("/static/payments/checkout.js")
    assert response.status_code == 200
    assert b"handleServerResponse" in b"".join(response.streaming_content)


# --- the shop's name, its own error pages -----------------------------------------------

def test_every_page_and_mail_names_the_shop_from_one_setting(client, product, settings,
                                                             mailbox):
    from payments.mail.messages import email_message

    settings.SHOP_NAME = "Acme Cups"
    for path in ("/", "/cart/"):
        page = client.get(path).content.decode()
        assert "Acme Cups" in page and "Sandbox Supply" not in page
    message = email_message(template="order_receipt", to="shopper@example.com", context={
        "order": Order(reference="ord_x", amount=1, currency="eur"), "lines": [],
        "order_url": "https://shop.example.com/x", "order_url_expires_at": None})
    assert "Acme Cups" in message.body


def test_a_missing_page_is_the_sites_own_under_the_csp(client, settings, db):
    settings.DEBUG = False
    response = client.get("/orders/ord_nosuchorder/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page and settings.SHOP_NAME in page
    assert "payments/site.css" in page and "<script" not in page
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert client.get("/no/such/page/").content.decode().count("Page not found") >= 1


def test_a_product_in_another_currency_is_refused_at_add_not_after_the_email(client, product):
    """One order is paid in one currency: the cart says so when the second currency is
    added, rather than showing a total that adds euros to yen."""
    Product.objects.create(sku="paper-fan", name="Paper fan", price=1500, currency="jpy")
    add(client, sku=product.sku, quantity=1)
    page = add(client, sku="paper-fan", quantity=1).content.decode()
    assert "Your cart holds prices in EUR, and Paper fan is priced in JPY." in page
    cart = client.get("/cart/").content.decode()
    assert "Paper fan" not in cart and "25.99 EUR" in cart


def test_a_cart_made_mixed_by_a_currency_edited_later_shows_no_total_and_no_checkout(
        client, product):
    """A product's currency changed in the admin after it was added: the cart added euros
    to yen under one label ("Total 190.50 EUR") and the checkout page showed it too."""
    fan = Product.objects.create(sku="paper-fan", name="Paper fan", price=1500, currency="eur")
    add(client, sku=product.sku, quantity=1)
    add(client, sku=fan.sku, quantity=1)
    Product.objects.filter(pk=fan.pk).update(currency="jpy")
    cart = client.get("/cart/").content.decode()
    assert "Products in different currencies cannot be paid together." in cart
    assert "Total" not in cart and 'href="/checkout/"' not in cart
    assert "25.99 EUR" in cart and "1,500 JPY" in cart  # each line still in its own
    assert client.get("/checkout/").url == "/cart/"
    # The checkout form open in another tab, sent: the cart says it, once.
    cart = client.post("/checkout/", {"email": "a@example.com"}, follow=True).content.decode()
    assert cart.count("Products in different currencies cannot be paid together.") == 1
    client.post("/cart/", {"action": "remove", "sku": fan.sku})
    assert "Total" in client.get("/cart/").content.decode()
    assert client.get("/checkout/").status_code == 200


def test_an_order_is_placed_only_for_the_cart_the_checkout_page_showed(client, product):
    """The price changed while the checkout page was open: the order was placed at the
    new price without a word (the order page's Pay button was the first to show it)."""
    add(client, sku=product.sku, quantity=1)
    page = client.get("/checkout/").content.decode()
    shown = re.search(r'name="cart_version" value="([0-9a-f]+)"', page).group(1)
    Product.objects.filter(pk=product.pk).update(price=3100)
    answer = client.post("/checkout/", {"email": "a@example.com", "cart_version": shown},
                         follow=True)
    assert not Order.objects.exists()
    text = answer.content.decode()
    assert "Your cart changed since this page showed it" in text and "31.00 EUR" in text
    assert 'value="a@example.com"' in text  # the address typed is kept
    again = re.search(r'name="cart_version" value="([0-9a-f]+)"', text).group(1)
    client.post("/checkout/", {"email": "a@example.com", "cart_version": again})
    assert Order.objects.get().amount == 3100


def test_a_product_withdrawn_from_the_cart_is_named(client, product):
    """It left the cart (and its total) without a word."""
    fan = Product.objects.create(sku="paper-fan", name="Paper fan", price=1500, currency="eur")
    add(client, sku=product.sku, quantity=1)
    add(client, sku=fan.sku, quantity=1)
    Product.objects.filter(pk=fan.pk).update(active=False)
    checkout = client.get("/checkout/", follow=True)
    assert checkout.redirect_chain[-1][0] == "/cart/"
    text = checkout.content.decode()
    assert text.count("Paper fan is no longer available and was taken out of your cart.") == 1
    assert "25.99 EUR" in text
    assert "no longer available" not in client.get("/cart/").content.decode()  # said once
    assert client.get("/checkout/").status_code == 200


def test_an_order_left_unpaid_is_a_link_on_the_cart_and_the_empty_cart_says_so_once(
        site_on_sandbox, product):
    """Back from the bank's modal lands on the emptied cart: it names the order still
    awaiting payment (not a paid one), and says the cart is empty once, not twice."""
    shopper = shopper_with_order(product)
    paid = shopper_with_order(product, client=shopper.client)
    assert paid.pay(payment_method_id="pm_card_visa",
                    order_reference=paid.order.reference).json()["success"] is True
    page = shopper.client.get("/checkout/", follow=True).content.decode()  # Back, then on
    assert page.count("Your cart is empty") == 1
    assert f'href="/orders/{shopper.order.reference}/"' in page
    assert f"Pay order {shopper.order.reference} (51.98 EUR)" in page
    assert "have not paid for them yet; nothing was charged" in page  # says what they are
    assert paid.order.reference not in page


def test_an_order_whose_payment_is_at_the_bank_is_finished_not_paid_again(
        site_on_sandbox, sandbox, product):
    """The page's second /pay lost after the bank approved: the cart said "nothing was
    charged" and the order page asked for a card; a shopper who ordered again was charged
    twice once the sweep confirmed the first (user test on a phone)."""
    shopper = shopper_with_order(product)
    answer = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()
    intent_id = answer["clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "complete")  # the bank approved; /pay never heard
    order_page = shopper.client.get(f"/orders/{shopper.order.reference}/").content.decode()
    assert f'data-at-the-bank="{intent_id}"' in order_page
    assert "Press Pay to finish that payment" in html_text(order_page)
    cart = html_text(shopper.client.get("/cart/").content.decode())
    assert "nothing was charged" not in cart
    assert f"Finish paying order {shopper.order.reference} (51.98 EUR): your bank's check " \
           "was started" in cart
    # What checkout.js's Pay then sends: the intent, no card. One charge.
    assert shopper.pay(payment_intent_id=intent_id).json()["success"] is True
    assert Order.objects.get().status == Order.Status.PAID
    # A declined payment is at no bank: a card, as before.
    other = shopper_with_order(product, client=shopper.client)
    assert other.pay(payment_method_id="pm_card_chargeDeclined",
                     order_reference=other.order.reference).status_code == 402
    page = shopper.client.get(f"/orders/{other.order.reference}/").content.decode()
    assert "data-at-the-bank" not in page and "enter your card below to pay" in page
    assert "nothing was charged" in html_text(shopper.client.get("/cart/").content.decode())
    # A create whose answer was lost (Stripe may have charged: it confirms at once): not
    # "nothing was charged" either, and not "order again".
    PaymentAttempt.objects.filter(order=other.order).update(status="creating")
    page = html_text(shopper.client.get(f"/orders/{other.order.reference}/").content.decode())
    assert "we do not know its outcome yet, so please do not order again" in page
    assert "data-at-the-bank" not in page
    cart = html_text(shopper.client.get("/cart/").content.decode())
    assert "nothing was charged" not in cart
    assert f"Finish paying order {other.order.reference} (51.98 EUR): a payment was sent" in cart


def test_a_mailed_order_link_outlives_a_secret_key_rotation(client, product, settings):
    """The new key in DJANGO_SECRET_KEY, the old one in DJANGO_SECRET_KEY_FALLBACKS: the
    receipt's link (90 days) keeps working; without the fallback it would be "not valid"."""
    order = Order.objects.create(email="shopper@example.com", amount=2599, currency="eur")
    link = reverse("order_status", args=[order_status_token(order=order)])
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "rotated-" + "n3w-" * 12
    assert client.get(link).status_code == 404
    settings.SECRET_KEY_FALLBACKS = [old]
    assert client.get(link).status_code == 200
