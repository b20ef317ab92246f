"""Reconciliation in the admin, read-only for merchants and ops alike: the runs (what
each compared, in numbers) and the mismatches they found (open first). Only a run writes
them (``payments.monitoring.reconcile``; ``manage.py payments_reconcile`` or beat)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from payments.admin.common import (
    EMPTY,
    DateRangeFilter,
    ReadOnlyAdminMixin,
    duration_short,
    intent_status_label,
    money_unbroken,
    order_admin_link,
    stripe_id_short,
    timestamp,
)
from payments.monitoring import reconcile
from payments.monitoring.models import ReconciliationMismatch, ReconciliationRun
from payments.shop.models import Order


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each comparison of Stripe with the shop: its window, what it compared, what it
    found. A merchant reads here, in numbers, that nothing was lost."""

    list_display = ["run", "status", "started", "window", "duration", "calls", "intents",
                    "charges", "attempts", "found", "new", "resolved_count"]
    list_display_links = ["run"]
    list_filter = ["status", "trigger", ("started_at", DateRangeFilter)]
    fields = ["status", "trigger", "window_range", "started", "finished", "duration",
              "stripe_calls", "intents_compared", "intents_outside", "charges_compared",
              "attempts_compared", "orders_paid", "money_at_stripe_text",
              "money_refunded_text", "money_here_text", "mismatches_found", "mismatches_new",
              "mismatches_resolved", "mailed", "mismatches_link", "errors"]
    readonly_fields = fields

    @admin.display(description=_("Run"), ordering="pk")
    def run(self, run: ReconciliationRun) -> str:
        return f"#{run.pk}"

    @admin.display(description=_("Started"), ordering="started_at")
    def started(self, run: ReconciliationRun) -> str:
        return timestamp(run.started_at, seconds=True)

    @admin.display(description=_("Finished"), ordering="finished_at")
    def finished(self, run: ReconciliationRun) -> str:
        return timestamp(run.finished_at, seconds=True)

    @admin.display(description=_("Window"), ordering="days")
    def window(self, run: ReconciliationRun) -> str:
        return format_html('<span title="{}">{}</span>',
                           gettext("%(start)s to %(end)s") % {
                               "start": timestamp(run.window_start),
                               "end": timestamp(run.window_end)},
                           ngettext("%(count)s day", "%(count)s days", run.days)
                           % {"count": run.days})

    @admin.display(description=_("Window"))
    def window_range(self, run: ReconciliationRun) -> str:
        """Both ends: intents and charges created from the first, up to the second."""
        return format_html("{} day{}: {} to {}", run.days, "" if run.days == 1 else "s",
                           timestamp(run.window_start, seconds=True),
                           timestamp(run.window_end, seconds=True))

    @admin.display(description=_("Duration"))
    def duration(self, run: ReconciliationRun) -> str:
        if run.finished_at is None:
            return gettext("running")
        return duration_short(run.finished_at - run.started_at)

    @admin.display(description=_("Money at Stripe"))
    def money_at_stripe_text(self, run: ReconciliationRun) -> str:
        """Per currency, never summed; a run cut short compared only part of it."""
        return self._money(run, run.money_at_stripe)

    @admin.display(description=_("Refunded since"))
    def money_refunded_text(self, run: ReconciliationRun) -> str:
        return self._money(run, run.money_refunded)

    @admin.display(description=_("Money here"))
    def money_here_text(self, run: ReconciliationRun) -> str:
        return self._money(run, run.money_here)

    @staticmethod
    def _money(run: ReconciliationRun, money: dict[str, int]) -> str:
        if run.status != ReconciliationRun.Status.DONE:
            return EMPTY
        return reconcile.money_text(money, write=money_unbroken, none=gettext("none"))

    # Short headers: the columns fit a 1280 px screen next to the filters.
    @admin.display(description=_("Calls"), ordering="stripe_calls")
    def calls(self, run: ReconciliationRun) -> int:
        return run.stripe_calls

    @admin.display(description=_("Intents"), ordering="intents_compared")
    def intents(self, run: ReconciliationRun) -> int:
        return run.intents_compared

    @admin.display(description=_("Charges"), ordering="charges_compared")
    def charges(self, run: ReconciliationRun) -> int:
        return run.charges_compared

    @admin.display(description=_("Attempts"), ordering="attempts_compared")
    def attempts(self, run: ReconciliationRun) -> int:
        return run.attempts_compared

    @admin.display(description=_("Found"), ordering="mismatches_found")
    def found(self, run: ReconciliationRun) -> str:
        if not run.mismatches_found:
            return "0"
        return format_html("<strong>{}</strong>", run.mismatches_found)

    @admin.display(description=_("New"), ordering="mismatches_new")
    def new(self, run: ReconciliationRun) -> int:
        return run.mismatches_new

    @admin.display(description=_("Resolved"), ordering="mismatches_resolved")
    def resolved_count(self, run: ReconciliationRun) -> int:
        return run.mismatches_resolved

    @admin.display(description=_("Mismatches"))
    def mismatches_link(self, run: ReconciliationRun) -> str:
        url = reverse("admin:payments_reconciliationmismatch_changelist")
        return format_html('<a href="{}?last_run__id__exact={}">{}</a>', url, run.pk,
                           gettext("the mismatches this run found last"))


class StateFilter(admin.SimpleListFilter):
    """Open (the default question: what is wrong now) or resolved."""

    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", gettext("Open")), ("resolved", gettext("Resolved"))]

    def queryset(self, request, queryset):
        if self.value() in ("open", "resolved"):
            return queryset.filter(resolved=self.value() == "resolved")
        return queryset


