"""The gateway's HTTP transport (urllib3 under stripe-python): failures are stripe-python's
connection errors, retried as its own ``RequestsClient``'s are; the proxy is the
environment's; a forked process opens its own connections."""

from __future__ import annotations

import base64
import http.server
import socket
import threading

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


def test_a_write_rate_limited_on_its_retry_is_an_unknown_outcome(site_on_sandbox, sandbox):
    """The first try was sent (and here carried out): a 429 to the retry does not say the
    write was refused. Sent once and refused, it is rate limited; a read is never a write."""
    site_on_sandbox.STRIPE_MAX_NETWORK_RETRIES = 2
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="drop",
                      when="after")
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="rate_limit")
    sent = transport.requests_sent()
    with pytest.raises(gateway.StripeUnavailable):
        create("retried-then-429")
    assert transport.requests_sent() - sent == 2
    sandbox.add_fault(method="POST", path="/v1/payment_intents", count=1, action="rate_limit")
    with pytest.raises(gateway.RateLimited):
        create("refused-1")
    sandbox.add_fault(method="GET", path="/v1/payment_intents", count=1, action="drop")
    sandbox.add_fault(method="GET", path="/v1/payment_intents", count=1, action="rate_limit")
    with pytest.raises(gateway.RateLimited):
        gateway.payment_intent_page()


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


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def environment_without_proxies(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.fixture
def proxy_recorder():
    """A "proxy" that answers every request itself and keeps what it was sent."""
    seen: list[tuple[str, str | None]] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            seen.append((self.requestline, self.headers.get("Proxy-Authorization")))
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("variable", "written"), [
    ("HTTP_PROXY", "http://shop%40proxy:s3cret@127.0.0.1:{port}"),  # credentials in the URL
    ("HTTP_PROXY", "127.0.0.1:{port}"),  # no scheme: requests reads it as http://
    ("ALL_PROXY", "http://127.0.0.1:{port}"),  # for every scheme
])
def test_calls_go_through_the_proxy_the_environment_names(environment_without_proxies,
                                                          proxy_recorder, variable, written):
    port, seen = proxy_recorder
    environment_without_proxies.setenv(variable, written.format(port=port))
    client = transport.Urllib3Client(timeout=2, api_base="http://api.stripe.test")
    body, status, _ = client.request("get", "http://api.stripe.test/v1/ping?x=1", {})
    assert (status, body) == (200, b'{"ok": true}')
    line, authorization = seen[-1]
    assert line == "GET http://api.stripe.test/v1/ping?x=1 HTTP/1.1"
    expected = "Basic " + base64.b64encode(b"shop@proxy:s3cret").decode() \
        if "s3cret" in written else None
    assert authorization == expected
    streamed, status, _ = client.request_stream("get", "http://api.stripe.test/v1/ping", {})
    assert (status, streamed.read()) == (200, b'{"ok": true}')
    client.close()


@pytest.mark.parametrize(("no_proxy", "api_base"), [
    ("api.stripe.com", "https://api.stripe.com"),
    (".stripe.com", "https://api.stripe.com"),
    ("10.0.0.0/8", "http://10.1.2.3:12111"),  # an address range, as requests reads it
])
def test_no_proxy_is_respected(environment_without_proxies, no_proxy, api_base):
    environment_without_proxies.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    environment_without_proxies.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    assert transport.proxy_for(api_base) is not None
    environment_without_proxies.setenv("NO_PROXY", no_proxy)
    assert transport.proxy_for(api_base) is None
    assert not isinstance(transport.Urllib3Client(timeout=1, api_base=api_base)._pool_get(),
                          urllib3.ProxyManager)


def test_without_a_proxy_in_the_environment_calls_go_straight(environment_without_proxies):
    assert transport.proxy_for("https://api.stripe.com") is None
    environment_without_proxies.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert transport.proxy_for("http://127.0.0.1:12111") is None  # no HTTP_PROXY


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
