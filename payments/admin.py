"""A read-only view of orders and payments for merchants; products are editable.

Payment rows change only through ``payment_status_record``, so the admin never edits
them. Ops actions (retry, cancel, recovery links) are a later issue.

Amounts are stored in minor units; every amount shown here goes through the ``money``
filter so the admin reads like the shop ("145.00 EUR"), never "14500" / "eur".
"""

from __future__ import annotations

from datetime import datetime

from django.apps import apps
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from payments.models import Order, OrderLine, PaymentAttempt, PaymentEvent, Product
from payments.templatetags.money import money

# The dj-stripe models a payments ops person needs next to ours: webhook set-up and
# deliveries, events, and the Stripe side of a payment (intent, charge, customer, card,
# refunds and disputes raised in the Stripe Dashboard). dj-stripe registers ~45 models;
# the rest (billing, Connect, tax, ...) are unused here and would bury our section.
DJSTRIPE_MODELS_KEPT = {"webhookendpoint", "webhookeventtrigger", "event", "apikey",
                        "paymentintent", "charge", "customer", "paymentmethod", "refund",
                        "dispute"}


def djstripe_admin_trim() -> None:
    """Unregister dj-stripe's admin pages this product does not use.

    ``djstripe`` comes before ``payments`` in INSTALLED_APPS, so its admin module has
    registered everything by the time autodiscover imports this one.
    """
    if not apps.is_installed("djstripe"):
        return
    for model in apps.get_app_config("djstripe").get_models():
        if model._meta.model_name not in DJSTRIPE_MODELS_KEPT and admin.site.is_registered(model):
            admin.site.unregister(model)


def payments_first(get_app_list):
    """Wrap ``AdminSite.get_app_list`` so our app leads the index and the nav sidebar.

    Django sorts apps by name, which puts "Payments" after "Authentication" and
    "Dj-Stripe". ``paymentsite/urls.py`` serves the default ``admin.site``, so this
    wraps that instance's method rather than swapping the site class.
    """
    def get_app_list_payments_first(request: HttpRequest, app_label: str | None = None):
        app_list = get_app_list(request, app_label)
        return sorted(app_list, key=lambda app: app["app_label"] != "payments")  # stable
    get_app_list_payments_first.payments_first = True
    return get_app_list_payments_first


djstripe_admin_trim()
# The app list in a sidebar on every page takes a quarter of a 1280 px screen, and the
# orders and attempts lists need that width; the index and breadcrumbs remain.
admin.site.enable_nav_sidebar = False
if not getattr(admin.site.get_app_list, "payments_first", False):  # once, even on reload
    admin.site.get_app_list = payments_first(admin.site.get_app_list)


# Non-breaking spaces keep "145.00 EUR" or "visa •••• 4242 (US)" on one line in narrow
# columns (the CSP forbids inline styles, and one character is simpler than a stylesheet).
NBSP = "\u00a0"
WORD_JOINER = "\u2060"  # no line break here, and nothing visible
EMPTY = admin.site.empty_value_display  # readonly fields print a None as "None"


def unbroken(text: str) -> str:
    return text.replace(" ", NBSP)


def money_unbroken(amount: int, currency: str) -> str:
    return unbroken(money(amount, currency))


def timestamp_short(value: datetime | None, *, seconds: bool = False) -> str:
    """"29 Nov 2026 15:04" in the site's time zone: half the width of Django's default,
    and without hyphens, where a browser may break a line."""
    if value is None:
        return EMPTY
    return unbroken(date_format(timezone.localtime(value),
                                "j M Y H:i:s" if seconds else "j M Y H:i"))


def card_label(attempt: PaymentAttempt) -> str:
    """"visa •••• 4242 (US)", as the Stripe Dashboard shows a card."""
    if not (attempt.card_brand or attempt.card_last4):
        return EMPTY
    label = f"{attempt.card_brand} •••• {attempt.card_last4}".strip()
    return unbroken(f"{label} ({attempt.card_country})" if attempt.card_country else label)


def stripe_id_short(stripe_id: str) -> str:
    """"pi_3MtwBw…tqPa": enough to tell intents apart; the full id is in the tooltip."""
    if len(stripe_id) <= 16:
        return stripe_id
    return f"{stripe_id[:9]}{WORD_JOINER}…{WORD_JOINER}{stripe_id[-4:]}"


def attempt_failure(attempt: PaymentAttempt) -> str:
    """The decline code when there is one (the more specific), else the error code."""
    if attempt.last_decline_code and attempt.last_error_code:
        return format_html('<span title="{}">{}</span>', attempt.last_error_code,
                           attempt.last_decline_code)
    return attempt.last_decline_code or attempt.last_error_code or EMPTY


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyTabularInline(ReadOnlyAdminMixin, admin.TabularInline):
    # Django's tabular template starts each row with its str() ("OrderLine object (6)")
    # and its script adds delete buttons; ours is a plain table of the fields.
    template = "admin/payments/edit_inline/tabular_readonly.html"
    extra = 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
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


class PaymentEventInline(ReadOnlyTabularInline):
    model = PaymentEvent
    fields = ["at", "from_status", "to_status", "error_code", "decline_code", "source", "actor"]
    readonly_fields = fields
    verbose_name = "ledger entry"
    verbose_name_plural = "ledger"

    @admin.display(description="At")
    def at(self, event: PaymentEvent) -> str:
        return timestamp_short(event.created_at, seconds=True)  # several a minute


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
        return format_html('<span title="{}">{}</span>', attempt.stripe_id,
                           stripe_id_short(attempt.stripe_id))

    @admin.display(description="Order", ordering="order__reference")
    def order_link(self, attempt: PaymentAttempt) -> str:
        url = reverse("admin:payments_order_change", args=[attempt.order_id])
        return format_html('<a href="{}">{}</a>', url, attempt.order.reference)

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
