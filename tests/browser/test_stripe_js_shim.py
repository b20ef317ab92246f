"""Fidelity check 5: the Stripe.js shim in a real headless Chromium: the card field,
createPaymentMethod, and handleCardAction's bank modal, clicked like a shopper."""

from __future__ import annotations

import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="{sandbox}/v3/"></script></head><body>
<form id="f"><div id="card"></div><p id="msg"></p></form>
<script>
  window.stripe = Stripe("{pk}");
  window.card = stripe.elements().create("card");
  card.mount("#card");
  card.on("change", function (e) {{
    document.getElementById("msg").textContent = e.error ? e.error.message :
      (e.complete ? "complete" : "");
  }});
  window.run = function (promise) {{
    window.result = undefined;
    promise.then(function (r) {{ window.result = r; }}, function (e) {{
      window.result = {{rejected: {{name: e.name, message: e.message,
                                  isError: e instanceof Error}}}};
    }});
  }};
</script></body></html>"""


@pytest.fixture
def shop_page(sandbox, publishable_key, page):
    html = PAGE.format(sandbox=sandbox.url, pk=publishable_key).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
    page.wait_for_function("window.card !== undefined")
    yield page
    server.shutdown()


def fill_card(page, number: str) -> None:
    page.fill("input[name=cardnumber]", number)
    page.fill("input[name=exp-date]", "12 / 34")
    page.fill("input[name=cvc]", "123")


def result(page):
    page.wait_for_function("window.result !== undefined")
    return page.evaluate("window.result")


def create_method(page, number: str) -> dict:
    fill_card(page, number)
    page.evaluate("run(stripe.createPaymentMethod({type: 'card', card: card}))")
    return result(page)


def test_card_field_reports_errors_and_completion(shop_page):
    shop_page.fill("input[name=cardnumber]", "4242424242424241")
    assert shop_page.text_content("#msg") == "Your card number is invalid."
    fill_card(shop_page, "4242424242424242")
    assert shop_page.text_content("#msg") == "complete"
    shop_page.fill("input[name=cvc]", "")
    shop_page.evaluate("run(stripe.createPaymentMethod({type: 'card', card: card}))")
    assert result(shop_page)["error"]["code"] == "incomplete_cvc"


@pytest.mark.parametrize(("number", "brand"), [("36227206271667", "diners"),
                                             ("3566002020360505", "jcb"),
                                             ("6200000000000005", "unionpay")])
def test_every_brands_test_card_is_complete_and_named(shop_page, number, brand):
    """Diners Club's 14 digits read "incomplete" before; JCB and UnionPay "unknown" (a
    card tester)."""
    fill_card(shop_page, number)
    assert shop_page.text_content("#msg") == "complete"
    method = create_method(shop_page, number)
    assert method["paymentMethod"]["card"]["brand"] == brand


def test_the_card_field_reads_dates_and_security_codes_as_stripes_does(shop_page):
    """A card tester: a Visa took a 4-digit CVC (refused by the server only at Pay),
    "01 / 2030" read as 2020, and a past month of this year said the *year* was past."""
    fill_card(shop_page, "4242424242424242")
    shop_page.fill("input[name=cvc]", "1234")
    assert shop_page.input_value("input[name=cvc]") == "123"
    assert shop_page.text_content("#msg") == "complete"
    fill_card(shop_page, "378282246310005")
    shop_page.fill("input[name=cvc]", "1234")  # American Express: four
    assert shop_page.input_value("input[name=cvc]") == "1234"
    shop_page.fill("input[name=exp-date]", "01 / 2030")
    assert shop_page.text_content("#msg") == "complete"
    shop_page.evaluate("run(stripe.createPaymentMethod({type: 'card', card: card}))")
    assert result(shop_page)["paymentMethod"]["card"]["exp_year"] == 2030
    today = date.today()
    if today.month > 1:  # January has no earlier month this year
        shop_page.fill("input[name=exp-date]", f"{today.month - 1:02d} / {today.year % 100}")
        shop_page.locator("input[name=exp-date]").blur()
        assert shop_page.text_content("#msg") == "Your card's expiration date is in the past."
    shop_page.fill("input[name=exp-date]", f"12 / {today.year % 100 - 1}")
    assert shop_page.text_content("#msg") == "Your card's expiration year is in the past."


@pytest.mark.parametrize("button,status", [("Complete authentication", "succeeded"),
                                           ("Fail authentication", "requires_payment_method"),
                                           # The close button: a phone has no Escape key.
                                           ("Close", "requires_payment_method")])
def test_handle_card_action_modal(shop_page, stripe_client, sandbox, button, status):
    method = create_method(shop_page, "4000002500003155")["paymentMethod"]
    assert method["card"]["last4"] == "3155"
    assert [(e["path"], e["publishable"]) for e in sandbox.requests()] == \
        [("/v1/payment_methods", True)]
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 4200, "currency": "eur", "payment_method": method["id"], "confirm": True,
        "confirmation_method": "manual"})
    assert intent.status == "requires_action"
    shop_page.evaluate(f"run(stripe.handleCardAction('{intent.client_secret}'))")
    dialog = shop_page.get_by_role("dialog")
    assert "42.00 EUR" in dialog.text_content()
    # Styled by the linked /v3/stripe.css (no inline <style>, so a strict CSP allows it).
    shop_page.wait_for_function("getComputedStyle(document.querySelector("
                                "'.sandbox-3ds-backdrop')).position === 'fixed'")
    shop_page.get_by_role("button", name=button).click()
    outcome = result(shop_page)
    assert shop_page.locator(".sandbox-3ds").count() == 0
    if status == "succeeded":
        assert outcome["paymentIntent"]["status"] == "requires_confirmation"
        assert stripe_client.v1.payment_intents.confirm(intent.id).status == "succeeded"
    else:
        assert outcome["error"]["code"] == "payment_intent_authentication_failure"
        assert outcome["error"]["payment_intent"]["status"] == status
        assert stripe_client.v1.payment_intents.retrieve(intent.id).status == status


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    (5120, "kwd", "5.120 KWD"), (500, "jpy", "500 JPY"), (10000, "isk", "100.00 ISK")])
def test_the_bank_names_the_amount_in_the_currencys_digits(shop_page, stripe_client, amount,
                                                           currency, shown):
    method = create_method(shop_page, "4000002500003155")["paymentMethod"]
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": amount, "currency": currency, "payment_method": method["id"],
        "confirm": True, "confirmation_method": "manual"})
    shop_page.evaluate(f"run(stripe.handleCardAction('{intent.client_secret}'))")
    assert shown in shop_page.get_by_role("dialog").text_content()


def test_handle_card_action_refuses_automatic_confirmation(shop_page, stripe_client):
    """Stripe.js throws: the promise rejects with an IntegrationError (stripe-dotnet
    issue 1779's console), it does not resolve an {error}."""
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 1000, "currency": "usd", "payment_method": "pm_card_threeDSecure2Required",
        "confirm": True})
    shop_page.evaluate(f"run(stripe.handleCardAction('{intent.client_secret}'))")
    refusal = result(shop_page)["rejected"]
    assert refusal["name"] == "IntegrationError" and refusal["isError"]
    assert refusal["message"] == (
        "handleCardAction: The PaymentIntent supplied does not require manual server-side "
        "confirmation. Please use confirmCardPayment instead to complete the payment.")
    assert shop_page.locator(".sandbox-3ds").count() == 0
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "requires_action"