# What ops can do about each kind; the next run resolves the mismatch once it is gone.
NEXT_STEP = {
    ReconciliationMismatch.Kind.CHARGED_TWICE:
        _("Refund the extra charge in Stripe's Dashboard; the next run then resolves this."),
    ReconciliationMismatch.Kind.PAID_AT_STRIPE_ONLY:
        _("The shopper paid: Refresh from Stripe on the payment (or let the next scan) mark "
          "the order paid; an unknown order means the intent was made outside this shop."),
    ReconciliationMismatch.Kind.PAID_HERE_ONLY:
        _("No money arrived for this order: do not ship it before the shopper pays; check "
          "who marked it paid."),
    ReconciliationMismatch.Kind.AMOUNT_DIFFERS:
        _("Stripe took another amount than the order's: refund the difference or ask the "
          "shopper for it."),
    ReconciliationMismatch.Kind.STATUS_DIFFERS:
        _("Refresh from Stripe on the payment; a change made in Stripe's Dashboard (a cancel) "
          "shows here until then."),
}


@admin.register(ReconciliationMismatch)
class ReconciliationMismatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every difference between Stripe and the shop, open ones first; resolved when a later
    run no longer finds it."""

    list_display = ["kind_display", "order_link", "intent", "here", "at_stripe",
                    "occurred", "found", "state"]
    list_display_links = ["kind_display"]
    list_filter = [StateFilter, "kind", ("occurred_at", DateRangeFilter)]
    search_fields = ["subject", "stripe_id", "order__reference", "order__email"]
    fields = ["kind_display", "state", "next_step", "order_link", "stripe_id", "charges",
              "here", "at_stripe", "occurred", "found", "last_found", "first_run_link",
              "last_run_link", "mailed"]
    readonly_fields = fields
    list_select_related = ["order"]

    @admin.display(description=_("Mismatch"), ordering="kind")
    def kind_display(self, mismatch: ReconciliationMismatch) -> str:
        return mismatch.get_kind_display()

    @admin.display(description=_("Order"), ordering="order__reference")
    def order_link(self, mismatch: ReconciliationMismatch) -> str:
        if mismatch.order is None:
            return format_html('<span title="{}">{}</span>', mismatch.subject,
                               gettext("unknown here"))
        return order_admin_link(mismatch.order, short=True)

    @admin.display(description=_("PaymentIntent"), ordering="stripe_id")
    def intent(self, mismatch: ReconciliationMismatch) -> str:
        if not mismatch.stripe_id:
            return EMPTY
        return format_html('<span title="{}">{}</span>', mismatch.stripe_id,
                           stripe_id_short(mismatch.stripe_id))

    @admin.display(description=_("Charges"))
    def charges(self, mismatch: ReconciliationMismatch) -> str:
        if not mismatch.charge_ids:
            return EMPTY
        return format_html_join(", ", "{}", ((charge,) for charge in mismatch.charge_ids))

    @admin.display(description=_("Here"))
    def here(self, mismatch: ReconciliationMismatch) -> str:
        return _side(mismatch.status_here, mismatch.amount_here, mismatch.currency)

    @admin.display(description=_("At Stripe"))
    def at_stripe(self, mismatch: ReconciliationMismatch) -> str:
        return _side(mismatch.status_at_stripe, mismatch.amount_at_stripe, mismatch.currency)

    @admin.display(description=_("Payment made"), ordering="occurred_at")
    def occurred(self, mismatch: ReconciliationMismatch) -> str:
        return timestamp(mismatch.occurred_at)

    @admin.display(description=_("First found"), ordering="first_found_at")
    def found(self, mismatch: ReconciliationMismatch) -> str:
        return timestamp(mismatch.first_found_at)

    @admin.display(description=_("Last found"), ordering="last_found_at")
    def last_found(self, mismatch: ReconciliationMismatch) -> str:
        return timestamp(mismatch.last_found_at, seconds=True)

    @admin.display(description=_("State"), ordering="resolved")
    def state(self, mismatch: ReconciliationMismatch) -> str:
        if mismatch.resolved:
            return format_html('<span class="quiet">{}</span>', gettext("Resolved %(time)s")
                               % {"time": timestamp(mismatch.resolved_at)})
        return format_html("<strong>{}</strong>", gettext("Open"))

    @admin.display(description=_("What to do"))
    def next_step(self, mismatch: ReconciliationMismatch) -> str:
        return NEXT_STEP.get(mismatch.kind, EMPTY)

    @admin.display(description=_("Ops mailed"))
    def mailed(self, mismatch: ReconciliationMismatch) -> str:
        return timestamp(mismatch.mailed_at, seconds=True) if mismatch.mailed_at \
            else gettext("not yet")

    @admin.display(description=_("First found by"))
    def first_run_link(self, mismatch: ReconciliationMismatch) -> str:
        return _run_link(mismatch.first_run)

    @admin.display(description=_("Last found by"))
    def last_run_link(self, mismatch: ReconciliationMismatch) -> str:
        return _run_link(mismatch.last_run)


def _side(status: str, amount: int | None, currency: str) -> str:
    """"Succeeded, 51.98 EUR": a status in words (an attempt's, or the order's) and money."""
    words = intent_status_label(status) if status else EMPTY
    if status in Order.Status.values:
        words = gettext("order %(status)s") % {"status": Order.Status(status).label.lower()}
    if amount is None or not currency:
        return format_html("{}", words)
    return format_html("{}<br>{}", words, money_unbroken(amount, currency))


def _run_link(run: ReconciliationRun) -> str:
    url = reverse("admin:payments_reconciliationrun_change", args=[run.pk])
    return format_html('<a href="{}">{}</a>', url, gettext("run #%(id)s") % {"id": run.pk})
