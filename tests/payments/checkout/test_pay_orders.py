"""Which order /pay charges: the one on the page the shopper submitted, never "the last
one opened" (two tabs of one session used to pay order B's amount from order A's page)."""

from __future__ import annotations

import json

from payments.models import Order, Product
from tests.payments.conftest import server_calls, shopper_with_order


def second_order(shopper, product: Product, quantity: int) -> Order:
    """Another order placed in the same browser session (a second tab)."""
    shopper.client.post("/cart/", {"action": "add", "sku": product.sku, "quantity": quantity})
    response = shopper.client.post("/checkout/", {"email": "shopper@example.com"})
    return Order.objects.get(reference=response["Location"].rstrip("/").rsplit("/", 1)[-1])


def pay_from_page(shopper, order: Order, **ids):
    return shopper.client.post("/pay", json.dumps({"order_reference": order.reference, **ids}),
                               content_type="application/json")


def test_two_tabs_each_pay_their_own_order(site_on_sandbox, product, sandbox, stripe_client):
    shopper = shopper_with_order(product, quantity=1)  # order A, 25.99 EUR
    lamps = Product.objects.create(sku="desk-lamp", name="Desk lamp", price=14500,
                                   currency="eur")
    order_b = second_order(shopper, lamps, quantity=3)  # 435.00 EUR
    # Tab A was opened first, then tab B; the shopper submits a card on tab A.
    shopper.client.get(f"/orders/{shopper.order.reference}/")
    shopper.client.get(f"/orders/{order_b.reference}/")
    response = pay_from_page(shopper, shopper.order, payment_method_id="pm_card_visa")
    assert response.json() == {"success": True,
                               "orderUrl": f"/orders/{shopper.order.reference}/"}
    assert shopper.order_now().status == Order.Status.PAID
    order_b.refresh_from_db()
    assert order_b.status == Order.Status.OPEN
    [intent] = stripe_client.v1.payment_intents.list().data
    assert (intent.amount, intent.metadata["order"]) == (2599, shopper.order.reference)


def test_the_order_page_names_its_order_for_the_script(site_on_sandbox, product):
    shopper = shopper_with_order(product)
    page = shopper.client.get(f"/orders/{shopper.order.reference}/").content.decode()
    assert f'data-order-reference="{shopper.order.reference}"' in page


def test_the_guides_client_without_an_order_is_refused_when_two_await_payment(
        site_on_sandbox, product, sandbox):
    shopper = shopper_with_order(product)
    second_order(shopper, product, quantity=1)
    response = shopper.pay(payment_method_id="pm_card_visa")
    assert response.status_code == 409
    assert "more than one order" in response.json()["error"]
    assert server_calls(sandbox) == []
    assert not Order.objects.filter(status=Order.Status.PAID).exists()


def test_the_guides_client_pays_a_sessions_only_open_order(shopper, sandbox):
    first = shopper.pay(payment_method_id="pm_card_authenticationRequired").json()
    intent_id = first["clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "complete")
    assert shopper.pay(payment_intent_id=intent_id).json()["success"] is True
    assert shopper.order_now().status == Order.Status.PAID


def test_an_intent_of_another_order_of_the_session_is_409_and_not_confirmed(
        site_on_sandbox, product, sandbox):
    shopper = shopper_with_order(product)
    first = pay_from_page(shopper, shopper.order,
                          payment_method_id="pm_card_authenticationRequired").json()
    intent_id = first["clientSecret"].split("_secret_")[0]
    sandbox.authenticate(intent_id, "complete")
    order_b = second_order(shopper, product, quantity=5)
    calls = len(server_calls(sandbox))
    response = pay_from_page(shopper, order_b, payment_intent_id=intent_id)
    assert response.status_code == 409
    assert "another of your orders" in response.json()["error"]
    assert len(server_calls(sandbox)) == calls
    assert not Order.objects.filter(status=Order.Status.PAID).exists()


def test_an_order_of_another_session_named_in_the_body_is_404(site_on_sandbox, product,
                                                               sandbox):
    victim = shopper_with_order(product)
    attacker = shopper_with_order(product)
    response = pay_from_page(attacker, victim.order, payment_method_id="pm_card_visa")
    assert response.status_code == 404
    assert server_calls(sandbox) == []


def test_a_malformed_order_reference_is_400(shopper, sandbox):
    for reference in (42, "", "../../admin", "ord_" + "x" * 100):
        response = shopper.client.post(
            "/pay", json.dumps({"order_reference": reference, "payment_method_id": "pm_card_visa"}),
            content_type="application/json")
        assert response.status_code == 400, reference
    assert server_calls(sandbox) == []


def test_a_three_decimal_currency_is_charged_and_shown_in_its_own_digits(db, site_on_sandbox,
                                                                         sandbox,
                                                                         stripe_client):
    dates = Product.objects.create(sku="dates", name="Dates", price=5120, currency="kwd")
    shopper = shopper_with_order(dates, quantity=2)  # 2 × 5.120 KWD
    response = shopper.pay(order_reference=shopper.order.reference,
                           payment_method_id="pm_card_visa")
    assert response.json()["success"] is True
    [intent] = stripe_client.v1.payment_intents.list().data
    assert (intent.amount, intent.currency, intent.status) == (10240, "kwd", "succeeded")
    page = shopper.client.get(f"/orders/{shopper.order.reference}/").content.decode()
    assert "10.240 KWD" in page and "102.40" not in page
    german = shopper.client.get(f"/orders/{shopper.order.reference}/",
                                HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "10,240\N{NO-BREAK SPACE}KWD" in german
