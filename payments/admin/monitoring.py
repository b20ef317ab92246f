"""Read-only lists of the monitoring engine at work and of who did what: scan runs,
scan cursors, scan leases (``ScanLock``), ops actions (``OpsAction``) and the recovery
links mailed to shoppers.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timesince import timesince

from payments.admin.common import (
    EMPTY,
    ReadOnlyAdminMixin,
    duration_short,
    email_wrapped,
    order_admin_link,
    timestamp_compact,
    timestamp_short,
)
from payments.monitoring.models import ScanCursor, ScanLock, ScanRun
from payments.recovery import actions as ops_actions
from payments.recovery.models import OpsAction, RecoveryLink


@admin.register(ScanRun)
class ScanRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What each scan did: the engine at work (and where it failed)."""

    list_display = ["run", "kind_display", "status", "started", "duration", "calls",
                    "intents", "opened", "resolved", "finalized", "errors_short"]
    list_display_links = ["run"]
    list_filter = ["kind", "status", ("started_at", admin.DateFieldListFilter)]
    fields = ["kind_display", "status", "started", "finished", "duration", "stripe_calls",
              "intents_seen", "incidents_opened", "incidents_resolved", "finalized", "errors"]
    readonly_fields = fields

    @admin.display(description="Run", ordering="pk")
    def run(self, scan_run: ScanRun) -> str:
        return f"#{scan_run.pk}"

    @admin.display(description="Kind", ordering="kind")
    def kind_display(self, scan_run: ScanRun) -> str:
        return scan_run.get_kind_display()

    @admin.display(description="Started", ordering="started_at")
    def started(self, scan_run: ScanRun) -> str:
        return timestamp_compact(scan_run.started_at, seconds=True)

    @admin.display(description="Finished", ordering="finished_at")
    def finished(self, scan_run: ScanRun) -> str:
        return timestamp_short(scan_run.finished_at, seconds=True)

    # Short headers: eleven columns fit a 1280 px screen next to the filters.
    @admin.display(description="Calls", ordering="stripe_calls")
    def calls(self, scan_run: ScanRun) -> int:
        return scan_run.stripe_calls

    @admin.display(description="Intents", ordering="intents_seen")
    def intents(self, scan_run: ScanRun) -> int:
        return scan_run.intents_seen

    @admin.display(description="Opened", ordering="incidents_opened")
    def opened(self, scan_run: ScanRun) -> int:
        return scan_run.incidents_opened

    @admin.display(description="Resolved", ordering="incidents_resolved")
    def resolved(self, scan_run: ScanRun) -> int:
        return scan_run.incidents_resolved

    @admin.display(description="Duration")
    def duration(self, scan_run: ScanRun) -> str:
        if scan_run.finished_at is None:
            return "running"
        return duration_short(scan_run.finished_at - scan_run.started_at)

    @admin.display(description="Errors")
    def errors_short(self, scan_run: ScanRun) -> str:
        if not scan_run.errors:
            return EMPTY
        return format_html('<span title="{}">{}</span>', scan_run.errors,
                           Truncator(scan_run.errors).chars(40))


@admin.register(ScanCursor)
class ScanCursorAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Where each scan resumes (the last Stripe event seen, a backfill's position)."""

    list_display = ["name", "value", "updated"]
    fields = ["name", "value", "updated_at"]
    readonly_fields = fields

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, cursor: ScanCursor) -> str:
        return timestamp_short(cursor.updated_at, seconds=True)


@admin.register(ScanLock)
class ScanLockAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Which scan holds its lease, and until when.

    Read-only, no delete: a lease left by a killed worker expires by itself (the scans'
    ``LEASE_TTL``, 10 minutes) and the next run takes it over. Deleting a live lease would
    let a second run of the same scan start while the first still calls Stripe (it notices
    only at its next renewal), which is what the lease exists to prevent."""

    list_display = ["name", "holder", "expires", "state"]
    fields = ["name", "holder", "expires_at", "state"]
    readonly_fields = fields

    @admin.display(description="Expires", ordering="expires_at")
    def expires(self, lock: ScanLock) -> str:
        return timestamp_short(lock.expires_at, seconds=True)

    @admin.display(description="State")
    def state(self, lock: ScanLock) -> str:
        now = timezone.now()
        if lock.expires_at > now:
            return f"held, expires in {timesince(now, lock.expires_at, depth=1)}"
        return f"expired {timesince(lock.expires_at, now, depth=1)} ago: the next run takes it over"


# --- who did what ------------------------------------------------------------------------

@admin.register(OpsAction)
class OpsActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every ops action as submitted: who, what, to how many payments, and the result."""

    list_display = ["when", "user", "kind_display", "reason_display", "requested", "done",
                    "skipped", "summary"]
    list_display_links = ["when"]
    list_filter = ["kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["user__username", "summary"]
    list_select_related = ["user"]
    fields = ["kind_display", "user", "reason_display", "requested", "done", "skipped",
              "summary", "created", "id"]
    readonly_fields = fields

    @admin.display(description="When", ordering="created_at")
    def when(self, action: OpsAction) -> str:
        return timestamp_compact(action.created_at, seconds=True)

    @admin.display(description="At")
    def created(self, action: OpsAction) -> str:
        return timestamp_short(action.created_at, seconds=True)

    @admin.display(description="Action", ordering="kind")
    def kind_display(self, action: OpsAction) -> str:
        return action.get_kind_display()

    @admin.display(description="Reason", ordering="reason")
    def reason_display(self, action: OpsAction) -> str:
        return ops_actions.CANCEL_REASONS.get(action.reason, action.reason) or EMPTY


@admin.register(RecoveryLink)
class RecoveryLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The links mailed to shoppers: to whom, by whom, until when, and what became of them
    (opened, used in a browser, paid through)."""

    list_display = ["order_link", "email_display", "created_by", "created", "expires",
                    "state"]
    list_display_links = None
    list_filter = [("created_at", admin.DateFieldListFilter)]
    search_fields = ["order__reference", "email", "created_by__username"]
    list_select_related = ["order", "created_by"]
    fields = ["order_link", "incident_link", "email", "created_by", "created", "expires",
              "state"]
    readonly_fields = fields

    @admin.display(description="Order", ordering="order__reference")
    def order_link(self, link: RecoveryLink) -> str:
        return order_admin_link(link.order, short=True)

    @admin.display(description="Incident")
    def incident_link(self, link: RecoveryLink) -> str:
        if link.incident_id is None:
            return EMPTY
        url = reverse("admin:payments_incident_change", args=[link.incident_id])
        return format_html('<a href="{}">{}</a>', url, f"#{link.incident_id}")

    @admin.display(description="Email", ordering="email")
    def email_display(self, link: RecoveryLink) -> str:
        return email_wrapped(link.email)

    @admin.display(description="Created", ordering="created_at")
    def created(self, link: RecoveryLink) -> str:
        return timestamp_compact(link.created_at)

    @admin.display(description="Expires", ordering="expires_at")
    def expires(self, link: RecoveryLink) -> str:
        return timestamp_compact(link.expires_at)

    @admin.display(description="Opened / used / paid")
    def state(self, link: RecoveryLink) -> str:
        steps = [f"{step} {timestamp_compact(at)}" for step, at in link.progress()]
        if steps:
            return ", ".join(steps)
        return "expired unopened" if link.expires_at <= timezone.now() else "not yet opened"
