"""Signal receivers of monitoring, a few lines each: a webhook event stored (its
processing is queued for a worker), and the checkout's ``payment_settled`` (a payment
paid or canceled ends its incidents) and ``payment_challenged`` (the daily totals)."""

from __future__ import annotations

from django.dispatch import receiver

from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.checkout.signals import payment_challenged, payment_settled
from payments.monitoring import events, incidents, tasks, totals
from payments.monitoring.models import Incident
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
    """The payment's incidents end: recovered, canceled, or auto-finalized when our own
    scan's confirm paid it (its answer, or the one it sent with its answer lost). An
    order's first intent paid at its first answer to /pay has none (nothing saw it fail
    or wait): most payments, so no query for them."""
    if source == PaymentEvent.Source.PAY and previous == PaymentAttempt.Status.CREATING \
            and attempt.number == 1:
        return
    auto = source == PaymentEvent.Source.SCAN and confirmed
    # Paid straight from requires_confirmation, and not by a confirm Stripe carried out
    # for this caller (a read brought it, or Stripe replayed an earlier request's answer
    # for the shared key): a sweep's confirm sent for it did it (incident_finalize_sent).
    sweeps_maybe = previous == PaymentAttempt.Status.REQUIRES_CONFIRMATION and not (
        confirmed and not replayed)
    incidents.incidents_end(
        stripe_id=attempt.stripe_id, order_id=attempt.order_id, intent_status=attempt.status,
        paid_as=Incident.Status.AUTO_FINALIZED if auto else Incident.Status.RECOVERED,
        from_confirmation=sweeps_maybe)


@receiver(payment_challenged)
def payment_challenged_received(sender, attempt: PaymentAttempt, before, **kwargs) -> None:
    """The dashboard's failure totals say whether a failed payment was challenged."""
    totals.attempt_challenge_moved(attempt=attempt, before=before)
