"""Stripe's events as webhooks delivered them: stored once, in the delivery's request,
and processed later by a worker (``payments.monitoring.events``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WebhookEvent(models.Model):
    """One Stripe event, by its id: a redelivery finds the row and adds nothing."""

    id = models.CharField(max_length=255, primary_key=True, verbose_name=_("Event"))
    type = models.CharField(_("type"), max_length=64)
    # The id of the event's object (a PaymentIntent's pi_…), to find its events.
    object_id = models.CharField(max_length=255, db_index=True, verbose_name=_("Object"))
    created = models.DateTimeField(_("created"), help_text=_("When Stripe made the event."))
    livemode = models.BooleanField(_("livemode"))
    # The signed body as it came: exactly what Stripe sent, parsed by the worker.
    body = models.TextField(_("body"))
    endpoint_uuid = models.UUIDField(_("endpoint uuid"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    # A worker processing it holds it until then; a worker killed mid-way lets it go.
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-received_at"]
        indexes = [
            # The sweep's query: what is stored and not yet processed, oldest first.
            models.Index(fields=["received_at"], name="webhook_event_unprocessed",
                         condition=models.Q(processed_at__isnull=True)),
            # Retention's query: the processed ones, oldest first (migration 0084).
            models.Index(fields=["processed_at"], name="webhook_event_processed",
                         condition=models.Q(processed_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"
