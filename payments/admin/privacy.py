"""Erasure records (``payments.privacy``), read-only and for superusers only: who erased a
shopper's data, when, and how many rows of each table. The record keeps no address,
only its keyed hash."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from payments.admin.common import ReadOnlyAdminMixin, timestamp
from payments.privacy.models import ErasureRecord
from payments.privacy.selectors import EmailInvalid, email_keyed_hashes, email_normalise


@admin.register(ErasureRecord)
class ErasureRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "erased", "actor", "counts_display"]
    fields = ["erased", "actor", "counts_display", "email_hmac"]
    readonly_fields = fields
    search_fields = ["=actor"]
    search_help_text = _("An email address (matched by its keyed hash; the record keeps no "
                         "address), or who erased it.")

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        """An address typed in finds its records by their hash (it found none before,
        which read as "never erased")."""
        try:
            address = email_normalise(email=search_term)
        except EmailInvalid:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(email_hmac__in=email_keyed_hashes(address=address)), False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    @admin.display(description=_("Erased"), ordering="erased_at")
    def erased(self, record: ErasureRecord) -> str:
        return timestamp(record.erased_at, seconds=True)

    @admin.display(description=_("Rows changed"))
    def counts_display(self, record: ErasureRecord) -> str:
        return format_html_join(", ", "{}: {}", (
            (COUNT_LABELS.get(table, table.replace("_", " ")), count)
            for table, count in record.counts.items()))


# What each count of a record is, in the reader's language (the record keeps its keys).
COUNT_LABELS = {"orders": _("orders"), "orders_canceled": _("orders awaiting payment canceled"),
                "incidents_ended": _("open incidents ended (their orders canceled)"),
                "receipts_stopped": _("receipts stopped"), "incidents": _("incidents"),
                "recovery_links": _("recovery links"), "admin_log": _("admin history entries")}
