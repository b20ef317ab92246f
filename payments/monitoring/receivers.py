"""Signal receivers of monitoring, a few lines each: a webhook event stored (its
processing is queued for a worker), and the checkout's ``payment_settled`` (a payment
paid or canceled ends its incidents) and ``payment_challenged`` (the daily totals)."""

from __future__ import annotations

from django.dispatch import receiver

from payments.checkout.models import PaymentAttempt
from payments.checkout.signals import payment_challenged, payment_settled
from payments.monitoring import events, incidents, tasks, totals
from payments.stripe.models import WebhookEvent
from payments.stripe.signals import webhook_event_stored
from payments.telemetry import counters


@receiver(webhook_event_stored, sender=WebhookEvent)
def webhook_event_stored_received(sender, event_id: str, **kwargs) -> None:
    # No publish retries: a broker that is down must not hold Stripe's delivery; the
    # event waits in its table for the sweep (payments.monitoring.events).
    events.webhook_events_drain_request(
        publish=lambda: counters.redis_guard(
            lambda: tasks.webhook_events_drain_task.apply_async(retry=False)))


@receiver(payment_settled)
def payment_settled_received(sender, attempt: PaymentAttempt, previous: str, source: str,
                             confirmed: bool, replayed: bool = False, **kwargs) -> None:
    incidents.incidents_end_for_settled(attempt=attempt, previous=previous, source=source,
                                        confirmed=confirmed, replayed=replayed)


@receiver(payment_challenged)
def payment_challenged_received(sender, attempt: PaymentAttempt, before, **kwargs) -> None:
    """The dashboard's failure totals say whether a failed payment was challenged."""
    totals.attempt_challenge_moved(attempt=attempt, before=before)
