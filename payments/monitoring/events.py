"""Stripe's webhook events, processed by a worker after the delivery was stored
(``payments.stripe.webhooks``), in whatever order they come, any number of times.

The intake asks for a *drain* (``webhook_events_drain_request``): with Redis, one task
for a burst of deliveries (a flag set if absent, cleared when the drain starts), so a
delivery costs one Redis command rather than a Celery publish; the drain then processes
every event waiting, oldest first. A worker claims an event (``claimed_until``) so two
workers do not process it at once; one killed mid-way lets its claim run out, and the
sweep takes the event up again. A failure is kept on the row (``last_error``) and
retried later, each time a little later. An event that needs a read from Stripe while the
account's budget is spent on shoppers is put off for a few seconds, not waited for: the
events behind it go on. Recording is ``observe.intent_event_record``:
no read from Stripe unless the event cannot be placed against what we hold.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache

import redis
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from payments.checkout.models import PaymentEvent
from payments.monitoring import observe, reconcile, refresh
from payments.stripe import budget, gateway
from payments.stripe.models import WebhookEvent
from payments.telemetry import counters, outages

log = logging.getLogger(__name__)

CLAIM_TTL = timedelta(minutes=2)
DRAIN_FLAG = "payments:webhook-events:drain-queued"
DRAIN_FLAG_SECONDS = 60  # a drain lost with its broker: the next delivery asks again
# An event not processed this long after it came was not queued (the broker was down)
# or its worker died: the sweep takes it.
SWEEP_AFTER = timedelta(seconds=30)
SWEEP_PAGE = 200
# A read that cannot have the budget within this long is put off by BUDGET_RETRY.
REFRESH_PATIENCE_SECONDS = 0.5
BUDGET_RETRY = timedelta(seconds=5)
RETRY_DELAYS = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10),
                timedelta(hours=1))


def webhook_event_process(*, event_id: str) -> bool:
    """Process one stored event; True when this call processed it (False: processed
    already, or another worker holds it). Raises what processing raised, after keeping
    it on the row and setting when to try again."""
    event = _claim(event_id)
    if event is None:
        return False
    try:
        _record(event)
    except gateway.RateLimited as error:  # the budget is the shoppers': try again soon
        WebhookEvent.objects.filter(pk=event.pk).update(
            last_error=f"put off: {error.code}", claimed_until=timezone.now() + BUDGET_RETRY)
        return False
    except Exception as error:
        delay = RETRY_DELAYS[min(event.attempts, len(RETRY_DELAYS)) - 1]
        WebhookEvent.objects.filter(pk=event.pk).update(
            last_error=f"{type(error).__name__}: {error}"[:2000],
            claimed_until=timezone.now() + delay)
        raise
    processed_at = timezone.now()
    WebhookEvent.objects.filter(pk=event.pk).update(
        processed_at=processed_at, claimed_until=None, last_error="")
    counters.observe(name="webhook_lag_seconds",
                     seconds=(processed_at - event.received_at).total_seconds())
    return True


def webhook_events_drain_request(*, publish: Callable[[], object]) -> None:
    """Have the waiting events processed: ``publish`` queues a drain, unless one is queued
    already and has not started (with Redis; without it, every delivery queues one). A
    publish that fails (the broker is down) leaves the events to the sweep; so does a
    Redis that does not answer (it is the broker too): the delivery is stored and answered
    all the same."""
    flagged = bool(settings.REDIS_URL)
    try:
        if flagged and not _drain_flag().set(DRAIN_FLAG, 1, nx=True, ex=DRAIN_FLAG_SECONDS):
            return
    except redis.RedisError:
        outages.redis_unavailable(component="webhook_drain",
                                  doing="webhook events left to the sweep")
        return
    try:
        publish()
    except Exception:
        outages.redis_unavailable(component="celery_publish",
                                  doing="webhook events not queued; the sweep processes them")
        if flagged:
            try:
                _drain_flag().delete(DRAIN_FLAG)
            except redis.RedisError:  # it expires by itself (DRAIN_FLAG_SECONDS)
                outages.redis_unavailable(component="webhook_drain",
                                          doing="webhook events left to the sweep")


def webhook_events_drain(*, limit: int = 10_000) -> int:
    """Process every event waiting and not held by another worker, oldest first, until
    none is left (or ``limit``); returns how many this drain processed. Deliveries that
    come meanwhile ask for another drain, which finds them."""
    if settings.REDIS_URL:
        try:
            _drain_flag().delete(DRAIN_FLAG)
        except redis.RedisError:  # the flag expires by itself; the drain goes on
            outages.redis_unavailable(component="webhook_drain",
                                      doing="drain flag left to expire")
    processed = 0
    while processed < limit:
        now = timezone.now()
        due = list(WebhookEvent.objects.filter(processed_at__isnull=True)
                   .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
                   .order_by("received_at").values_list("pk", flat=True)[:SWEEP_PAGE])
        if not due:
            break
        for event_id in due:
            try:
                processed += webhook_event_process(event_id=event_id)
            except Exception:  # kept on the row, retried later; the others go on
                log.warning("webhook event %s not processed; retried later", event_id,
                            exc_info=True)
    return processed


def webhook_events_sweep(*, now: datetime | None = None, limit: int = SWEEP_PAGE) -> int:
    """Process the events stored and not processed since ``SWEEP_AFTER`` (never queued, or
    their worker died, or they failed and their retry is due), oldest first, at most
    ``limit``; returns how many were processed. One failing event does not stop the
    others: it is logged and tried again later."""
    now = now or timezone.now()
    due = (WebhookEvent.objects.filter(processed_at__isnull=True,
                                       received_at__lt=now - SWEEP_AFTER)
           .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
           .order_by("received_at").values_list("pk", flat=True)[:limit])
    processed = 0
    for event_id in list(due):
        try:
            processed += webhook_event_process(event_id=event_id)
        except Exception:
            log.warning("webhook event %s not processed; retried later", event_id,
                        exc_info=True)
    return processed


@cache
def _redis(url: str) -> redis.Redis:
    return counters.redis_client(url=url)


def _drain_flag() -> redis.Redis:
    return _redis(settings.REDIS_URL)


def _claim(event_id: str) -> WebhookEvent | None:
    now = timezone.now()
    claimed = (WebhookEvent.objects
               .filter(pk=event_id, processed_at__isnull=True)
               .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
               .update(claimed_until=now + CLAIM_TTL, attempts=F("attempts") + 1))
    return WebhookEvent.objects.get(pk=event_id) if claimed else None


def _record(event: WebhookEvent) -> None:
    data = gateway.event_data_from_payload(json.loads(event.body))
    if data is None:  # not about a PaymentIntent: nothing of ours to record
        return
    observation = observe.intent_event_record(event=data, source=PaymentEvent.Source.WEBHOOK)
    if observation.paid_outside:
        reconcile.reconcile_soon_request(order_reference=observation.paid_outside)
    if observation.refresh:
        with budget.background_patience(seconds=REFRESH_PATIENCE_SECONDS):
            refresh.intent_refresh(intent_id=data.intent.id, source=PaymentEvent.Source.WEBHOOK,
                                   actor=data.id)
