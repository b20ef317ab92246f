"""/metrics: off without a token, a 404 for a wrong one, and with it the counters every
process adds (Stripe calls, webhook deliveries, incidents) and the gauges read at the
scrape (events waiting, open incidents)."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from payments.models import Incident, Product, WebhookEvent
from payments.telemetry import counters
from tests.payments.conftest import shopper_with_order

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def metrics_on(settings):
    settings.PAYMENTS_METRICS_TOKEN = TOKEN
    counters.counters_clear()
    yield
    counters.counters_clear()


def scrape(token: str = TOKEN) -> dict[str, list]:
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.status_code
    return {family.name: family.samples
            for family in text_string_to_metric_families(response.content.decode())}


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer ", TOKEN, "Basic x"])
def test_metrics_are_not_public(metrics_on, db, header):
    headers = {"Authorization": header} if header is not None else {}
    assert Client().get("/metrics", headers=headers).status_code == 404


def test_metrics_are_off_without_a_token(settings, db):
    settings.PAYMENTS_METRICS_TOKEN = ""
    assert Client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_a_scrape_reads_the_counters_and_the_gauges(metrics_on, site_on_sandbox, sandbox,
                                                    db):
    product = Product.objects.create(sku="cups", name="Cups", price=2599, currency="eur")
    shopper = shopper_with_order(product)
    assert shopper.pay(payment_method_id="pm_card_visa").status_code == 200
    declined = shopper_with_order(product)
    assert declined.pay(payment_method_id="pm_card_chargeDeclinedInsufficientFunds"
                        ).status_code == 402
    families = scrape()
    calls = {(s.labels["source"], s.labels["endpoint"], s.labels["status"]): s.value
             for s in families["payments_stripe_calls"] if s.name.endswith("_total")}
    assert calls == {("shopper", "POST /v1/payment_intents", "200"): 1,
                     ("shopper", "POST /v1/payment_intents", "402"): 1}
    waiting = {s.name: s.value for s in families["payments_webhook_events_unprocessed"]}
    assert waiting == {"payments_webhook_events_unprocessed": 0}
    open_by_kind = {s.labels["kind"]: s.value for s in families["payments_incidents_open"]}
    assert set(open_by_kind) == set(Incident.Kind.values) and not any(open_by_kind.values())


def test_a_scrape_sees_webhook_events_waiting(metrics_on, db):
    from django.utils import timezone

    WebhookEvent.objects.create(id="evt_waiting1", type="payment_intent.succeeded",
                                object_id="pi_1", created=timezone.now(), livemode=False,
                                body="{}")
    counters.count(name="webhook_deliveries", outcome="stored")
    counters.observe(name="webhook_lag_seconds", seconds=0.3)
    families = scrape()
    assert families["payments_webhook_events_unprocessed"][0].value == 1
    assert [s.value for s in families["payments_webhook_deliveries"]
            if s.name.endswith("_total")] == [1]
    lag = {(s.name, s.labels.get("le")): s.value
           for s in families["payments_webhook_processing_lag_seconds"]}
    assert lag[("payments_webhook_processing_lag_seconds_bucket", "0.25")] == 0
    assert lag[("payments_webhook_processing_lag_seconds_bucket", "0.5")] == 1
    assert lag[("payments_webhook_processing_lag_seconds_count", None)] == 1


def test_the_open_gauge_counts_each_payment_once_as_the_dashboard_does(metrics_on, db):
    """It counted open incidents: a payment left at the challenge that then failed read
    twice, and /metrics said 22 where the dashboard said 14 payments."""
    import dataclasses

    from django.utils import timezone

    from payments.monitoring import incidents, selectors
    from tests.payments.monitoring.test_totals import attempt_new, intent_of, record

    attempt = attempt_new("twice")
    intent = intent_of("twice")
    attempt = record(attempt, intent, status="requires_action")
    for kind, status in ((Incident.Kind.ACTION_ABANDONED, "requires_action"),
                         (Incident.Kind.AUTHENTICATION_FAILED, "requires_payment_method")):
        incidents.incident_open(intent=dataclasses.replace(intent, status=status),
                                attempt=attempt, kind=kind, source="scan", card_from=attempt)
    assert Incident.objects.filter(status=Incident.Status.OPEN).count() == 2

    gauge = {s.labels["kind"]: s.value for s in scrape()["payments_incidents_open"]}
    assert sum(gauge.values()) == 1 and gauge["authentication_failed"] == 1
    since, until = selectors.period_bounds(days=7, now=timezone.now())
    dashboard = selectors.dashboard_summary(since=since, until=until)
    assert {group.value: group.totals.count for group in dashboard.open_by_kind} == \
        {"authentication_failed": 1}
