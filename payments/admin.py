"""A read-only view of orders and payments for merchants; products are editable.

Payment rows change only through ``payment_status_record``, so the admin never edits
them. Ops actions (retry, cancel, recovery links) are a later issue.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from payments.models import Order, OrderLine, PaymentAttempt, PaymentEvent, Product
from payments.templatetags.money import money


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "sku", "price", "currency", "active"]
    list_filter = ["active"]
    search_fields = ["name", "sku"]


class OrderLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderLine
    fields = ["name", "unit_price", "quantity"]
    readonly_fields = fields


class PaymentAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PaymentAttempt
    fields = ["number", "stripe_id", "status", "last_error_code", "last_decline_code",
              "card_brand", "card_last4", "updated_at"]
    readonly_fields = fields
    show_change_link = True


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "email", "total", "status", "created_at", "paid_at"]
    list_filter = ["status", "currency"]
    search_fields = ["reference", "email"]
    date_hierarchy = "created_at"
    fields = ["reference", "email", "total", "status", "created_at", "paid_at", "session_key"]
    readonly_fields = fields
    inlines = [OrderLineInline, PaymentAttemptInline]

    @admin.display(description="Total", ordering="amount")
    def total(self, order: Order) -> str:
        return money(order.amount, order.currency)


class PaymentEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PaymentEvent
    fields = ["created_at", "from_status", "to_status", "error_code", "decline_code", "source",
              "actor"]
    readonly_fields = fields


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["stripe_id", "order", "status", "total", "last_error_code",
                    "last_decline_code", "card_brand", "card_last4", "card_country",
                    "confirmation_method", "updated_at"]
    list_filter = ["status", "last_decline_code", "last_error_code", "confirmation_method",
                   "card_brand"]
    search_fields = ["stripe_id", "order__reference", "order__email"]
    list_select_related = ["order"]
    date_hierarchy = "created_at"
    inlines = [PaymentEventInline]

    @admin.display(description="Amount", ordering="amount")
    def total(self, attempt: PaymentAttempt) -> str:
        return money(attempt.amount, attempt.currency)
