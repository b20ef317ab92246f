"""Read-only lists of the monitoring engine at work and of who did what: scan runs,
scan cursors, scan leases (``ScanLock``), ops actions (``OpsAction``) and the recovery
links mailed to shoppers.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.timesince import timesince
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from payments.admin.common import (
    EMPTY,
    DateRangeFilter,
    IndexedSearchMixin,
    ReadOnlyAdminMixin,
    ReadOnlyTabularInline,
    duration_short,
    email_wrapped,
    money_unbroken,
    order_admin_link,
    timestamp,
    url_of_this_site,
)
from payments.admin.ops import engine_internals_visible
from payments.admin.pagination import LargeTablePaginator
from payments.monitoring.models import ScanCursor, ScanLock, ScanRun
from payments.recovery import actions as ops_actions
from payments.recovery.models import OpsAction, OpsActionItem, RecoveryLink


@admin.register(ScanRun)
class ScanRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What each scan did: the engine at work (and where it failed)."""

    list_display = ["run", "kind_display", "status", "started", "duration", "calls",
                    "intents", "opened", "resolved", "finalized", "errors_short"]
    list_display_links = ["run"]
    list_filter = ["kind", "status", ("started_at", DateRangeFilter)]
    fields = ["kind_display", "status", "started", "finished", "duration", "stripe_calls",
              "intents_seen", "incidents_opened", "incidents_resolved", "finalized", "errors"]
    readonly_fields = fields

    @admin.display(description=_("Run"), ordering="pk")
    def run(self, scan_run: ScanRun) -> str:
        return f"#{scan_run.pk}"

    @admin.display(description=_("Kind"), ordering="kind")
    def kind_display(self, scan_run: ScanRun) -> str:
        return scan_run.get_kind_display()

    @admin.display(description=_("Started"), ordering="started_at")
    def started(self, scan_run: ScanRun) -> str:
        return timestamp(scan_run.started_at, seconds=True)

    @admin.display(description=_("Finished"), ordering="finished_at")
    def finished(self, scan_run: ScanRun) -> str:
        return timestamp(scan_run.finished_at, seconds=True)

    # Short headers: eleven columns fit a 1280 px screen next to the filters.
    @admin.display(description=_("Calls"), ordering="stripe_calls")
    def calls(self, scan_run: ScanRun) -> int:
        return scan_run.stripe_calls

    @admin.display(description=_("Intents"), ordering="intents_seen")
    def intents(self, scan_run: ScanRun) -> int:
        return scan_run.intents_seen

    @admin.display(description=_("Opened"), ordering="incidents_opened")
    def opened(self, scan_run: ScanRun) -> int:
        return scan_run.incidents_opened

    @admin.display(description=_("Resolved"), ordering="incidents_resolved")
    def resolved(self, scan_run: ScanRun) -> int:
        return scan_run.incidents_resolved

    @admin.display(description=_("Duration"))
    def duration(self, scan_run: ScanRun) -> str:
        if scan_run.finished_at is None:
            return gettext("running")
        return duration_short(scan_run.finished_at - scan_run.started_at)

    @admin.display(description=_("Errors"))
    def errors_short(self, scan_run: ScanRun) -> str:
        if not scan_run.errors:
            return EMPTY
        return format_html('<span title="{}">{}</span>', scan_run.errors,
                           Truncator(scan_run.errors).chars(40))