@pytest.mark.parametrize("status", ["requires_confirmation", "succeeded",
                                    "requires_payment_method", "canceled"])
def test_handle_card_action_rejects_an_intent_not_at_the_bank(shop_page, stripe_client,
                                                              sandbox, status):
    """A manual intent in any status but requires_action: Stripe.js throws (rejects) "…is
    not in the requires_action state"; no modal, nothing sent to the bank."""
    method = create_method(shop_page, "4000002500003155")["paymentMethod"]
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 4200, "currency": "eur", "payment_method": method["id"], "confirm": True,
        "confirmation_method": "manual"})
    if status in ("requires_confirmation", "succeeded"):
        sandbox.authenticate(intent.id, "complete")
    if status == "succeeded":
        stripe_client.v1.payment_intents.confirm(intent.id)
    if status == "requires_payment_method":
        sandbox.authenticate(intent.id, "fail")
    if status == "canceled":
        stripe_client.v1.payment_intents.cancel(intent.id)
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == status
    sandbox.clear_requests()
    shop_page.evaluate(f"run(stripe.handleCardAction('{intent.client_secret}'))")
    assert result(shop_page)["rejected"] == {
        "name": "IntegrationError", "isError": True,
        "message": "handleCardAction: The PaymentIntent supplied is not in the "
                   "requires_action state."}
    assert shop_page.locator(".sandbox-3ds").count() == 0
    # It read the intent (publishable key) and did nothing else to it.
    assert [(e["method"], e["path"], e["publishable"]) for e in sandbox.requests()] == \
        [("GET", f"/v1/payment_intents/{intent.id}", True)]
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == status


def start_confirm_card_payment(page, client, number: str):
    """An automatic-confirmation intent confirmed from the page with the card field."""
    intent = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd"})
    fill_card(page, number)
    page.evaluate(f"run(stripe.confirmCardPayment('{intent.client_secret}', "
                  "{payment_method: {card: card}}))")
    return intent


def test_confirm_card_payment_and_retrieve(shop_page, stripe_client):
    intent = start_confirm_card_payment(shop_page, stripe_client, "4000000000003220")
    shop_page.get_by_role("button", name="Complete authentication").click()
    assert result(shop_page)["paymentIntent"]["status"] == "succeeded"
    shop_page.evaluate(f"run(stripe.retrievePaymentIntent('{intent.client_secret}'))")
    read = result(shop_page)["paymentIntent"]
    assert (read["status"], read["amount"]) == ("succeeded", 1500)
    # Only what a publishable key may read: no amount_received, metadata or charge.
    assert not {"amount_received", "metadata", "latest_charge"} & set(read)


def test_declined_card_resolves_an_error(shop_page, stripe_client):
    start_confirm_card_payment(shop_page, stripe_client, "4000000000009995")
    error = result(shop_page)["error"]
    assert error["decline_code"] == "insufficient_funds"
