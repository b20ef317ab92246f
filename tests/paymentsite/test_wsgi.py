"""The WSGI application's short ways in (paymentsite.wsgi): Stripe's webhooks with only the
request id around the intake; POST /pay through its own chain (PAY_MIDDLEWARE) with every
guarantee of the whole one; everything else through the whole middleware chain."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections

from payments.models import Order, PaymentAttempt, Product
from paymentsite.wsgi import application
from tests.payments.checkout.test_pay_guards import same_window
from tests.payments.conftest import Shopper, shopper_with_order

WHOLE_CHAIN_ONLY = {"Content-Security-Policy", "X-Frame-Options"}  # not /pay's (settings.py)


def call(path: str, body: bytes = b"", method: str = "POST", app=application, **headers: str):
    """One request through a WSGI application (the site's unless ``app``): its status,
    headers and body. Headers by keyword: ``x_request_id="…"`` is ``X-Request-ID``."""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http",
               "REMOTE_ADDR": "127.0.0.1",
               "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
               "CONTENT_TYPE": "application/json",
               **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}}
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"], answer["headers"] = int(status.split()[0]), dict(response_headers)

    # As Django's test client does: the test's database connection must outlive the
    # request signals' close_old_connections.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = app(environ, start_response)
        answer["body"] = b"".join(response)
        response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer


@pytest.fixture
def endpoint(db, settings):
    from djstripe.models import WebhookEndpoint

    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    return WebhookEndpoint.objects.create(
        id="we_wsgi1", secret="whsec_wsgiTest0001", url="http://127.0.0.1/", livemode=False,
        api_version="2026-08-26.dahlia", enabled_events=["*"], status="enabled")


def body(event_id: str) -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": "payment_intent.succeeded",
                       "created": int(time.time()), "livemode": False,
                       "data": {"object": {"id": "pi_wsgi1", "object": "payment_intent"}}}
                      ).encode()


@pytest.mark.parametrize("slash", ["/", ""])  # the address typed without its last "/" too
def test_a_webhook_skips_the_sites_middleware_but_keeps_its_request_id(endpoint, slash):
    from stripe_sandbox.webhooks import signature_header

    data = body("evt_wsgi0001")
    answer = call(f"/stripe/webhook/{endpoint.djstripe_uuid}{slash}", data,
                  stripe_signature=signature_header(endpoint.secret, data),
                  x_request_id="stripe-delivery-1")
    assert answer["status"] == 200 and json.loads(answer["body"]) == {"received": "evt_wsgi0001"}
    assert answer["headers"]["X-Request-ID"] == "stripe-delivery-1"
    assert "Content-Security-Policy" not in answer["headers"]  # no CSP middleware
    assert "Cross-Origin-Opener-Policy" not in answer["headers"]  # no security middleware


def test_other_requests_take_the_whole_chain(endpoint):
    answer = call("/", method="GET")
    assert answer["status"] == 200
    assert "Content-Security-Policy" in answer["headers"] and "X-Request-ID" in answer["headers"]
    bad = call(f"/stripe/webhook/{endpoint.djstripe_uuid}/", b"{}", method="GET")
    assert bad["status"] == 405  # not a POST: the whole chain, the intake's own 405


def test_an_error_in_the_intake_is_a_500_stripe_retries(endpoint, monkeypatch):
    from payments.stripe import webhooks

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(webhooks, "webhook_delivery_verify", broken)
    answer = call(f"/stripe/webhook/{endpoint.djstripe_uuid}/", body("evt_wsgi0002"))
    assert answer["status"] == 500


# --- POST /pay: its own chain --------------------------------------------------------------

def shopper_headers(shopper: Shopper, **headers: str) -> dict[str, str]:
    """The shopper's browser on /pay: its session and CSRF cookies, the token as the page's
    script sends it (X-CSRFToken), and ``headers``."""
    shopper.client.get("/")  # the CSRF cookie
    cookies = {name: morsel.value for name, morsel in shopper.client.cookies.items()}
    return {"cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
            "x_csrftoken": cookies["csrftoken"], **headers}


def pay_body(**body: str) -> bytes:
    return json.dumps(body).encode()


@pytest.fixture
def pay_site(site_on_sandbox):
    """The site on the sandbox, answering this module's host as well as the test client's."""
    site_on_sandbox.ALLOWED_HOSTS = ["127.0.0.1", "testserver"]
    return site_on_sandbox


@pytest.fixture
def product(db) -> Product:
    return Product.objects.create(sku="tea-tin", name="Tea tin", price=1250, currency="eur")


@pytest.fixture
def whole_chain():
    """Django's own WSGI handler: every request through the whole MIDDLEWARE."""
    return WSGIHandler()


def test_pay_takes_its_own_chain_and_pays_with_every_header_of_its_guarantees(
        pay_site, product, sandbox, monkeypatch):
    from payments.checkout import services
    from payments.stripe import budget

    sources, checkout_pay = [], services.checkout_pay

    def checkout_pay_seen(**kwargs):
        sources.append(budget.current_source())
        return checkout_pay(**kwargs)

    monkeypatch.setattr(services, "checkout_pay", checkout_pay_seen)
    shopper = shopper_with_order(product)
    answer = call("/pay", pay_body(payment_method_id="pm_card_visa"),
                  **shopper_headers(shopper, x_request_id="shopper-pay-1",
                                    accept_language="de"))
    assert answer["status"] == 200, answer["body"]
    assert json.loads(answer["body"]) == {"success": True,
                                          "orderUrl": f"/orders/{shopper.order.reference}/"}
    assert shopper.order_now().status == Order.Status.PAID
    assert sources == ["shopper"]  # its Stripe calls come first in the budget
    headers = answer["headers"]
    assert headers["X-Request-ID"] == "shopper-pay-1"
    # SecurityMiddleware's (HSTS only over HTTPS, which this request is not):
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Content-Language"] == "de"  # LocaleMiddleware
    assert {"Accept-Language", "Cookie"} <= {
        part.strip() for part in headers["Vary"].split(",")}  # locale, session
    assert headers["Content-Length"] == str(len(answer["body"]))  # CommonMiddleware
    # The short way was taken: the whole chain would have added these.
    assert not WHOLE_CHAIN_ONLY & set(headers)


def test_pay_without_its_csrf_token_is_a_json_403_in_the_shoppers_language(
        pay_site, product, sandbox):
    shopper = shopper_with_order(product)
    headers = shopper_headers(shopper, accept_language="de")
    for token in (None, "x" * 64):
        if token is None:
            del headers["x_csrftoken"]
        else:
            headers["x_csrftoken"] = token
        answer = call("/pay", pay_body(payment_method_id="pm_card_visa"), **headers)
        assert answer["status"] == 403
        assert json.loads(answer["body"])["error"].startswith(
            "Das Sicherheitstoken Ihrer Sitzung fehlt oder ist falsch.")
        assert "X-Request-ID" in answer["headers"]
    assert sandbox.requests() == [] and not PaymentAttempt.objects.exists()


def test_pay_counts_each_session_against_its_limit(pay_site, product, sandbox):
    pay_site.PAYMENTS_PAY_RATE_PER_SESSION = "1/m"
    first, second = shopper_with_order(product), shopper_with_order(product)
    same_window(seconds=60)
    declined = pay_body(payment_method_id="pm_card_chargeDeclined")
    codes = [call("/pay", declined, **shopper_headers(shopper))["status"]
             for shopper in (first, first, second)]
    assert codes == [402, 429, 402]  # the second session's count is its own
    # A body that is no payment is refused before it is counted (it calls nobody).
    assert call("/pay", b"{", **shopper_headers(second))["status"] == 400


def test_pay_answers_as_the_whole_chain_does(pay_site, product, sandbox, whole_chain):
    """The same requests through the short way and through the whole MIDDLEWARE: the same
    status, body and headers, but for the two only the whole chain adds."""
    for body in (b"{", pay_body(payment_method_id="pm_card_chargeDeclined")):
        answers = []
        for app in (application, whole_chain):
            shopper = shopper_with_order(product)
            answers.append(call("/pay", body, app=app, **shopper_headers(
                shopper, x_request_id="same-id", accept_language="fr")))
        short, whole = answers
        assert short["status"] == whole["status"] in (400, 402)
        assert short["body"] == whole["body"]
        assert short["headers"] == {name: value for name, value in whole["headers"].items()
                                    if name not in WHOLE_CHAIN_ONLY}
        assert WHOLE_CHAIN_ONLY <= set(whole["headers"])


def test_an_error_in_pay_is_a_500_with_its_request_id_and_djangos_signal(
        pay_site, product, sandbox, monkeypatch):
    from payments.checkout import services

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "checkout_pay", broken)
    raised = []

    def receiver(sender, request, **kwargs):
        raised.append(request.path)

    got_request_exception.connect(receiver)
    try:
        answer = call("/pay", pay_body(payment_method_id="pm_card_visa"),
                      **shopper_headers(shopper_with_order(product), x_request_id="broken-1"))
    finally:
        got_request_exception.disconnect(receiver)
    assert answer["status"] == 500 and answer["headers"]["X-Request-ID"] == "broken-1"
    assert raised == ["/pay"]


def test_pay_from_a_host_not_allowed_is_refused(pay_site, product, sandbox):
    shopper = shopper_with_order(product)
    answer = call("/pay", pay_body(payment_method_id="pm_card_visa"),
                  **shopper_headers(shopper, host="evil.example"))
    assert answer["status"] == 400  # CommonMiddleware's ALLOWED_HOSTS check
    assert sandbox.requests() == [] and not PaymentAttempt.objects.exists()


def test_the_pay_chain_is_paymentsites_pay_middleware(settings):
    assert application.pay_handler.middleware == settings.PAY_MIDDLEWARE
