"""The WSGI application's short way in for Stripe's webhooks (paymentsite.wsgi): only the
request id around the intake; everything else through the whole middleware chain."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from paymentsite.wsgi import application


def call(path: str, body: bytes = b"", method: str = "POST", **headers: str):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http",
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
        response = application(environ, start_response)
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


def test_a_webhook_skips_the_sites_middleware_but_keeps_its_request_id(endpoint):
    from stripe_sandbox.webhooks import signature_header

    data = body("evt_wsgi0001")
    answer = call(f"/stripe/webhook/{endpoint.djstripe_uuid}/", data,
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
