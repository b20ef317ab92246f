"""Stripe's events as webhooks delivered them: stored once, in the delivery's request,
and processed later by a worker (``payments.monitoring.events``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WebhookEvent(models.Model):
    """One Stripe event, by its id: a redelivery finds the row and adds nothing."""

    id = models.CharField(max_length=255, primary_key=True, verbose_name="Event")
    type = models.CharField(max_length=64)
    # The id of the event's object (a PaymentIntent's pi_…), to find its events.
    object_id = models.CharField(max_length=255, db_index=True, verbose_name="Object")
    created = models.DateTimeField(help_text="When Stripe made the event.")
    livemode = models.BooleanField()
    # The signed body as it came: exactly what Stripe sent, parsed by the worker.
    body = models.TextField()
    endpoint_uuid = models.UUIDField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    # A worker processing it holds it until then; a worker killed mid-way lets it go.
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            # The sweep's query: what is stored and not yet processed, oldest first.
            models.Index(fields=["received_at"], name="webhook_event_unprocessed",
                         condition=models.Q(processed_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"
