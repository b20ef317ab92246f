"""The baseline of issue 10: a server that does nothing but /pay's Stripe calls.

    STRIPE_API_BASE=http://127.0.0.1:12111 gunicorn bench.minimal_server:application

A plain WSGI callable (stdlib only besides stripe-python), served by the same gunicorn
gthread settings as the site, so ``bench/checkout.py`` can put ``/pay`` beside it in one
run. It speaks the JSON of Stripe's migration guide and keeps nothing: no database, no
session, no CSRF, no rate limit, no log of its own.

``POST /pay {"payment_method_id": "pm_…"}`` creates and confirms an intent exactly as
``payments/stripe/gateway.py`` does (amount, currency, ``payment_method_types=["card"]``,
``confirm``, ``confirmation_method="manual"``, ``expand=["payment_method"]``, metadata,
an idempotency key); ``{"payment_intent_id": "pi_…"}`` confirms it again with
``expand=["payment_method"]``. It answers ``{requiresAction, clientSecret}``,
``{success, orderUrl}`` or ``{error}`` (402 declined, 400 refused, 503 otherwise).

Environment: ``STRIPE_API_BASE`` (the sandbox), ``STRIPE_SECRET_KEY``,
``STRIPE_TIMEOUT_SECONDS`` (default 30), ``STRIPE_MAX_NETWORK_RETRIES`` (default 0).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import stripe

AMOUNT, CURRENCY = 1200, "eur"
PAYMENT_METHOD = re.compile(r"pm_[A-Za-z0-9_]{1,200}")
PAYMENT_INTENT = re.compile(r"pi_[A-Za-z0-9]{1,200}")
ORDER_REFERENCE = re.compile(r"ord_[A-Za-z0-9_-]{1,40}")

_base = os.environ.get("STRIPE_API_BASE", "")
client = stripe.StripeClient(
    os.environ.get("STRIPE_SECRET_KEY", "sk_test_sandbox"),
    base_addresses={"api": _base} if _base else {},
    max_network_retries=int(os.environ.get("STRIPE_MAX_NETWORK_RETRIES", "0")),
    http_client=stripe.RequestsClient(timeout=float(os.environ.get("STRIPE_TIMEOUT_SECONDS",
                                                                   "30"))),
)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
STATUS = {200: "200 OK", 400: "400 Bad Request", 402: "402 Payment Required",
          404: "404 Not Found", 405: "405 Method Not Allowed", 503: "503 Service Unavailable"}


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") != "/pay":
        return _answer(start_response, 404, {"error": "Not found."})
    if environ.get("REQUEST_METHOD") != "POST":
        return _answer(start_response, 405, {"error": "Use POST with a JSON body."})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _answer(start_response, 400, {"error": "The request body must be JSON."})
    if not isinstance(body, dict):
        return _answer(start_response, 400, {"error": "The request body must be a JSON object."})
    reference = body.get("order_reference")
    if not (isinstance(reference, str) and ORDER_REFERENCE.fullmatch(reference)):
        reference = "ord_" + uuid.uuid4().hex[:16]
    method, intent_id = body.get("payment_method_id"), body.get("payment_intent_id")
    try:
        if isinstance(method, str) and PAYMENT_METHOD.fullmatch(method) and intent_id is None:
            intent = client.v1.payment_intents.create(params={
                "amount": AMOUNT, "currency": CURRENCY, "payment_method_types": ["card"],
                "payment_method": method, "confirm": True, "confirmation_method": "manual",
                "expand": ["payment_method"],
                "metadata": {"order": reference, "attempt": "1"},
            }, options={"idempotency_key": f"{reference}:attempt-1:create:{method}"})
        elif isinstance(intent_id, str) and PAYMENT_INTENT.fullmatch(intent_id) \
                and method is None:
            intent = client.v1.payment_intents.confirm(
                intent_id, params={"expand": ["payment_method"]},
                options={"idempotency_key": f"{reference}:{intent_id}:confirm-1:attached"})
        else:
            return _answer(start_response, 400, {
                "error": "Send exactly one valid payment_method_id or payment_intent_id."})
    except stripe.CardError as error:
        return _answer(start_response, 402, {"error": error.user_message or str(error)})
    except stripe.InvalidRequestError as error:
        return _answer(start_response, 400, {"error": error.user_message or str(error)})
    except stripe.StripeError:
        return _answer(start_response, 503, {"error": "The payment service is unavailable."})
    if intent.status == "requires_action":
        return _answer(start_response, 200, {"requiresAction": True,
                                              "clientSecret": intent.client_secret})
    if intent.status == "succeeded":
        return _answer(start_response, 200, {"success": True,
                                              "orderUrl": f"/orders/{reference}/"})
    return _answer(start_response, 402, {"error": "Your card could not be charged."})


def _answer(start_response: StartResponse, status: int, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(STATUS[status], [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(data)))])
    return [data]


if __name__ == "__main__":  # a quick look without gunicorn
    from wsgiref.simple_server import make_server

    make_server("127.0.0.1", 8001, application).serve_forever()
