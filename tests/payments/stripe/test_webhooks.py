"""The webhook intake (payments.stripe.webhooks): a delivery signed like Stripe's, of an
event we use, is stored once and answered 200 without a Stripe call; anything else gets a
4xx and stores nothing."""

from __future__ import annotations

import io
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

import httpx
import pytest
from django.core.handlers.asgi import ASGIRequest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse
from djstripe.models import Event, WebhookEndpoint, WebhookEventTrigger

from payments.models import WebhookEvent
from payments.stripe.webhooks import (
    WebhookRejected,
    webhook_body_read,
    webhook_receive,
    webhook_signature_verify,
)
from stripe_sandbox import DEFAULT_SECRET_KEY
from stripe_sandbox.webhooks import signature_header
from tests.conftest import need
from tests.waiting import wait_until


@pytest.fixture
def djstripe_on_sandbox(sandbox, monkeypatch):
    # dj-stripe makes the endpoint through stripe-python's module-level API; point it at the
    # sandbox. A string target: only payments/stripe/gateway.py imports stripe.
    monkeypatch.setattr("stripe.api_base", sandbox.url)
    return sandbox


def webhook_url(endpoint_uuid: uuid.UUID) -> str:
    return reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint_uuid})


def endpoint_create(*, base_url: str) -> WebhookEndpoint:
    """An endpoint made as dj-stripe's admin makes one (and as the README tells, for the
    sandbox): created at Stripe with our uuid in its metadata, synced into dj-stripe, with
    the secret Stripe shows only in the creation response."""
    endpoint_uuid = uuid.uuid4()
    data = WebhookEndpoint._api_create(
        url=urljoin(base_url, webhook_url(endpoint_uuid)),
        enabled_events=["payment_intent.succeeded"],
        metadata={"djstripe_uuid": str(endpoint_uuid)})
    endpoint = WebhookEndpoint.sync_from_stripe_data(data)
    endpoint.secret = data["secret"]
    endpoint.save()
    assert endpoint.djstripe_uuid == endpoint_uuid
    return endpoint


@pytest.fixture
def endpoint(djstripe_on_sandbox, db) -> WebhookEndpoint:
    return endpoint_create(base_url="http://testserver")


def event_body(event_id: str = "evt_webhooktest0001", **changes: object) -> bytes:
    event = {"id": event_id, "object": "event", "api_version": "2026-08-26.dahlia",
             "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
             "request": {"id": None, "idempotency_key": None},
             "type": "payment_intent.succeeded",
             "data": {"object": {"id": "pi_webhooktest0001", "object": "payment_intent"}}}
    event.update(changes)
    return json.dumps(event).encode()


def deliver(endpoint: WebhookEndpoint, body: bytes, *, signature: str | None = None,
            secret: str | None = None, timestamp: int | None = None):
    """POST ``body`` to the endpoint's URL as Stripe would, signed unless told otherwise."""
    headers = {}
    if signature is None:
        signature = signature_header(secret or endpoint.secret, body, timestamp)
    if signature:
        headers["Stripe-Signature"] = signature
    return Client().post(webhook_url(endpoint.djstripe_uuid), body,
                         content_type="application/json", headers=headers)


def assert_nothing_stored() -> None:
    assert WebhookEvent.objects.count() == 0
    # dj-stripe's own tables stay empty: its view is never reached.
    assert WebhookEventTrigger.objects.count() == 0 and Event.objects.count() == 0


