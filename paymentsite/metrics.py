"""``/metrics``: what ops watch, in Prometheus's text format (prometheus-client).

Counters come from ``payments.telemetry.counters`` (kept in Redis, so every web process
and worker adds to the same numbers); gauges are read from the database and the broker
at each scrape. Off unless ``PAYMENTS_METRICS_TOKEN`` is set; then a scrape must carry
``Authorization: Bearer <token>`` (anything else is a 404: the endpoint is not public).
README, "Watching it", lists the metrics and the alerts to set on them.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, Max, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from payments.models import Incident, ScanRun, WebhookEvent
from payments.monitoring.selectors import incident_open_counts
from payments.telemetry import counters

# Our counters: name in payments.telemetry → (Prometheus name, help).
COUNTERS = {
    "stripe_calls": ("payments_stripe_calls",
                     "Stripe API calls by who made them, endpoint and HTTP status (429: "
                     "Stripe's rate limit; connection: no answer)."),
    "stripe_budget_refused": ("payments_stripe_budget_refused",
                              "Stripe calls refused because the account's budget stayed "
                              "spent (nothing reached Stripe): a shopper or ops person "
                              "turned away, or a webhook's read put off."),
    "webhook_deliveries": ("payments_webhook_deliveries",
                           "Webhook deliveries by outcome: stored, duplicate, ignored "
                           "(a type we do not use), refused_<status>."),
    "incidents_opened": ("payments_incidents_opened", "Incidents opened, by kind."),
    "redis_unavailable": ("payments_redis_unavailable",
                          "Operations that found Redis unreachable and went on without it, "
                          "by component (throttle, stripe_budget, cache, webhook_drain, "
                          "celery_publish)."),
}
HISTOGRAMS = {
    "stripe_budget_wait_seconds": ("payments_stripe_budget_wait_seconds",
                                   "How long Stripe calls waited for the account's budget."),
    "webhook_lag_seconds": ("payments_webhook_processing_lag_seconds",
                            "From a webhook's delivery to its processing by a worker."),
}


class PaymentsCollector:
    def collect(self) -> Iterator:
        counted = counters.counters_read()
        # Counters kept in Redis are unknown while it is down: left out rather than
        # reported as zero, which Prometheus would take for a reset (a false jump after).
        if counted is not None:
            yield from _counters(counted)
            yield from _histograms(counted)
        if settings.REDIS_URL:
            yield GaugeMetricFamily("payments_redis_up",
                                    "1 when this scrape could read the counters in Redis.",
                                    value=int(counted is not None))
        yield from _gauges()

    def describe(self) -> list:
        return []  # collected afresh at each scrape, never at registration


def _split(key: str) -> tuple[str, dict[str, str]]:
    name, _, labels = key.partition("|")
    pairs = (pair.split("=", 1) for pair in labels.split(",") if pair)
    return name, {label: value for label, value in pairs}


def _counters(counted: dict[str, float]) -> Iterator[CounterMetricFamily]:
    rows: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for key, value in counted.items():
        name, labels = _split(key)
        if name in COUNTERS:
            rows[name].append((labels, value))
    for name, (metric, help_text) in COUNTERS.items():
        label_names = sorted({label for labels, _ in rows[name] for label in labels})
        family = CounterMetricFamily(metric, help_text, labels=label_names)
        for labels, value in rows[name]:
            family.add_metric([labels.get(label, "") for label in label_names], value)
        yield family


def _histograms(counted: dict[str, float]) -> Iterator[HistogramMetricFamily]:
    for name, (metric, help_text) in HISTOGRAMS.items():
        series: dict[tuple, dict] = defaultdict(lambda: {"buckets": {}, "sum": 0.0})
        for key, value in counted.items():
            part, labels = _split(key)
            if part == f"{name}_bucket":
                bound = labels.pop("le")
                series[tuple(sorted(labels.items()))]["buckets"][bound] = value
            elif part == f"{name}_sum":
                series[tuple(sorted(labels.items()))]["sum"] = value
        label_names = sorted({label for labels in series for label, _ in labels})
        family = HistogramMetricFamily(metric, help_text, labels=label_names)
        for labels, data in series.items():
            bounds = [str(bound) for bound in counters.BUCKETS] + ["+Inf"]
            buckets = [(bound, data["buckets"].get(bound, 0.0)) for bound in bounds]
            family.add_metric([dict(labels).get(label, "") for label in label_names],
                              buckets, data["sum"])
        yield family


def _gauges() -> Iterator[GaugeMetricFamily]:
    now = timezone.now()
    waiting = WebhookEvent.objects.filter(processed_at__isnull=True).aggregate(
        n=Count("pk"), oldest=Min("received_at"))
    yield GaugeMetricFamily("payments_webhook_events_unprocessed",
                            "Webhook events stored and not yet processed.", value=waiting["n"])
    yield GaugeMetricFamily(
        "payments_webhook_oldest_unprocessed_age_seconds",
        "Age of the oldest webhook event not yet processed (0: none).",
        value=(now - waiting["oldest"]).total_seconds() if waiting["oldest"] else 0)
    scans = GaugeMetricFamily("payments_scan_last_success_age_seconds",
                              "Seconds since each kind of scan last finished well.",
                              labels=["kind"])
    finished = dict(ScanRun.objects.filter(status=ScanRun.Status.DONE).values_list("kind")
                    .annotate(last=Max("finished_at")))
    for kind in ScanRun.Kind.values:
        if finished.get(kind):
            scans.add_metric([kind], (now - finished[kind]).total_seconds())
    yield scans
    open_ = GaugeMetricFamily("payments_incidents_open",
                              "Payments whose latest incident is open, by its kind (each "
                              "payment once, as the dashboard counts them).", labels=["kind"])
    counts = incident_open_counts()
    for kind in Incident.Kind.values:
        open_.add_metric([kind], counts.get(kind, 0))
    yield open_
    depth = celery_queue_depth()
    if depth is not None:
        yield GaugeMetricFamily("payments_celery_queue_depth",
                                "Tasks waiting in Celery's default queue.", value=depth)


def celery_queue_depth() -> int | None:
    """Messages waiting in the default queue: a Redis list, or the filesystem broker's
    files; None when the broker cannot tell."""
    from paymentsite.celery import app

    queue = app.conf.task_default_queue or "celery"
    if settings.REDIS_URL:
        try:
            with app.connection_for_read() as connection:
                return connection.default_channel.client.llen(queue)
        except Exception:  # the broker is down: the gauge is left out, not a 500
            return None
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    folder = options.get("data_folder_in")
    return len(list(Path(folder).glob("*.msg"))) if folder else None


_registry = CollectorRegistry(auto_describe=False)
_registry.register(PaymentsCollector())


@login_not_required
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.PAYMENTS_METRICS_TOKEN
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme != "Bearer" or not hmac.compare_digest(offered.encode(),
                                                                  token.encode()):
        raise Http404("No such page.")
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)