class EngineInternalsMixin:
    """The engine's own state, for ops and superusers only (not merchants)."""

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return engine_internals_visible(request.user) and \
            super().has_view_permission(request, obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return engine_internals_visible(request.user) and \
            super().has_module_permission(request)


@admin.register(ScanCursor)
class ScanCursorAdmin(EngineInternalsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Where each scan resumes (the last Stripe event seen, a backfill's position)."""

    list_display = ["name", "value", "updated"]
    fields = ["name", "value", "updated_at"]
    readonly_fields = fields

    @admin.display(description=_("Updated"), ordering="updated_at")
    def updated(self, cursor: ScanCursor) -> str:
        return timestamp(cursor.updated_at, seconds=True)


@admin.register(ScanLock)
class ScanLockAdmin(EngineInternalsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Which scan holds its lease, and until when.

    Read-only, no delete: a lease left by a killed worker expires by itself
    (``PAYMENTS_SCAN_LEASE_SECONDS``, a minute by default; a live scan renews it every
    third of that) and the next run takes it over. Deleting a live lease would
    let a second run of the same scan start while the first still calls Stripe (it notices
    only at its next renewal), which is what the lease exists to prevent."""

    list_display = ["name", "holder", "expires", "state"]
    fields = ["name", "holder", "expires_at", "state"]
    readonly_fields = fields

    @admin.display(description=_("Expires"), ordering="expires_at")
    def expires(self, lock: ScanLock) -> str:
        return timestamp(lock.expires_at, seconds=True)

    @admin.display(description=_("State"))
    def state(self, lock: ScanLock) -> str:
        now = timezone.now()
        if lock.expires_at > now:
            return gettext("held, expires in %(time)s") % {
                "time": timesince(now, lock.expires_at, depth=1)}
        return gettext("expired %(time)s ago: the next run takes it over") % {
            "time": timesince(lock.expires_at, now, depth=1)}


# --- who did what ------------------------------------------------------------------------

class OpsActionItemInline(ReadOnlyTabularInline):
    """The payments of an ops action, each with its result: the action's progress page
    while it runs, its record after."""

    model = OpsActionItem
    fields = ["payment", "amount", "kind", "order", "result_display", "finished"]
    readonly_fields = fields
    verbose_name = _("payment")
    verbose_name_plural = _("payments")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related(
            "incident__order").order_by("position")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        # Part of the action's record: whoever may see the action sees its payments.
        return request.user.has_perm("payments.view_opsaction")

    @admin.display(description=_("Payment"))
    def payment(self, item: OpsActionItem) -> str:
        url = reverse("admin:payments_incident_change", args=[item.incident_id])
        return format_html('<a href="{}">{}</a>', url,
                           item.incident.customer_email or gettext("(no email)"))

    @admin.display(description=_("Amount"))
    def amount(self, item: OpsActionItem) -> str:
        return money_unbroken(item.incident.amount, item.incident.currency)

    @admin.display(description=_("Kind"))
    def kind(self, item: OpsActionItem) -> str:
        return item.incident.get_kind_display()

    @admin.display(description=_("Order"))
    def order(self, item: OpsActionItem) -> str:
        if item.incident.order is None:
            return gettext("outside checkout")
        return order_admin_link(item.incident.order, short=True)

    @admin.display(description=_("Result"))
    def result_display(self, item: OpsActionItem) -> str:
        if item.result == OpsActionItem.Result.PENDING:
            return format_html('<span class="quiet">{}</span>', gettext("waiting"))
        if item.result == OpsActionItem.Result.DONE:
            return ops_actions.detail_words(item.detail)
        return format_html("<strong>{}</strong>: {}", item.get_result_display(),
                           ops_actions.detail_words(item.detail))

    @admin.display(description=_("At"))
    def finished(self, item: OpsActionItem) -> str:
        return timestamp(item.finished_at, seconds=True) if item.finished_at else EMPTY


PAYMENTS_NAMED = 3  # in the list; the action's page shows them all


class OpsActionStatusFilter(admin.SimpleListFilter):
    """The statuses of submitted actions (a page shown and never submitted is no action)."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin):
        return [(value, label) for value, label in OpsAction.Status.choices
                if value != OpsAction.Status.ISSUED]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


class SubmittedFilter(DateRangeFilter):
    title_text = _("submitted")


@admin.register(OpsAction)
class OpsActionAdmin(IndexedSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every ops action submitted: who, what, to which payments, and the result of each.
    Its page is also the progress page of an action at work (opsaction.js updates it)."""

    list_display = ["when", "user", "kind_display", "payments", "progress", "summary_display"]
    list_display_links = ["when"]
    list_filter = ["kind", OpsActionStatusFilter, ("submitted_at", SubmittedFilter)]
    search_fields = ["user__username", "summary", "items__incident__customer_email",
                     "items__incident__stripe_id", "items__incident__order__reference"]
    search_email_fields = ["items__incident__customer_email"]
    search_help_text = _("Staff user, result, or a payment's email, order or PaymentIntent id.")
    list_select_related = ["user"]
    # Newest submitted first, as "When" reads (a page left open a while is shown earlier).
    ordering = ["-submitted_at", "-created_at"]
    show_full_result_count = False
    paginator = LargeTablePaginator
    fields = ["kind_display", "user", "reason_display", "progress", "summary_display", "created",
              "submitted", "stop_display", "finished", "id"]
    readonly_fields = fields
    inlines = [OpsActionItemInline]
    change_form_template = "admin/payments/opsaction/change_form.html"

    def get_queryset(self, request: HttpRequest):
        # A confirmation page shown and never submitted did nothing.
        return super().get_queryset(request).exclude(status=OpsAction.Status.ISSUED)

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        first = OpsActionItem.objects.select_related("incident").order_by("position")
        rows = list(changelist.result_list.prefetch_related(
            Prefetch("items", queryset=first[:PAYMENTS_NAMED], to_attr="first_items")))
        summaries = ops_actions.recovery_summaries(records=rows)  # one query for the page
        for row in rows:
            row.summary_words = summaries.get(row.pk, "")
        changelist.result_list = rows
        return changelist

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [path("<uuid:object_id>/stop/", self.admin_site.admin_view(self.stop_view),
                     name=f"{info[0]}_{info[1]}_stop"),
                *super().get_urls()]

    def stop_view(self, request: HttpRequest, object_id) -> HttpResponse:
        """The progress page's Stop (POST): the payment at work finishes, the rest are
        left as they were; back to the page, which says so."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):  # the page the button is on
            raise PermissionDenied
        try:
            ops_actions.recovery_stop(action_id=object_id, user=request.user)
        except ops_actions.StopRefused as error:
            messages.error(request, gettext(str(error)))
        else:
            messages.success(request, gettext(
                "Stopping: the payment at work finishes, the others are left as they were."))
        page = reverse("admin:payments_opsaction_change", args=[object_id])
        back = url_of_this_site(request, request.POST.get("next", ""))
        return HttpResponseRedirect(f"{page}?{urlencode({'next': back})}" if back else page)

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        context = {**(extra_context or {})}
        if record is not None:
            back = url_of_this_site(request, request.GET.get("next", ""))
            if back:
                context["back"] = back
            context["at_work"] = record.status in ops_actions.AT_WORK
            context["can_stop"] = context["at_work"] and record.stop_requested_at is None \
                and request.user.has_perm(
                    f"payments.{ops_actions.ACTION_PERMISSIONS[record.kind]}")
            # The page's status line (role="status"), which opsaction.js keeps current.
            context["progress_words"] = self.progress(record)
            context["summary_words"] = "" if context["at_work"] else \
                ops_actions.recovery_summaries(records=[record]).get(record.pk, "")
        return super().change_view(request, object_id, form_url, context)

    @admin.display(description=_("When"), ordering="submitted_at")
    def when(self, action: OpsAction) -> str:
        return timestamp(action.submitted_at or action.created_at)

    @admin.display(description=_("Shown"))
    def created(self, action: OpsAction) -> str:
        return timestamp(action.created_at, seconds=True)

    @admin.display(description=_("Submitted"))
    def submitted(self, action: OpsAction) -> str:
        return timestamp(action.submitted_at, seconds=True)

    @admin.display(description=_("Stop asked"))
    def stop_display(self, action: OpsAction) -> str:
        if action.stop_requested_at is None:
            return EMPTY
        return f"{action.stop_requested_by} {timestamp(action.stop_requested_at, seconds=True)}"

    @admin.display(description=_("Finished"))
    def finished(self, action: OpsAction) -> str:
        return timestamp(action.finished_at, seconds=True)

    @admin.display(description=_("Action"), ordering="kind")
    def kind_display(self, action: OpsAction) -> str:
        if action.reason:
            return format_html('{}<br><span class="quiet">{}</span>',
                               action.get_kind_display(), self.reason_display(action))
        return action.get_kind_display()

    @admin.display(description=_("Summary"))
    def summary_display(self, action: OpsAction) -> str:
        """What the action did, in the reader's language (the stored summary is English)."""
        words = getattr(action, "summary_words", None)
        if words is None:
            words = ops_actions.recovery_summaries(records=[action]).get(action.pk, "")
        return words or EMPTY

    @admin.display(description=_("Reason"), ordering="reason")
    def reason_display(self, action: OpsAction) -> str:
        return ops_actions.CANCEL_REASONS.get(action.reason, action.reason) or EMPTY

    @admin.display(description=_("Payments"))
    def payments(self, action: OpsAction) -> str:
        """The first few payments by customer and amount, and how many more."""
        items = getattr(action, "first_items", None)
        if items is None:
            items = list(action.items.select_related("incident")[:PAYMENTS_NAMED])
        lines = [format_html('{} <span class="quiet">{}</span>',
                             item.incident.customer_email or gettext("(no email)"),
                             money_unbroken(item.incident.amount, item.incident.currency))
                 for item in items]
        if action.requested > len(items):
            lines.append(format_html('<span class="quiet">{}</span>', gettext(
                "and %(count)s more") % {"count": action.requested - len(items)}))
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines)) \
            if lines else EMPTY

    @admin.display(description=_("Status"))
    def progress(self, action: OpsAction) -> str:
        """"At work: 3 of 10", "Done", "Stopped by an error"."""
        if action.status in (OpsAction.Status.QUEUED, OpsAction.Status.RUNNING):
            finished = action.done + action.skipped
            state = gettext("Stopping") if action.stop_requested_at else \
                action.get_status_display()
            return f"{state}: {finished} of {action.requested} done"
        return action.get_status_display()


@admin.register(RecoveryLink)
class RecoveryLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The links mailed to shoppers: to whom, by whom, until when, and what became of them
    (opened, used in a browser, paid through)."""

    list_display = ["order_link", "email_display", "created_by", "created", "expires",
                    "state"]
    list_display_links = None
    list_filter = [("created_at", DateRangeFilter)]
    search_fields = ["order__reference", "email", "created_by__username"]
    list_select_related = ["order", "created_by"]
    fields = ["order_link", "incident_link", "email", "created_by", "created", "expires",
              "state"]
    readonly_fields = fields

    @admin.display(description=_("Order"), ordering="order__reference")
    def order_link(self, link: RecoveryLink) -> str:
        return order_admin_link(link.order, short=True)

    @admin.display(description=_("Incident"))
    def incident_link(self, link: RecoveryLink) -> str:
        if link.incident_id is None:
            return EMPTY
        url = reverse("admin:payments_incident_change", args=[link.incident_id])
        return format_html('<a href="{}">{}</a>', url, f"#{link.incident_id}")

    @admin.display(description=_("Email"), ordering="email")
    def email_display(self, link: RecoveryLink) -> str:
        return email_wrapped(link.email)

    @admin.display(description=_("Created"), ordering="created_at")
    def created(self, link: RecoveryLink) -> str:
        return timestamp(link.created_at)

    @admin.display(description=_("Expires"), ordering="expires_at")
    def expires(self, link: RecoveryLink) -> str:
        return timestamp(link.expires_at)

    @admin.display(description=_("Opened / used / paid"))
    def state(self, link: RecoveryLink) -> str:
        steps = [f"{step} {timestamp(at)}" for step, at in link.progress()]
        if steps:
            return ", ".join(steps)
        return gettext("expired unopened") if link.expires_at <= timezone.now() \
            else gettext("not yet opened")
