"""Products (editable), orders with their lines and payment attempts, and each attempt
with its ledger (``PaymentEvent``), where each fact shows when Stripe stated it and late
facts are marked "late (history only)".

Payment rows change only through ``payment_status_record``, so orders and attempts are
read-only here. ``ledger_table`` lays the ledger out for a page that has no foreign key
from it (the incident page).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import display_for_field, label_for_field, lookup_field
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from payments.admin.common import (
    EMPTY,
    FriendlyFiltersMixin,
    ReadOnlyAdminMixin,
    ReadOnlyTabularInline,
    attempt_failure,
    breakable,
    card_label,
    intent_short,
    money_unbroken,
    order_admin_link,
    text_short,
    timestamp_short,
    unbroken,
)
from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.shop.models import Order, OrderLine, Product


@admin.register(Product)
class ProductAdmin(FriendlyFiltersMixin, admin.ModelAdmin):
    list_display = ["name", "sku", "price_display", "active"]
    list_filter = ["active"]
    search_fields = ["name", "sku"]

    @admin.display(description="Price", ordering="price")
    def price_display(self, product: Product) -> str:
        return money_unbroken(product.price, product.currency)


class OrderLineInline(ReadOnlyTabularInline):
    model = OrderLine
    fields = ["item", "unit_price_display", "line_total"]
    readonly_fields = fields
    verbose_name = "line"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("order")  # each line's currency

    @admin.display(description="Item")
    def item(self, line: OrderLine) -> str:
        return f"{line.quantity} × {line.name}"

    @admin.display(description="Unit price")
    def unit_price_display(self, line: OrderLine) -> str:
        return money_unbroken(line.unit_price, line.order.currency)

    @admin.display(description="Amount")
    def line_total(self, line: OrderLine) -> str:
        return money_unbroken(line.amount, line.order.currency)


class PaymentAttemptInline(ReadOnlyTabularInline):
    model = PaymentAttempt
    fields = ["number", "intent", "status", "amount_display", "card", "failure", "updated"]
    readonly_fields = fields

    @admin.display(description="PaymentIntent")
    def intent(self, attempt: PaymentAttempt) -> str:
        # The link to the attempt's page, where Django would put a small "View" above.
        url = reverse("admin:payments_paymentattempt_change", args=[attempt.pk])
        return format_html('<a href="{}">{}</a>', url,
                           attempt.stripe_id or "(no intent yet)")

    @admin.display(description="Amount")
    def amount_display(self, attempt: PaymentAttempt) -> str:
        return money_unbroken(attempt.amount, attempt.currency)

    @admin.display(description="Card")
    def card(self, attempt: PaymentAttempt) -> str:
        return card_label(attempt)

    @admin.display(description="Decline / error")
    def failure(self, attempt: PaymentAttempt) -> str:
        return attempt_failure(attempt)

    @admin.display(description="Updated")
    def updated(self, attempt: PaymentAttempt) -> str:
        return timestamp_short(attempt.updated_at)


# Never the session key (it would let a reader take over the shopper's session); the
# keyed hash that replaces it is safe to show for support look-ups.
ORDER_OPTIONAL_FIELDS = [name for name in ("session_hash", "receipt_sent_at")
                         if name in {field.name for field in Order._meta.get_fields()}]


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "email", "total", "status", "created", "paid"]
    list_filter = ["status", "currency"]
    search_fields = ["reference", "email"]
    date_hierarchy = "created_at"
    fields = ["reference", "email", "total", "status", "created_at", "paid_at",
              *ORDER_OPTIONAL_FIELDS]
    readonly_fields = fields
    inlines = [OrderLineInline, PaymentAttemptInline]

    @admin.display(description="Total", ordering="amount")
    def total(self, order: Order) -> str:
        return money_unbroken(order.amount, order.currency)

    @admin.display(description="Created", ordering="created_at")
    def created(self, order: Order) -> str:
        return timestamp_short(order.created_at)

    @admin.display(description="Paid", ordering="paid_at")
    def paid(self, order: Order) -> str:
        return timestamp_short(order.paid_at)


LATE_HELP = ("Stripe stated this before a newer fact we already held (a webhook arriving "
             "late): kept as history, it did not change the payment.")


class PaymentEventInline(ReadOnlyTabularInline):
    model = PaymentEvent
    fields = ["at", "observed", "change", "effect", "error", "decline", "source", "who"]
    readonly_fields = fields
    verbose_name = "ledger entry"
    verbose_name_plural = "ledger"

    @admin.display(description="Recorded")
    def at(self, event: PaymentEvent) -> str:
        return timestamp_short(event.created_at, seconds=True)  # several a minute

    @admin.display(description="Stated by Stripe")
    def observed(self, event: PaymentEvent) -> str:
        """The time only when it is the day recorded (most rows): half the width."""
        if event.observed_at is None:
            return EMPTY
        observed, recorded = (timezone.localtime(event.observed_at),
                              timezone.localtime(event.created_at))
        if observed.date() == recorded.date():
            return date_format(observed, "H:i:s")
        return timestamp_short(event.observed_at, seconds=True)

    @admin.display(description="Status change")
    def change(self, event: PaymentEvent) -> str:
        return format_html("{} → {}", breakable(event.from_status), breakable(event.to_status))

    @admin.display(description="Error code")
    def error(self, event: PaymentEvent) -> str:
        return breakable(event.error_code) if event.error_code else EMPTY

    @admin.display(description="Decline code")
    def decline(self, event: PaymentEvent) -> str:
        return breakable(event.decline_code) if event.decline_code else EMPTY

    @admin.display(description="Reported by")
    def who(self, event: PaymentEvent) -> str:
        return text_short(event.actor)

    @admin.display(description="Effect")
    def effect(self, event: PaymentEvent) -> str:
        if event.note:  # our decision, not Stripe's fact: why
            return event.note
        if event.applied:
            return format_html('<span class="quiet">{}</span>', "applied")
        return format_html('<strong title="{}">{}</strong>', LATE_HELP,
                           unbroken("late (history only)"))


def ledger_table(events) -> dict:
    """The ledger as ``PaymentEventInline`` shows it, for a page whose object has no
    foreign key from the ledger (an incident): same columns, same cells."""
    inline = PaymentEventInline(PaymentAttempt, admin.site)
    columns = [(name, label_for_field(name, PaymentEvent, inline)) for name in inline.fields]
    rows = []
    for event in events:
        row = []
        for name in inline.fields:
            field, _, value = lookup_field(name, event, inline)
            row.append((name, value if field is None else display_for_field(value, field,
                                                                             EMPTY)))
        rows.append(row)
    return {"columns": columns, "rows": rows}


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Few, short columns: the list must fit a 1280 px screen next to the filters.
    list_display = ["intent", "order_link", "status", "amount_display", "card", "failure",
                    "updated"]
    list_display_links = ["intent"]
    list_filter = ["status", "last_decline_code", "last_error_code", "confirmation_method",
                   "card_brand"]
    search_fields = ["stripe_id", "order__reference", "order__email"]
    list_select_related = ["order"]
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": ["order_link", "number", "stripe_id", "status", "amount_display",
                           "card", "confirmation_method"]}),
        ("Last failure", {"fields": ["last_error_code", "last_decline_code",
                                     "last_error_message"]}),
        ("Timeline", {"fields": ["created_at", "requires_action_at",
                                 "requires_confirmation_at", "final_at", "updated_at"]}),
        ("Stripe details", {"classes": ["collapse"],
                            "fields": ["latest_charge", "create_payment_method",
                                       "confirmations"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]
    inlines = [PaymentEventInline]

    @admin.display(description="PaymentIntent", ordering="stripe_id")
    def intent(self, attempt: PaymentAttempt) -> str:
        if not attempt.stripe_id:
            return f"attempt {attempt.number} (no intent yet)"
        return intent_short(attempt.stripe_id)

    @admin.display(description="Order", ordering="order__reference")
    def order_link(self, attempt: PaymentAttempt) -> str:
        return order_admin_link(attempt.order)

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, attempt: PaymentAttempt) -> str:
        return money_unbroken(attempt.amount, attempt.currency)

    @admin.display(description="Card", ordering="card_brand")
    def card(self, attempt: PaymentAttempt) -> str:
        return card_label(attempt)

    @admin.display(description="Decline / error", ordering="last_decline_code")
    def failure(self, attempt: PaymentAttempt) -> str:
        return attempt_failure(attempt)

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, attempt: PaymentAttempt) -> str:
        return timestamp_short(attempt.updated_at)
