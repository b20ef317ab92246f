"""Read-only list of Stripe's webhook events as the intake stored them: what came, when,
whether a worker processed it, and why not."""

from __future__ import annotations

import json
import re

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from payments.admin.common import (
    EMPTY,
    ReadOnlyAdminMixin,
    decimal_short,
    text_short,
    timestamp,
)
from payments.stripe.models import WebhookEvent


class ProcessedFilter(admin.SimpleListFilter):
    title = "processed"
    parameter_name = "processed"

    def lookups(self, request, model_admin):
        return [("yes", "Processed"), ("no", "Waiting"), ("failing", "Failing")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "yes":
            return queryset.filter(processed_at__isnull=False)
        if value == "no":
            return queryset.filter(processed_at__isnull=True)
        if value == "failing":
            return queryset.filter(processed_at__isnull=True).exclude(last_error="")
        return queryset


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "type", "object_id", "created_display", "received", "state",
                    "attempts"]
    list_filter = [ProcessedFilter, "type"]
    search_fields = ["=id", "=object_id"]
    fields = ["id", "type", "object_id", "created_display", "received", "state", "attempts",
              "last_error", "endpoint_uuid", "body_pretty"]
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description=_("Made by Stripe"), ordering="created")
    def created_display(self, event: WebhookEvent) -> str:
        return timestamp(event.created, seconds=True)

    @admin.display(description=_("Received"), ordering="received_at")
    def received(self, event: WebhookEvent) -> str:
        return timestamp(event.received_at, seconds=True)

    @admin.display(description=_("State"))
    def state(self, event: WebhookEvent) -> str:
        if event.processed_at:
            lag = (event.processed_at - event.received_at).total_seconds()
            return gettext("processed after %(seconds)s s") % {"seconds": decimal_short(lag)}
        if event.last_error:
            return format_html("{} {}", gettext("failing:"),
                               text_short(event.last_error, limit=60))
        return gettext("waiting")

    @admin.display(description=_("Body"))
    def body_pretty(self, event: WebhookEvent) -> str:
        try:
            text = json.dumps(json.loads(event.body), indent=2, sort_keys=True)
        except ValueError:
            text = event.body
        # An intent's client secret completes its payment in a browser: staff who read
        # events need its id, not the secret (logs drop it too: paymentsite/logging.py).
        text = CLIENT_SECRET.sub(r"\1_secret_[redacted]", text)
        return format_html("<pre>{}</pre>", text) if text else EMPTY


CLIENT_SECRET = re.compile(r"\b((?:pi|seti)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+")
