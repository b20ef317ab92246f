"""The gateway's HTTP transport (urllib3 under stripe-python): failures are stripe-python's
connection errors, retried as its own ``RequestsClient``'s are; the proxy is the
environment's; a forked process opens its own connections."""

from __future__ import annotations

import socket

import pytest
import urllib3
from urllib3 import exceptions

from payments.stripe import gateway, transport
from tests.waiting import wait_until


def create(key: str):
    return gateway.payment_intent_create(
        amount=1200, currency="eur", payment_method="pm_card_visa", idempotency_key=key,
        metadata={"order": "t"}, handle_actions=True)


def creates(sandbox) -> list[dict]:
    return [request for request in sandbox.requests("/v1/payment_intents")
            if request["method"] == "POST"]


@pytest.mark.parametrize("fault", [
    {"action": "drop"},  # the connection closed without an answer
    {"action": "drop", "when": "after"},  # Stripe did the work, the answer was lost
    {"action": "delay", "delay_ms": 2500},  # past the 1 s timeout below
])
def test_a_call_that_got_no_answer_is_retried_with_its_key(site_on_sandbox, sandbox, fault):
    site_on_sandbox.STRIPE_MAX_NETWORK_RETRIES = 1
    site_on_sandbox.STRIPE_TIMEOUT_SECONDS = 1
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, **fault)
    intent = create("retried-1")
    assert intent.status == "succeeded"
    # The sandbox logs a request once it has answered: the delayed one after the retry.
    wait_until(lambda: len(creates(sandbox)) >= 2, what="both requests logged")
    assert [post["idempotency_key"] for post in creates(sandbox)] == ["retried-1"] * 2
    assert [listed.id for listed in gateway.payment_intent_page().items] == [intent.id]


def test_without_retries_a_dropped_call_is_unavailable_and_sent_once(site_on_sandbox, sandbox):
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="drop")
    with pytest.raises(gateway.StripeUnavailable):
        create("dropped-1")
    assert len(creates(sandbox)) == 1


def test_nothing_listening_is_unavailable(site_on_sandbox):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    site_on_sandbox.STRIPE_API_BASE = f"http://127.0.0.1:{port}"
    with pytest.raises(gateway.StripeUnavailable):
        create("refused-1")


@pytest.mark.parametrize(("error", "retried"), [
    (exceptions.ProtocolError("Connection aborted."), True),
    (exceptions.ReadTimeoutError(None, "/v1/payment_intents", "Read timed out."), True),
    (exceptions.ConnectTimeoutError("connect timed out"), True),
    (exceptions.NewConnectionError(None, "refused"), True),
    (exceptions.SSLError("certificate verify failed"), False),  # stripe-python's rule
    (exceptions.LocationParseError("::"), False),
    (ValueError("a configuration error"), False),
])
def test_failures_are_retried_as_stripe_pythons_requests_client_retries_them(error, retried):
    mapped = transport._connection_error(error)
    assert mapped.should_retry is retried
    assert type(error).__name__ in str(mapped)


def test_the_proxy_is_the_environments_and_no_proxy_is_respected(monkeypatch):
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert transport.proxy_for("https://api.stripe.com") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert transport.proxy_for("https://api.stripe.com") == "http://proxy.internal:3128"
    assert transport.proxy_for("http://127.0.0.1:12111") is None  # no HTTP_PROXY
    pool = transport.Urllib3Client(timeout=1)._pool_get()
    assert isinstance(pool, urllib3.ProxyManager) and pool.proxy.host == "proxy.internal"
    monkeypatch.setenv("NO_PROXY", "api.stripe.com")
    assert transport.proxy_for("https://api.stripe.com") is None
    assert not isinstance(transport.Urllib3Client(timeout=1)._pool_get(), urllib3.ProxyManager)


def test_a_forked_process_opens_its_own_connections(monkeypatch):
    client = transport.Urllib3Client(timeout=1)
    parent = client._pool_get()
    assert client._pool_get() is parent  # kept between calls
    monkeypatch.setattr(transport.os, "getpid", lambda: -1)  # as in a forked child
    child = client._pool_get()
    assert child is not parent and client._pool_get() is child


def test_stripe_certificates_are_verified_with_stripe_pythons_bundle():
    pool = transport.Urllib3Client(timeout=1)._pool_get()
    https = pool.connection_from_url("https://api.stripe.com")
    assert https.cert_reqs == "CERT_REQUIRED"
    assert https.ca_certs == gateway.stripe.ca_bundle_path