class CountingStream(io.BytesIO):
    """A request body that counts how much of it the server read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_djstripe_webhook_url_reaches_the_guard_first():
    # The URL Stripe is given is dj-stripe's, unchanged; it now resolves to our view.
    match = resolve(webhook_url(uuid.uuid4()))
    assert match.func is webhook_receive


@pytest.mark.django_db(transaction=True)
def test_a_signed_delivery_is_stored_once_without_a_stripe_call(djstripe_on_sandbox,
                                                                 stripe_client, live_server):
    endpoint = endpoint_create(base_url=live_server.url)
    djstripe_on_sandbox.clear_requests()
    intent = stripe_client.v1.payment_intents.create(params={
        "amount": 1800, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True})

    delivered = wait_until(
        lambda: [d for d in djstripe_on_sandbox.deliveries() if d["delivered"]],
        what="the webhook's delivery")
    assert [attempt["status"] for attempt in delivered[0]["attempts"]] == [200]
    event = WebhookEvent.objects.get()
    assert (event.type, event.object_id, event.livemode) == \
        ("payment_intent.succeeded", intent.id, False)
    assert json.loads(event.body)["data"]["object"]["id"] == intent.id
    # The intake read nothing from Stripe: the only server call is the test's own create.
    assert [(c["method"], c["path"]) for c in djstripe_on_sandbox.requests()] == \
        [("POST", "/v1/payment_intents")]

    # The same event again, as Stripe's raw JSON, signed afresh, twice with one header.
    raw = httpx.get(f"{djstripe_on_sandbox.url}/v1/events/{event.id}",
                    headers={"Authorization": f"Bearer {DEFAULT_SECRET_KEY}"}).content
    signature = signature_header(endpoint.secret, raw)
    for _ in range(2):
        response = deliver(endpoint, raw, signature=signature)
        assert response.status_code == 200, response.content
        assert response.json() == {"received": event.id, "duplicate": True}
    assert WebhookEvent.objects.count() == 1
    assert WebhookEventTrigger.objects.count() == 0 and Event.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_twenty_copies_of_a_new_event_at_once_store_one_row(djstripe_on_sandbox,
                                                             live_server):
    need(connection.vendor == "postgresql", "PostgreSQL is not configured (set DATABASE_URL="
         "postgres://…; .ci/run does): SQLite's in-memory test database gives the live "
         "server's threads one shared connection, so twenty requests at once are not "
         "twenty transactions")
    endpoint = endpoint_create(base_url=live_server.url)
    body = event_body("evt_webhookcopies0001")
    signature = signature_header(endpoint.secret, body)
    url = urljoin(live_server.url, webhook_url(endpoint.djstripe_uuid))

    def post(_: int) -> dict:
        return httpx.post(url, content=body, headers={
            "Stripe-Signature": signature, "Content-Type": "application/json"}).json()

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))
    assert sum("duplicate" not in answer for answer in answers) == 1
    assert all(answer["received"] == "evt_webhookcopies0001" for answer in answers)
    assert WebhookEvent.objects.count() == 1


def test_stored_events_ask_for_one_drain_a_burst_after_the_commit(
        endpoint, monkeypatch, settings, django_capture_on_commit_callbacks):
    """With Redis, a burst of deliveries queues one drain (a flag, cleared as the drain
    starts); without it, each delivery queues one. Never before the commit."""
    from payments.monitoring import events, tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks.webhook_events_drain_task, "apply_async",
                        lambda **kwargs: queued.append(1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = deliver(endpoint, event_body("evt_webhookqueued0001"))
        assert queued == []  # not before the commit
    assert response.json() == {"received": "evt_webhookqueued0001"}
    assert len(callbacks) == 1 and len(queued) == 1
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        deliver(endpoint, event_body("evt_webhookqueued0001"))  # a redelivery: nothing
        deliver(endpoint, event_body("evt_webhookqueued0002"))
    per_burst = bool(settings.REDIS_URL)
    assert len(callbacks) == 1 and len(queued) == (1 if per_burst else 2)
    events.webhook_events_drain()  # takes both (these bodies are too thin to record), and
    assert list(WebhookEvent.objects.values_list("attempts", flat=True)) == [1, 1]
    # ... clears the flag: the next delivery asks for a drain again
    with django_capture_on_commit_callbacks(execute=True):
        deliver(endpoint, event_body("evt_webhookqueued0003"))
    assert len(queued) == (2 if per_burst else 3)


def test_an_event_of_a_type_we_do_not_use_is_answered_and_not_kept(endpoint):
    response = deliver(endpoint, event_body(
        "evt_webhookcustomer01", type="customer.created",
        data={"object": {"id": "cus_1", "object": "customer"}}))
    assert response.status_code == 200
    assert response.json() == {"received": "evt_webhookcustomer01", "ignored": True}
    assert_nothing_stored()


@pytest.mark.parametrize("changes", [
    {"data": {"object": {"object": "payment_intent"}}},  # no data.object.id
    {"data": {"object": {"id": 12345, "object": "payment_intent"}}},  # an integer id
    {"data": {"object": []}},
    {"data": None},
    {"id": 12345},
    {"id": "not_an_event_id"},
    {"created": "2026-12-06T10:00:00Z"},  # a string
    {"created": True},
    {"created": 0},
    {"livemode": True},  # a live event sent to a test account
    {"livemode": "false"},
    {"type": ""},
    # Out of what an id or a time can be (each was a 500 and Stripe's retries for days):
    {"id": "evt_" + "a" * 252},  # 256 characters, past the column's 255
    {"id": "evt_webhook\x00test"},
    {"data": {"object": {"id": "pi_" + "a" * 253, "object": "payment_intent"}}},
    {"data": {"object": {"id": "pi_x\x00", "object": "payment_intent"}}},
    {"created": 10**18},  # past any year Python's datetime holds
], ids=lambda changes: ",".join(f"{k}={v!r}"[:40] for k, v in changes.items()))
def test_a_signed_but_malformed_event_is_a_400_and_stores_nothing(endpoint, changes):
    response = deliver(endpoint, event_body(**changes))
    assert response.status_code == 400, response.content
    assert "not a Stripe event" in response.json()["error"]
    assert_nothing_stored()


def test_an_id_of_255_characters_is_stored(endpoint):
    body = event_body("evt_" + "a" * 251, data={"object": {
        "id": "pi_" + "b" * 252, "object": "payment_intent"}})
    assert deliver(endpoint, body).status_code == 200
    assert WebhookEvent.objects.get().object_id == "pi_" + "b" * 252


def test_the_signature_is_checked_over_the_bytes_sent_whatever_charset_is_named(endpoint):
    """Stripe signs the UTF-8 bytes; a header naming another charset must not make the
    check run over a re-encoding of them (it refused every non-ASCII event)."""
    event = json.loads(event_body(data={"object": {
        "id": "pi_webhooktest0001", "object": "payment_intent", "description": "Café für Zoë"}}))
    body = json.dumps(event, ensure_ascii=False).encode()  # as Stripe sends it: UTF-8
    # generic(), not post(): post() would re-encode the body in the charset named.
    response = Client().generic("POST", webhook_url(endpoint.djstripe_uuid), body,
                                content_type="application/json; charset=latin-1",
                                headers={"Stripe-Signature": signature_header(
                                    endpoint.secret, body, None)})
    assert response.status_code == 200, response.content
    assert "Café für Zoë" in WebhookEvent.objects.get().body


def test_the_address_without_its_last_slash_is_served_too(endpoint):
    """An endpoint typed by hand in Stripe's Dashboard easily lacks it: a redirect there
    is a failed delivery to Stripe (and a 500 under DEBUG)."""
    body = event_body()
    url = webhook_url(endpoint.djstripe_uuid)
    assert url.endswith("/")
    response = Client().post(url.rstrip("/"), body, content_type="application/json",
                             headers={"Stripe-Signature": signature_header(endpoint.secret,
                                                                           body, None)})
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.count() == 1


def test_a_test_event_to_a_live_account_is_refused(endpoint, settings):
    settings.STRIPE_SECRET_KEY = "sk_live_notARealKey000000000000000"
    assert deliver(endpoint, event_body()).status_code == 400
    assert deliver(endpoint, event_body("evt_webhooklive00001", livemode=True)
                   ).status_code == 200
    assert WebhookEvent.objects.get().livemode is True


def test_a_wrong_signature_is_refused_and_the_log_says_where_the_secret_is_set(endpoint,
                                                                               caplog):
    response = deliver(endpoint, event_body(), secret="whsec_notTheEndpointsSecret")
    assert response.status_code == 400
    assert response.json() == {"error": "The Stripe-Signature header is missing or invalid."}
    assert_nothing_stored()
    assert "manage.py webhook_secret_set" in caplog.text
    assert "whsec_" not in caplog.text  # neither secret is written down


def test_a_signature_of_another_body_is_refused(endpoint):
    signature = signature_header(endpoint.secret, event_body("evt_webhooktest0002"))
    assert deliver(endpoint, event_body(), signature=signature).status_code == 400
    assert_nothing_stored()


def test_a_missing_signature_is_refused(endpoint):
    assert deliver(endpoint, event_body(), signature="").status_code == 400
    assert_nothing_stored()


@pytest.mark.parametrize("signature", [
    "garbage", "t=,v1=", "v1=00", "t=1700000000", "t=abc,v1=00",
    "t=1700000000,t=1700000001,v1=00", "t=1700000000,v1=é"])
def test_a_malformed_signature_header_is_refused(endpoint, signature):
    assert deliver(endpoint, event_body(), signature=signature).status_code == 400
    assert_nothing_stored()


@pytest.mark.parametrize("age", [6 * 60, -6 * 60])
def test_a_signature_six_minutes_off_is_refused(endpoint, age):
    response = deliver(endpoint, event_body(), timestamp=int(time.time()) - age)
    assert response.status_code == 400
    assert_nothing_stored()


@pytest.mark.parametrize("body", [
    b"{not json", b"", b"[]", b'"evt_1"', b"\xff\xfe\x00",
    event_body(object="charge"),
    json.dumps({"id": "evt_1", "object": "event"}).encode(),
    event_body(data={"object": "pi_1"}),
    event_body(livemode="false"),
    event_body(id=None),
])
def test_a_signed_body_that_is_not_an_event_is_refused(endpoint, body):
    response = deliver(endpoint, body)
    assert response.status_code == 400, response.content
    assert_nothing_stored()


def test_an_unknown_endpoint_is_404(endpoint):
    response = Client().post(webhook_url(uuid.uuid4()), event_body(),
                             content_type="application/json",
                             headers={"Stripe-Signature": signature_header(endpoint.secret,
                                                                           event_body())})
    assert response.status_code == 404
    assert_nothing_stored()


def test_an_endpoint_without_a_secret_refuses_everything(endpoint):
    signature = signature_header(endpoint.secret, event_body())
    endpoint.secret = ""
    endpoint.save()
    assert deliver(endpoint, event_body(), signature=signature).status_code == 400
    assert_nothing_stored()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_allowed(endpoint, method):
    response = getattr(Client(), method)(webhook_url(endpoint.djstripe_uuid))
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert_nothing_stored()


def test_a_body_over_the_cap_is_413(endpoint, settings):
    settings.PAYMENTS_WEBHOOK_MAX_BYTES = 1024
    body = event_body(padding="x" * 1024)
    response = deliver(endpoint, body)
    assert response.status_code == 413
    assert response.json() == {"error": "The request is too large."}
    assert_nothing_stored()


def test_the_default_cap_is_256_kib(endpoint):
    body = event_body(padding="x" * 256 * 1024)
    assert deliver(endpoint, body).status_code == 413
    assert_nothing_stored()


def test_an_oversized_content_length_is_refused_without_reading_the_body(endpoint, settings):
    settings.PAYMENTS_WEBHOOK_MAX_BYTES = 1024
    stream = CountingStream(b"x" * 4096)
    request = RequestFactory().post(webhook_url(endpoint.djstripe_uuid), b"",
                                    content_type="application/json",
                                    CONTENT_LENGTH="4096", **{"wsgi.input": stream})
    response = webhook_receive(request, uuid=endpoint.djstripe_uuid)
    assert response.status_code == 413
    assert stream.bytes_read == 0
    assert_nothing_stored()


def test_a_chunked_body_over_the_cap_is_read_one_byte_past_it(endpoint, settings):
    # On ASGI a chunked body has no Content-Length; Django hands the view a file of it.
    settings.PAYMENTS_WEBHOOK_MAX_BYTES = 1024
    stream = CountingStream(b"x" * 1024 * 1024)
    body = event_body()
    scope = {"type": "http", "method": "POST", "path": webhook_url(endpoint.djstripe_uuid),
             "query_string": b"", "client": ("127.0.0.1", 40000),
             "server": ("testserver", 80),
             "headers": [(b"content-type", b"application/json"),
                         (b"transfer-encoding", b"chunked"),
                         (b"stripe-signature",
                          signature_header(endpoint.secret, body).encode())]}
    response = webhook_receive(ASGIRequest(scope, stream), uuid=endpoint.djstripe_uuid)
    assert response.status_code == 413
    assert stream.bytes_read == 1025
    assert_nothing_stored()


@pytest.mark.parametrize("size", [0, 1, 1023, 1024])
def test_a_body_within_the_cap_is_read_whole(size):
    body = b"y" * size
    request = RequestFactory().post("/", body, content_type="application/json")
    assert webhook_body_read(request=request, max_bytes=1024) == body


def test_a_body_one_byte_over_the_cap_is_refused():
    request = RequestFactory().post("/", b"y" * 1025, content_type="application/json")
    with pytest.raises(WebhookRejected) as rejected:
        webhook_body_read(request=request, max_bytes=1024)
    assert rejected.value.status == 413


def test_the_signature_scheme_matches_stripes():
    secret, payload, now = "whsec_abc", b'{"id": "evt_1"}', 1_700_000_000
    header = signature_header(secret, payload, now)  # the sandbox signs as Stripe does
    verify = {"payload": payload, "secret": secret, "tolerance": 300}
    assert webhook_signature_verify(header=header, now=now, **verify)
    assert webhook_signature_verify(header=header, now=now + 300, **verify)
    assert not webhook_signature_verify(header=header, now=now + 301, **verify)
    assert not webhook_signature_verify(header=header, now=now - 301, **verify)
    digest = header.split("v1=")[1]
    # While a secret is rolled Stripe sends several v1 values; any one may match.
    assert webhook_signature_verify(header=f"t={now},v1={'0' * 64},v1={digest}", now=now,
                                    **verify)
    assert webhook_signature_verify(header=f"t={now}, v0=zz, v1={digest}", now=now, **verify)
    # Only v1 counts: the same digest under another scheme is no signature.
    assert not webhook_signature_verify(header=f"t={now},v0={digest}", now=now, **verify)
    assert not webhook_signature_verify(header=f"t={now},v1={digest.upper()}", now=now,
                                        **verify)
    assert not webhook_signature_verify(header=header, now=now,
                                        **{**verify, "secret": "whsec_abd"})


def test_a_flood_of_badly_signed_posts_costs_one_query_and_one_hint(endpoint, caplog):
    """Anyone who knows the address: each POST read the endpoint again and logged the
    hint to set its secret (a hundred POSTs, a hundred queries and warnings)."""
    deliver(endpoint, event_body("evt_webhookflood0000"))  # remembered, as in production
    with CaptureQueriesContext(connection) as queries:
        for n in range(20):
            assert deliver(endpoint, event_body(f"evt_webhookflood{n:04d}"),
                           signature="t=1,v1=00").status_code == 400
    assert len([q for q in queries if "djstripe_webhookendpoint" in q["sql"]]) <= 1
    assert caplog.text.count("manage.py webhook_secret_set") == 1


def test_a_flood_of_posts_warns_once_a_minute_and_random_addresses_cost_no_query_each(
        endpoint, caplog):
    """Anyone can POST to the address, or to any uuid: each refusal was a warning (and an
    alert, the README's "Webhooks refused"), each unknown uuid a query."""
    from payments.stripe import webhooks

    webhooks._refusals_logged.clear()
    webhooks._refusals_unlogged.clear()
    with caplog.at_level("WARNING", logger="payments.stripe.webhooks"):
        for n in range(20):
            assert deliver(endpoint, event_body(f"evt_webhookwarn{n:04d}"),
                           signature="").status_code == 400
        with CaptureQueriesContext(connection) as queries:
            for _ in range(20):
                assert Client().post(webhook_url(uuid.uuid4()), event_body(),
                                     content_type="application/json").status_code == 404
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert [r.getMessage().split(":")[0] for r in refused] == [
        f"Stripe webhook {endpoint.djstripe_uuid} refused (400)",
        refused[1].getMessage().split(":")[0]]  # the 404s: one line, whatever the uuid
    assert "(404)" in refused[1].getMessage()
    assert len([q for q in queries if "djstripe_webhookendpoint" in q["sql"]]) <= 1
    # A minute on, the next refusal says how many were not written.
    webhooks._refusals_logged.clear()
    deliver(endpoint, event_body("evt_webhookwarn9999"), signature="")
    assert "19 more refused like it in the last minute" in caplog.text


@pytest.fixture
def endpoints_read_afresh():
    from payments.stripe import webhooks

    yield
    webhooks._known = None  # what one test read, the next does not inherit


def test_a_new_endpoint_is_found_though_the_known_ones_were_read_moments_ago(
        endpoint, endpoints_read_afresh):
    assert Client().post(webhook_url(uuid.uuid4()), event_body(),
                         content_type="application/json").status_code == 404
    other = endpoint_create(base_url="http://testserver")  # its signal: read again here
    assert deliver(other, event_body("evt_webhooknewendp01")).status_code == 200


def test_a_delivery_reads_the_endpoint_once_a_minute_and_a_rolled_secret_at_once(endpoint):
    from payments.stripe import webhooks

    webhooks._endpoints.clear()
    assert deliver(endpoint, event_body("evt_webhookcache0001")).status_code == 200
    # Remembered: the next delivery does not read the endpoint.
    with CaptureQueriesContext(connection) as queries:
        assert deliver(endpoint, event_body("evt_webhookcache0002")).status_code == 200
    assert not [q for q in queries if "djstripe_webhookendpoint" in q["sql"]]
    assert [q for q in queries if q["sql"].startswith("INSERT")]
    # The secret rolled in another process (no signal here): the remembered one fails,
    # the endpoint is read again, the delivery goes through.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret="whsec_rolledSecret0001")
    body = event_body("evt_webhookcache0003")
    assert deliver(endpoint, body, secret="whsec_rolledSecret0001").status_code == 200
    assert deliver(endpoint, event_body("evt_webhookcache0004")).status_code == 400
    assert WebhookEvent.objects.count() == 3


def test_a_secret_rolled_in_stripes_dashboard_is_set_by_the_command_and_used_at_once(
        endpoint, monkeypatch, capsys):
    """dj-stripe's admin shows no field for the secret: the README's rotation could not
    be followed."""
    rolled = "whsec_rolledInTheDashboard0001"
    assert deliver(endpoint, event_body("evt_webhookroll0001"), secret=rolled
                   ).status_code == 400
    monkeypatch.setattr("sys.stdin", io.StringIO(rolled + "\n"))
    call_command("webhook_secret_set")
    assert str(endpoint.djstripe_uuid) in capsys.readouterr().out
    assert deliver(endpoint, event_body("evt_webhookroll0002"), secret=rolled
                   ).status_code == 200
    assert "whsec_" not in capsys.readouterr().out


@pytest.mark.parametrize("given,why", [
    ("sk_test_notASigningSecret", "start with whsec_"),
    ("", "start with whsec_"),
])
def test_the_command_refuses_what_is_not_a_signing_secret_and_changes_nothing(
        endpoint, monkeypatch, given, why):
    monkeypatch.setattr("sys.stdin", io.StringIO(given + "\n"))
    with pytest.raises(CommandError, match=why):
        call_command("webhook_secret_set")
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret


def test_the_command_names_the_endpoint_when_there_are_several(endpoint, monkeypatch):
    other = endpoint_create(base_url="http://testserver")
    monkeypatch.setattr("sys.stdin", io.StringIO("whsec_forTheOtherOne0001\n"))
    with pytest.raises(CommandError, match="several"):
        call_command("webhook_secret_set")
    monkeypatch.setattr("sys.stdin", io.StringIO("whsec_forTheOtherOne0001\n"))
    call_command("webhook_secret_set", endpoint=str(other.djstripe_uuid))
    assert WebhookEndpoint.objects.get(pk=other.pk).secret == "whsec_forTheOtherOne0001"
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret


def test_the_command_refuses_an_unknown_endpoint_before_asking_for_the_secret(
        endpoint, monkeypatch):
    """It asked for the secret first, then called an unknown uuid 'not a webhook signing
    secret' when nothing was pasted."""
    unknown = "6f1c2a52-9d1e-4a8e-9a55-2f0a6b1c3d4e"
    asked = []
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.setattr("sys.stdin.readline", lambda: asked.append(1) or "")
    with pytest.raises(CommandError, match=f"No webhook endpoint has the uuid {unknown}"):
        call_command("webhook_secret_set", endpoint=unknown)
    assert asked == []
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret
