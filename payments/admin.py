"""A read-only view of orders, payments and monitoring for merchants; products are editable.

Payment rows change only through ``payment_status_record`` and incidents only through
``payments.monitoring``, so the admin never edits them; ops actions (confirm, send a
recovery link, cancel, refresh) go through ``payments.recovery``. The dashboard lives in
``payments.admin_dashboard`` and is registered at the end of this module.

Amounts are stored in minor units; every amount shown here goes through the ``money``
filter so the admin reads like the shop ("145.00 EUR"), never "14500" / "eur".
"""

from __future__ import annotations

import csv
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import display_for_field, label_for_field, lookup_field
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format
from django.utils.html import escape, format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator, capfirst
from django.utils.timesince import timesince

from payments import recovery
from payments.admin_dashboard import dashboard_register
from payments.models import (
    Incident,
    OpsAction,
    Order,
    OrderLine,
    PaymentAttempt,
    PaymentEvent,
    Product,
    RecoveryLink,
    ScanCursor,
    ScanLock,
    ScanRun,
)
from payments.templatetags.money import ZERO_DECIMAL, money

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
        app_list = sorted(get_app_list(request, app_label),
                          key=lambda app: app["app_label"] != "payments")  # stable
        for app in app_list:
            if app["app_label"] == "payments":
                app["models"].sort(key=payments_model_rank)
        return app_list
    get_app_list_payments_first.payments_first = True
    return get_app_list_payments_first


# Our models in the order a merchant looks for them (Django sorts them by name, which puts
# "Scan cursors" before "Scan runs" and "Products" among the payments).
# Ops actions and recovery links sit under the incidents they act on.
PAYMENTS_MODEL_ORDER = ["incident", "opsaction", "recoverylink", "order", "paymentattempt",
                        "scanrun", "scancursor", "scanlock", "product"]


def payments_model_rank(model: dict) -> tuple[int, str]:
    name = model["object_name"].lower()
    rank = PAYMENTS_MODEL_ORDER.index(name) if name in PAYMENTS_MODEL_ORDER \
        else len(PAYMENTS_MODEL_ORDER)
    return rank, str(model["name"])


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


def timestamp_compact(value: datetime, *, seconds: bool = False) -> str:
    """"29 Nov 15:04" this year, "29 Nov 2025 15:04" before: for narrow list columns."""
    local = timezone.localtime(value)
    if local.year != timezone.localtime().year:
        return timestamp_short(value, seconds=seconds)
    return unbroken(date_format(local, "j M H:i:s" if seconds else "j M H:i"))


def age(value: datetime | None) -> str:
    """"3 hours" (the largest unit only): how long ago, at a glance."""
    if value is None:
        return EMPTY
    return unbroken(timesince(value, depth=1))


def duration_short(delta: timedelta | None) -> str:
    """"0.8 s", "42 s", "3 min 5 s", "2 h 10 min"."""
    if delta is None:
        return EMPTY
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 0.1:
        return unbroken("< 0.1 s")
    if seconds < 10:
        return unbroken(f"{seconds:.1f} s")
    if seconds < 60:
        return unbroken(f"{seconds:.0f} s")
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return unbroken(f"{minutes} min {seconds} s")
    hours, minutes = divmod(minutes, 60)
    return unbroken(f"{hours} h {minutes} min")


class Card(Protocol):  # a PaymentAttempt or an Incident
    card_brand: str
    card_last4: str
    card_country: str


def card_label(payment: Card) -> str:
    """"visa •••• 4242 (US)", as the Stripe Dashboard shows a card."""
    if not (payment.card_brand or payment.card_last4):
        return EMPTY
    label = f"{payment.card_brand} •••• {payment.card_last4}".strip()
    return unbroken(f"{label} ({payment.card_country})" if payment.card_country else label)


def breakable(code: str) -> SafeString:
    """"payment_intent_<wbr>authentication_<wbr>failure": a long code may wrap after its
    underscores (a browser never breaks inside a word), so it does not widen a table."""
    return mark_safe("_<wbr>".join(escape(part) for part in code.split("_")))


def text_short(text: str, *, limit: int = 24) -> str:
    """A long value cut to ``limit`` characters, the whole in the tooltip."""
    if len(text) <= limit:
        return text
    return format_html('<span title="{}">{}</span>', text, Truncator(text).chars(limit))


def stripe_id_short(stripe_id: str) -> str:
    """"pi_3MtwBw…tqPa": enough to tell intents apart; the full id is in the tooltip."""
    if len(stripe_id) <= 16:
        return stripe_id
    return f"{stripe_id[:9]}{WORD_JOINER}…{WORD_JOINER}{stripe_id[-4:]}"


def failure_label(error_code: str, decline_code: str) -> str:
    """The decline code when there is one (the more specific), else the error code."""
    if decline_code and error_code:
        return format_html('<span title="{}">{}</span>', error_code, breakable(decline_code))
    if decline_code or error_code:
        return breakable(decline_code or error_code)
    return EMPTY


def intent_status_label(status: str) -> str:
    """Stripe's status as our attempts name it ("Requires payment method")."""
    return dict(PaymentAttempt.Status.choices).get(status, status) if status else EMPTY


SOURCE_LABELS = dict(PaymentEvent.Source.choices)


def attempt_failure(attempt: PaymentAttempt) -> str:
    return failure_label(attempt.last_error_code, attempt.last_decline_code)


def intent_short(stripe_id: str) -> str:
    return format_html('<span title="{}">{}</span>', stripe_id, stripe_id_short(stripe_id))


def order_admin_link(order: Order, *, short: bool = False) -> str:
    url = reverse("admin:payments_order_change", args=[order.pk])
    if short:  # "ord_1VGSi…MUn_", the whole reference in the tooltip
        return format_html('<a href="{}" title="{}">{}</a>', url, order.reference,
                           stripe_id_short(order.reference))
    return format_html('<a href="{}">{}</a>', url, order.reference)


def email_wrapped(email: str) -> str:
    """"anna.schmidt@" then "example.de" when the column is narrow (a browser does not
    break an address by itself); an absurdly long part is cut, the whole in the tooltip."""
    local, at, domain = email.rpartition("@")
    if not at:
        return text_short(email)
    parts = [Truncator(local).chars(15), Truncator(domain).chars(15)]
    return format_html('<span title="{}">{}@<wbr>{}</span>', email, *parts)


def attempt_admin_link(attempt: PaymentAttempt) -> str:
    url = reverse("admin:payments_paymentattempt_change", args=[attempt.pk])
    return format_html('<a href="{}">{}</a>', url, str(attempt))


class FriendlyFiltersMixin:
    """A filter or search the database cannot take (a date that is not a date, a page
    past the end, a NUL character, which PostgreSQL refuses in text) shows the whole list
    with a message, instead of Django's "Database error" page or a 500."""

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if any("\x00" in key or "\x00" in value
               for key, values in request.GET.lists() for value in values):
            return self.changelist_unfiltered(request)
        response = super().changelist_view(request, extra_context)
        if isinstance(response, HttpResponseRedirect) and \
                response["Location"] == f"{request.path}?{ERROR_FLAG}=1":
            return self.changelist_unfiltered(request)
        return response

    def changelist_unfiltered(self, request: HttpRequest, *, path: str = ""
                              ) -> HttpResponseRedirect:
        messages.warning(request, "A filter or search in the address was not valid (a date "
                                  "that is not a date, say), so the list shows everything.")
        return HttpResponseRedirect(path or request.path)


class ReadOnlyAdminMixin(FriendlyFiltersMixin):
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


# --- monitoring ---------------------------------------------------------------------------

# --- the failed payments list ------------------------------------------------------------

def filter_warning(request: HttpRequest, text: str) -> None:
    """A message about a filter value, once per request (the ChangeList builds its filters
    again for every queryset it makes, and the CSV export makes two)."""
    shown = request.__dict__.setdefault("_payments_filter_warnings", set())
    if text not in shown:
        shown.add(text)
        messages.warning(request, text)


def hidden_params(changelist, *, leaving: set[str]) -> list[tuple[str, str]]:
    """The list's other parameters (search, ordering, other filters), as hidden fields of
    a filter's own form, so applying a range keeps them."""
    return [(key, value) for key, values in changelist.filter_params.items()
            if key not in leaving for value in values]


def day_or_moment(value: str) -> date | datetime | None:
    """A day ("2026-11-29", from a date field) or a moment ("2026-11-29 00:00:00+00:00",
    from Django's quick ranges); None for anything else."""
    try:
        # A day first: Python reads "2026-11-29" as a datetime too (midnight).
        return parse_date(value) or parse_datetime(value)
    except ValueError:  # well formed, not a date: "2026-13-45"
        return None


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class FirstSeenFilter(admin.DateFieldListFilter):
    """Django's quick ranges (today, past 7 days, this month, this year) and a from/to pair
    of days typed by hand, both days included: ``first_seen_at__gte`` / ``__lte``. A value
    that is not a date is left out, with a message."""

    template = "admin/payments/filter_range.html"

    def __init__(self, field, request, params, model, model_admin, field_path) -> None:
        self.lookup_kwarg_upto = f"{field_path}__lte"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = "first seen"
        self.bounds: dict[str, date | datetime] = {}
        for key, values in list(self.used_parameters.items()):
            value = day_or_moment(values[-1])
            if value is None or value.year >= 9999:
                del self.used_parameters[key]
                filter_warning(request, f"The first seen date “{values[-1]}” was not valid "
                                        "(a day is written 2026-11-29), so the list ignores it.")
            else:
                self.bounds[key] = value

    def expected_parameters(self) -> list[str]:
        return [*super().expected_parameters(), self.lookup_kwarg_upto]

    def queryset(self, request: HttpRequest, queryset):
        for key, value in self.bounds.items():
            if not isinstance(value, datetime):  # a whole day: up to its end
                if key == self.lookup_kwarg_upto:
                    key, value = f"{self.field_path}__lt", value + timedelta(days=1)
                value = day_start(value)
            elif timezone.is_naive(value):
                value = timezone.make_aware(value)
            queryset = queryset.filter(**{key: value})
        return queryset

    def choices(self, changelist):
        def shown(key: str) -> str:
            value = self.bounds.get(key)
            if isinstance(value, datetime):
                value = timezone.localtime(value).date() if timezone.is_aware(value) \
                    else value.date()
            return value.isoformat() if value else ""

        self.form_hidden = hidden_params(changelist, leaving=set(self.expected_parameters()))
        self.form_fields = [(self.lookup_kwarg_since, "From", shown(self.lookup_kwarg_since)),
                            (self.lookup_kwarg_upto, "To", shown(self.lookup_kwarg_upto))]
        self.form_type = "date"
        yield from super().choices(changelist)


AMOUNT_TYPED = re.compile(r"^\s*([0-9]{1,10})(?:[.,]([0-9]{1,2}))?\s*$")


def minor_units(typed: str, currency: str) -> int | None:
    """"10" → 1000, "10.5" or "10,50" → 1050 (a zero-decimal currency: "500" → 500);
    None for what is not an amount ("ten", "-5", "1,000.00", "1e9")."""
    match = AMOUNT_TYPED.match(typed)
    if match is None:
        return None
    whole, fraction = match.groups()
    if currency.lower() in ZERO_DECIMAL:
        return None if fraction and int(fraction) else int(whole)
    return int(whole) * 100 + int((fraction or "0").ljust(2, "0"))


def major_units(amount: int, currency: str) -> str:
    """1000 → "10.00" ("500" for a zero-decimal currency): a number a spreadsheet reads."""
    if currency.lower() in ZERO_DECIMAL:
        return str(amount)
    return f"{amount // 100}.{amount % 100:02d}"


class AmountFilter(admin.FieldListFilter):
    """A from/to pair in the address in minor units, as every amount is stored
    (``amount__gte=1000``); the merchant types major units ("10"), and
    ``IncidentAdmin.changelist_view`` turns ``amount_from`` / ``amount_to`` into them."""

    template = "admin/payments/filter_range.html"
    typed = {"amount_from": "amount__gte", "amount_to": "amount__lte"}

    def __init__(self, field, request, params, model, model_admin, field_path) -> None:
        self.lookup_gte, self.lookup_lte = f"{field_path}__gte", f"{field_path}__lte"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = "amount"
        self.currency = request.GET.get("currency", "")
        self.bounds: dict[str, int] = {}
        for key, values in list(self.used_parameters.items()):
            if re.fullmatch(r"[0-9]{1,12}", values[-1]):
                self.bounds[key] = int(values[-1])
            else:
                del self.used_parameters[key]
                filter_warning(request, f"The amount “{values[-1]}” was not valid, so the "
                                        "list ignores it.")

    def expected_parameters(self) -> list[str]:
        return [self.lookup_gte, self.lookup_lte]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(**self.bounds) if self.bounds else queryset

    def choices(self, changelist):
        def shown(key: str) -> str:
            value = self.bounds.get(key)
            return "" if value is None else major_units(value, self.currency or "eur")

        self.form_hidden = hidden_params(changelist, leaving=set(self.expected_parameters()))
        self.form_fields = [("amount_from", "From", shown(self.lookup_gte)),
                            ("amount_to", "To", shown(self.lookup_lte))]
        self.form_type = "text"
        yield {"selected": not self.bounds, "display": "Any amount",
               "query_string": changelist.get_query_string(
                   remove=self.expected_parameters())}


class PresentValuesFilter(admin.SimpleListFilter):
    """The values the incidents hold (a merchant picks, rather than types), in the
    address under the field's own name (``card_brand=visa``)."""

    field_name = ""

    def label(self, value: str) -> str:
        return value

    def lookups(self, request: HttpRequest, model_admin):
        present = (model_admin.get_queryset(request).exclude(**{self.field_name: ""})
                   .order_by(self.field_name).values_list(self.field_name, flat=True)
                   .distinct()[:100])
        return [(value, self.label(value)) for value in present]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(**{self.field_name: self.value()}) if self.value() else queryset


class ChoiceFilter(admin.SimpleListFilter):
    """A field's choices under the field's own name in the address (``status=open``, as
    the dashboard links), not Django's ``status__exact``, so the sidebar shows the choice
    a link made."""

    field_name = ""

    def lookups(self, request: HttpRequest, model_admin):
        return Incident._meta.get_field(self.field_name).choices

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(**{self.field_name: self.value()}) if self.value() else queryset


class KindFilter(ChoiceFilter):
    title = "kind"
    parameter_name = field_name = "kind"


class StatusFilter(ChoiceFilter):
    title = "status"
    parameter_name = field_name = "status"


class CurrencyFilter(PresentValuesFilter):
    """The currencies present, as the amounts show them ("EUR", not "eur")."""

    title = "currency"
    parameter_name = field_name = "currency"

    def label(self, value: str) -> str:
        return value.upper()


class CardBrandFilter(PresentValuesFilter):
    title = "card brand"
    parameter_name = field_name = "card_brand"


class CardCountryFilter(PresentValuesFilter):
    title = "card country"
    parameter_name = field_name = "card_country"


class DeclineCodeFilter(PresentValuesFilter):
    """Decline codes in words ("Insufficient funds"), the code in the address."""

    title = "decline code"
    parameter_name = field_name = "decline_code"

    def label(self, value: str) -> str:
        return ERROR_WORDS.get(value, value)


class SourceFilter(PresentValuesFilter):
    """What found the incident, named as the ledger names it ("Monitoring scan")."""

    title = "found by"
    parameter_name = field_name = "source"

    def label(self, value: str) -> str:
        return SOURCE_LABELS.get(value, value)


# Stripe's codes as a merchant would say them (docs.stripe.com/declines/codes and
# /error-codes); anything else shows Stripe's own message.
ERROR_WORDS = {
    "authentication_not_handled": "Bank asked for 3-D Secure; checkout could not ask",
    "authentication_required": "Bank asked for 3-D Secure; checkout could not ask",
    "payment_intent_authentication_failure": "Failed the bank's check",
    "payment_intent_payment_attempt_expired": "Not confirmed within the hour",
    "insufficient_funds": "Insufficient funds",
    "generic_decline": "Declined by the bank",
    "do_not_honor": "Declined by the bank",
    "card_declined": "Declined by the bank",
    "expired_card": "Card expired",
    "incorrect_cvc": "Wrong security code",
    "invalid_cvc": "Wrong security code",
    "incorrect_number": "Wrong card number",
    "lost_card": "Card reported lost",
    "stolen_card": "Card reported stolen",
    "fraudulent": "Declined as suspected fraud",
    "card_velocity_exceeded": "Card limit reached",
    "withdrawal_count_limit_exceeded": "Card limit reached",
    "processing_error": "Processing error at the bank; worth a retry",
    "try_again_later": "Bank busy; worth a retry",
    "card_not_supported": "Card does not support this purchase",
    "currency_not_supported": "Card does not support this currency",
}


def error_in_words(error_code: str, decline_code: str, message: str) -> str:
    """The decline code in words (the more specific), else the error code's, else
    Stripe's message, else the bare code; "" when the payment never failed."""
    for code in (decline_code, error_code):
        if code in ERROR_WORDS:
            return ERROR_WORDS[code]
    return message or decline_code or error_code


# Stripe's guide: an intent not confirmed again within an hour of the bank's challenge
# falls back to requires_payment_method, and the sale is lost.
CONFIRMATION_WINDOW = timedelta(hours=1)
URGENT = timedelta(minutes=15)


def expires_at(incident: Incident) -> datetime | None:
    """When Stripe fails an open payment waiting for its second confirm; None otherwise."""
    attempt = incident.attempt
    if incident.status != Incident.Status.OPEN or attempt is None or \
            attempt.status != PaymentAttempt.Status.REQUIRES_CONFIRMATION or \
            attempt.requires_confirmation_at is None:
        return None
    return attempt.requires_confirmation_at + CONFIRMATION_WINDOW


def expires_in(incident: Incident) -> str:
    """"in 42 min" (bold under a quarter of an hour), "hour passed", or "—"."""
    deadline = expires_at(incident)
    if deadline is None:
        return EMPTY
    left = deadline - timezone.now()
    if left <= timedelta(0):
        return format_html('<strong title="{}">{}</strong>', "Stripe fails it at its next "
                           "read; the next scan records it.", unbroken("hour passed"))
    minutes = max(1, -(-int(left.total_seconds()) // 60))
    text = unbroken(f"in {minutes} min")
    return format_html("<strong>{}</strong>", text) if left < URGENT else text


# OWASP "CSV Injection": a cell a spreadsheet would run as a formula gets a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def csv_cell(value: object) -> str:
    text = "" if value is None else str(value).replace("\0", "")
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class CsvBuffer:
    """csv.writer's file: hands each row back instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def csv_time(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


INCIDENT_CSV = [
    ("First seen", lambda i: csv_time(i.first_seen_at)),
    ("Kind", lambda i: i.get_kind_display()),
    ("Status", lambda i: i.get_status_display()),
    ("Customer email", lambda i: i.customer_email),
    ("Amount", lambda i: major_units(i.amount, i.currency)),
    ("Currency", lambda i: i.currency.upper()),
    ("Last error", lambda i: error_in_words(i.error_code, i.decline_code, i.error_message)),
    ("Error code", lambda i: i.error_code),
    ("Decline code", lambda i: i.decline_code),
    ("Stripe's message", lambda i: i.error_message),
    ("Card brand", lambda i: i.card_brand),
    ("Card last4", lambda i: i.card_last4),
    ("Card country", lambda i: i.card_country),
    ("Order", lambda i: i.order.reference if i.order else ""),
    ("PaymentIntent", lambda i: i.stripe_id),
    ("Intent status", lambda i: i.intent_status),
    ("Expires", lambda i: csv_time(expires_at(i))),
    ("Resolved", lambda i: csv_time(i.resolved_at)),
    ("Found by", lambda i: SOURCE_LABELS.get(i.source, i.source)),
]


def incidents_csv(incidents) -> Iterator[str]:
    """The rows one at a time (a BOM first, so spreadsheet programs read UTF-8)."""
    writer = csv.writer(CsvBuffer())
    yield "\ufeff" + writer.writerow([label for label, _ in INCIDENT_CSV])
    for incident in incidents.iterator(chunk_size=2000):
        yield writer.writerow([csv_cell(cell(incident)) for _, cell in INCIDENT_CSV])


# --- ops actions -------------------------------------------------------------------------

Action = OpsAction.Kind
# A confirmation page lists every payment; a selection of the whole list (200,000 rows)
# would make one nobody reads. Bulk work past this goes in batches.
OPS_MAX_SELECTED = 500


@dataclass(frozen=True)
class OpsVerb:
    permission: str  # the codename on Incident
    button: str  # on the incident page, and the bulk action's name
    question: str  # "Confirm {n}?"
    nothing: str  # when every selected payment would be skipped
    does: str  # what happens, in a sentence
    submit: str


OPS_VERBS = {
    Action.CONFIRM: OpsVerb(
        "confirm_payment", "Confirm now", "Confirm {n}?", "No payment here can be confirmed",
        "The server confirms each payment at Stripe now: the shopper already passed the "
        "bank's check, the card is charged and the order becomes paid.",
        "Yes, confirm"),
    Action.SEND_LINK: OpsVerb(
        "send_recovery_link", "Send authentication link",
        "Send an authentication link for {n}?", "No payment here can get a link",
        "Each shopper gets an email with a signed link that expires in {hours}: it runs "
        "the bank's check again, or takes another card for the same order.",
        "Yes, send the emails"),
    Action.CANCEL: OpsVerb(
        "cancel_payment", "Cancel payment", "Cancel {n}?", "No payment here can be canceled",
        "Each payment is canceled at Stripe and its order marked canceled: the shopper "
        "can no longer pay it. This cannot be undone.",
        "Yes, cancel"),
    Action.REFRESH: OpsVerb(
        "refresh_payment", "Refresh from Stripe", "Refresh {n} from Stripe?",
        "No payment here can be refreshed",
        "Reads each payment from Stripe and records what changed. Nothing is charged.",
        "Yes, refresh"),
}


def payments_count(n: int) -> str:
    return f"{n} payment" if n == 1 else f"{n} payments"


def skipped_summary(skipped: list[tuple[Incident, str]]) -> str:
    """"1 will be skipped: already paid", or "3 will be skipped: 2 already paid, 1 not
    awaiting confirmation"."""
    reasons = Counter(reason for _, reason in skipped)
    total = sum(reasons.values())
    if len(reasons) == 1:
        return f"{total} will be skipped: {next(iter(reasons))}"
    return f"{total} will be skipped: " + ", ".join(f"{count} {reason}"
                                                   for reason, count in reasons.items())


class OpsActionForm(forms.Form):
    """The confirmation page's form: its one-time token (a second submit acts once), and
    for a cancellation the reason Stripe records."""

    token = forms.UUIDField(widget=forms.HiddenInput)
    reason = forms.ChoiceField(label="Reason", required=True,
                               choices=[("", "Choose a reason"), *recovery.CANCEL_REASONS.items()])

    def __init__(self, *args, action: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if action != Action.CANCEL:
            del self.fields["reason"]


class OpsActionsMixin:
    """Ops actions on incidents, one permission each: bulk (changelist actions) and single
    (buttons on the incident page), both through one confirmation page, as Django's
    delete confirmation: what will happen to how many payments, which are skipped and
    why. Its POST calls ``recovery_execute`` with what the page showed (each incident's
    version) and a one-time token, then says what happened."""

    actions = ["confirm_selected", "send_link_selected", "cancel_selected",
               "refresh_selected"]

    def has_ops_permission(self, request: HttpRequest, action: str) -> bool:
        return request.user.has_perm(f"payments.{OPS_VERBS[action].permission}")

    def has_confirm_payment_permission(self, request: HttpRequest) -> bool:
        return self.has_ops_permission(request, Action.CONFIRM)

    def has_send_recovery_link_permission(self, request: HttpRequest) -> bool:
        return self.has_ops_permission(request, Action.SEND_LINK)

    def has_cancel_payment_permission(self, request: HttpRequest) -> bool:
        return self.has_ops_permission(request, Action.CANCEL)

    def has_refresh_payment_permission(self, request: HttpRequest) -> bool:
        return self.has_ops_permission(request, Action.REFRESH)

    @admin.action(description="Confirm now", permissions=["confirm_payment"])
    def confirm_selected(self, request: HttpRequest, queryset):
        return self.ops_selected(request, Action.CONFIRM, queryset)

    @admin.action(description="Send authentication link", permissions=["send_recovery_link"])
    def send_link_selected(self, request: HttpRequest, queryset):
        return self.ops_selected(request, Action.SEND_LINK, queryset)

    @admin.action(description="Cancel payment", permissions=["cancel_payment"])
    def cancel_selected(self, request: HttpRequest, queryset):
        return self.ops_selected(request, Action.CANCEL, queryset)

    @admin.action(description="Refresh from Stripe", permissions=["refresh_payment"])
    def refresh_selected(self, request: HttpRequest, queryset):
        return self.ops_selected(request, Action.REFRESH, queryset)

    def ops_selected(self, request: HttpRequest, action: str, queryset):
        if queryset.count() > OPS_MAX_SELECTED:
            messages.warning(request, f"Select at most {OPS_MAX_SELECTED} payments for one "
                                      "action (filter the list first).")
            return None
        return self.ops_confirmation(request, action, queryset,
                                     back=request.get_full_path())

    def ops_view(self, request: HttpRequest, action: str):
        """GET ``?ids=1,2&next=…``: the confirmation page; POST: do it."""
        if action not in OPS_VERBS:
            raise Http404
        if not self.has_ops_permission(request, action):
            raise PermissionDenied
        if request.method == "POST":
            return self.ops_execute(request, action)
        ids = [part for value in request.GET.getlist("ids") for part in value.split(",")]
        ids = [int(part) for part in ids if part.isascii() and part.isdigit()
               and len(part) < 12][:OPS_MAX_SELECTED]
        incidents = self.get_queryset(request).filter(pk__in=ids)
        back = self.ops_back(request, request.GET.get("next", ""))
        if not incidents.exists():
            messages.warning(request, "No such payment: nothing was done.")
            return HttpResponseRedirect(back)
        return self.ops_confirmation(request, action, incidents, back=back)

    def ops_back(self, request: HttpRequest, url: str) -> str:
        """Where the result is shown: the page the action came from, if it is ours."""
        if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
            return url
        return reverse("admin:payments_incident_changelist")

    def ops_confirmation(self, request: HttpRequest, action: str, incidents, *, back: str,
                         form: OpsActionForm | None = None) -> TemplateResponse:
        incidents = list(incidents.select_related("order", "attempt")
                         .order_by("-first_seen_at", "-pk"))
        plan = recovery.recovery_plan(action=action, incidents=incidents)
        verb = OPS_VERBS[action]
        form = form or OpsActionForm(initial={"token": uuid.uuid4()}, action=action)
        hours = timesince(timezone.now(), timezone.now() + timedelta(
            seconds=settings.PAYMENTS_RECOVERY_LINK_SECONDS), depth=2)
        title = verb.question.format(n=payments_count(len(plan.eligible))) if plan.eligible \
            else verb.nothing
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "subtitle": skipped_summary(plan.skipped) if plan.skipped else "",
            "action": action,
            "verb": verb,
            "does": verb.does.format(hours=hours),
            "eligible": [self.ops_row(incident) for incident in plan.eligible],
            "skipped": [{**self.ops_row(incident), "reason": reason}
                        for incident, reason in plan.skipped],
            "seen": [f"{incident.pk}:{recovery.incident_version(incident)}"
                     for incident in incidents],
            "form": form,
            "back": back,
            "action_url": reverse("admin:payments_incident_ops", args=[action]),
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/payments/incident/ops_confirmation.html",
                                context)

    def ops_row(self, incident: Incident) -> dict:
        return {
            "incident": incident,
            "url": reverse("admin:payments_incident_change", args=[incident.pk]),
            "customer": incident.customer_email or "(no email)",
            "amount": money_unbroken(incident.amount, incident.currency),
            "kind": incident.get_kind_display(),
            "status": incident.get_status_display(),
            "payment": intent_status_label(incident.attempt.status if incident.attempt
                                           else incident.intent_status),
            "order": incident.order.reference if incident.order else "outside checkout",
        }

    def ops_execute(self, request: HttpRequest, action: str):
        back = self.ops_back(request, request.POST.get("next", ""))
        seen: dict[int, str] = {}
        for value in request.POST.getlist("seen")[:OPS_MAX_SELECTED]:
            pk, _, version = value.partition(":")
            if pk.isascii() and pk.isdigit() and len(pk) < 12:
                seen[int(pk)] = version
        if not seen:
            messages.warning(request, "No payments were selected: nothing was done.")
            return HttpResponseRedirect(back)
        form = OpsActionForm(request.POST, action=action)
        if not form.is_valid():
            return self.ops_confirmation(
                request, action, self.get_queryset(request).filter(pk__in=list(seen)),
                back=back, form=form)
        try:
            outcome = recovery.recovery_execute(
                action=action, seen=seen, token=form.cleaned_data["token"], user=request.user,
                reason=form.cleaned_data.get("reason", ""))
        except recovery.AlreadySubmitted as error:
            messages.warning(request, "This form was already submitted: "
                                      f"{error.previous.summary or 'still at work'}.")
        except ValueError as error:
            form.add_error("reason" if "reason" in form.fields else None, str(error))
            return self.ops_confirmation(
                request, action, self.get_queryset(request).filter(pk__in=list(seen)),
                back=back, form=form)
        else:
            level = messages.SUCCESS if outcome.done and not outcome.skipped \
                else messages.WARNING
            messages.add_message(request, level, f"{capfirst(outcome.message)}.")
        return HttpResponseRedirect(back)

    def ops_buttons(self, request: HttpRequest, incident: Incident) -> list[dict]:
        """The actions this user may take on this incident: a link to the confirmation
        page for each that applies, the reason for each that does not."""
        buttons = []
        here = request.get_full_path()
        for action, verb in OPS_VERBS.items():
            if not self.has_ops_permission(request, action):
                continue
            plan = recovery.recovery_plan(action=action, incidents=[incident])
            button = {"label": verb.button, "action": action}
            if plan.eligible:
                button["url"] = reverse("admin:payments_incident_ops", args=[action]) + \
                    "?" + urlencode({"ids": incident.pk, "next": here})
            else:
                button["reason"] = plan.skipped[0][1]
            buttons.append(button)
        return buttons


@admin.register(Incident)
class IncidentAdmin(OpsActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The failed payments list: payments in trouble, as the monitoring engine found them
    (webhooks and scans), with a CSV export of what the filters show."""

    # Seven columns (and the action checkboxes) that fit a 1280 px screen next to the
    # filters: the card sits under the customer, the status under the kind and the intent
    # id under its order; the age is one word with the time on hover; long values wrap or
    # are cut with the whole value in the tooltip; headers (never wrapped) stay short.
    list_display = ["customer", "amount_display", "kind_and_status", "last_error", "seen_ago",
                    "expires", "where"]
    list_display_links = ["customer"]
    list_filter = [KindFilter, StatusFilter, ("first_seen_at", FirstSeenFilter),
                   ("amount", AmountFilter), CurrencyFilter, CardBrandFilter,
                   CardCountryFilter, DeclineCodeFilter, SourceFilter]
    search_fields = ["customer_email", "order__reference", "stripe_id", "card_last4"]
    search_help_text = "Email, order, PaymentIntent id or the card's last 4 digits."
    list_select_related = ["order", "attempt"]
    # No second COUNT(*) over every incident per page (bench/admin.py: 200,000 rows).
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["kind_display", "status", "customer_email", "amount_display",
                           "card", "intent_full", "order_or_outside", "attempt_or_none",
                           "intent_status_display", "expires_detail", "source_display"]}),
        ("Failure", {"fields": ["last_error_detail", "error_code", "decline_code",
                                "error_message"]}),
        ("Timeline", {"fields": ["intent_created", "first_seen_detail", "last_seen",
                                 "resolved"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("order", "attempt")

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("export/", self.admin_site.admin_view(self.export_view),
                 name=f"{info[0]}_{info[1]}_export"),
            path("ops/<str:action>/", self.admin_site.admin_view(self.ops_view),
                 name=f"{info[0]}_{info[1]}_ops"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if set(AmountFilter.typed) & set(request.GET):
            return self.amounts_typed(request)
        extra_context = {**(extra_context or {}),
                         "can_export": request.user.has_perm("payments.export_incident")}
        return super().changelist_view(request, extra_context)

    def amounts_typed(self, request: HttpRequest) -> HttpResponseRedirect:
        """The amount filter's form sent major units: the same list, in minor units."""
        query = request.GET.copy()
        for typed, lookup in AmountFilter.typed.items():
            value = query.pop(typed, [""])[-1]
            query.pop(lookup, None)
            if not value.strip():
                continue
            minor = minor_units(value, query.get("currency", ""))
            if minor is None:
                filter_warning(request, f"The amount “{value}” was not valid (write 10 or "
                                        "10.50), so the list ignores it.")
            else:
                query[lookup] = str(minor)
        query.pop("p", None)
        return HttpResponseRedirect(f"{request.path}?{query.urlencode()}" if query
                                    else request.path)

    def export_view(self, request: HttpRequest):
        """What the list shows with these filters and this search, every page of it, as
        CSV: streamed, so 200,000 rows never sit in memory."""
        if not request.user.has_perm("payments.export_incident"):
            raise PermissionDenied
        changelist_url = reverse("admin:payments_incident_changelist")
        if any("\x00" in key or "\x00" in value
               for key, values in request.GET.lists() for value in values):
            return self.changelist_unfiltered(request, path=changelist_url)
        try:
            incidents = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            return self.changelist_unfiltered(request, path=changelist_url)
        response = StreamingHttpResponse(incidents_csv(incidents),
                                         content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="failed-payments-{stamp}.csv"'
        return response

    def render_change_form(self, request: HttpRequest, context, add=False, change=False,
                           form_url="", obj: Incident | None = None):
        if obj is not None:
            if obj.attempt_id is not None:
                context["ledger"] = ledger_table(obj.attempt.events.all())
            context["stripe_events"] = stripe_events(obj.stripe_id)
            context["stripe_dashboard_url"] = stripe_dashboard_url(obj.stripe_id)
            context["ops_buttons"] = self.ops_buttons(request, obj)
            context["recovery_links"] = obj.recovery_links.select_related("created_by")
        return super().render_change_form(request, context, add=add, change=change,
                                          form_url=form_url, obj=obj)

    @admin.display(description="Customer", ordering="customer_email")
    def customer(self, incident: Incident) -> str:
        """The address, and the card under it ("visa •••• 3184 (DE)")."""
        who = email_wrapped(incident.customer_email) if incident.customer_email \
            else "(no email)"
        card = card_label(incident)
        if card == EMPTY:
            return who
        return format_html('{}<br><span class="quiet">{}</span>', who, card)

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, incident: Incident) -> str:
        return money_unbroken(incident.amount, incident.currency)

    @admin.display(description="Kind", ordering="kind")
    def kind_display(self, incident: Incident) -> str:
        return incident.get_kind_display()

    @admin.display(description="Card", ordering="card_brand")
    def card(self, incident: Incident) -> str:
        return card_label(incident)

    @admin.display(description="Last error", ordering="decline_code")
    def last_error(self, incident: Incident) -> str:
        """In words; the codes (and Stripe's message) in the tooltip."""
        words = error_in_words(incident.error_code, incident.decline_code,
                               incident.error_message)
        if not words:
            return EMPTY
        codes = " / ".join(code for code in (incident.error_code, incident.decline_code)
                           if code)
        hover = "\n".join(part for part in (codes, incident.error_message) if part)
        return format_html('<span title="{}">{}</span>', hover,
                           Truncator(words).chars(60) if words == incident.error_message
                           else words)

    @admin.display(description="Last error")
    def last_error_detail(self, incident: Incident) -> str:
        return error_in_words(incident.error_code, incident.decline_code,
                              incident.error_message) or EMPTY

    @admin.display(description="Kind / status", ordering="kind")
    def kind_and_status(self, incident: Incident) -> str:
        return format_html('{}<br><span class="quiet">{}</span>', incident.get_kind_display(),
                           incident.get_status_display())

    @admin.display(description="Age", ordering="-first_seen_at")
    def seen_ago(self, incident: Incident) -> str:
        """"2 days" since first seen; the time itself on hover."""
        return format_html('<span title="first seen {}">{}</span>',
                           timestamp_short(incident.first_seen_at), age(incident.first_seen_at))

    @admin.display(description="Expires")
    def expires(self, incident: Incident) -> str:
        return expires_in(incident)

    @admin.display(description="Expires")
    def expires_detail(self, incident: Incident) -> str:
        deadline = expires_at(incident)
        if deadline is None:
            return format_html('{} <span class="quiet">{}</span>', EMPTY,
                               "(only a payment waiting for its confirm expires)")
        return format_html("{} ({})", timestamp_short(deadline, seconds=True),
                           expires_in(incident))

    @admin.display(description="Order / intent", ordering="order__reference")
    def where(self, incident: Incident) -> str:
        order = self.order_or_outside(incident) if incident.order is None \
            else order_admin_link(incident.order, short=True)
        return format_html('{}<br><span class="quiet">{}</span>', order, self.intent(incident))

    @admin.display(description="Order", ordering="order__reference")
    def order_or_outside(self, incident: Incident) -> str:
        if incident.order is None:
            return format_html('<span class="quiet" title="{}">{}</span>',
                               "An intent made outside this checkout (another integration "
                               "on the Stripe account): no order here.",
                               "outside checkout")
        return order_admin_link(incident.order)

    @admin.display(description="PaymentIntent", ordering="stripe_id")
    def intent(self, incident: Incident) -> str:
        return intent_short(incident.stripe_id)

    @admin.display(description="PaymentIntent")
    def intent_full(self, incident: Incident) -> str:
        url = stripe_dashboard_url(incident.stripe_id)
        if url is None:
            return incident.stripe_id
        return format_html('{} <a href="{}" target="_blank" rel="noopener">{}</a>',
                           incident.stripe_id, url, "open in Stripe's Dashboard")

    @admin.display(description="Intent status")
    def intent_status_display(self, incident: Incident) -> str:
        """Our ledger's status when the payment is ours (an ops confirm moves it at once);
        the incident's last sight of Stripe for an intent made outside the checkout."""
        if incident.attempt is not None:
            return format_html('{} <span class="quiet">{}</span>',
                               intent_status_label(incident.attempt.status), "(our ledger)")
        return format_html('{} <span class="quiet">{}</span>',
                           intent_status_label(incident.intent_status), "(as last seen at Stripe)")

    @admin.display(description="Found by")
    def source_display(self, incident: Incident) -> str:
        return SOURCE_LABELS.get(incident.source, incident.source)

    @admin.display(description="Intent created")
    def intent_created(self, incident: Incident) -> str:
        return timestamp_short(incident.intent_created_at, seconds=True)

    @admin.display(description="First seen")
    def first_seen_detail(self, incident: Incident) -> str:
        return format_html("{} ({} ago)", timestamp_short(incident.first_seen_at, seconds=True),
                           age(incident.first_seen_at))

    @admin.display(description="Last seen")
    def last_seen(self, incident: Incident) -> str:
        return timestamp_short(incident.last_seen_at, seconds=True)

    @admin.display(description="Resolved")
    def resolved(self, incident: Incident) -> str:
        if incident.resolved_at is None:
            return "not yet" if incident.status == Incident.Status.OPEN else EMPTY
        return timestamp_short(incident.resolved_at, seconds=True)

    @admin.display(description="Payment attempt")
    def attempt_or_none(self, incident: Incident) -> str:
        if incident.attempt is None:
            return "none (outside checkout)"
        return attempt_admin_link(incident.attempt)


def stripe_dashboard_url(intent_id: str) -> str | None:
    """The intent in Stripe's Dashboard, only when the keys are Stripe's own (a sandbox's
    intents exist nowhere else): under /test/ for test keys."""
    if settings.STRIPE_API_BASE or not intent_id.startswith("pi_"):
        return None
    live = settings.STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
    return f"https://dashboard.stripe.com/{'' if live else 'test/'}payments/{intent_id}"


def stripe_events(intent_id: str, *, limit: int = 50) -> list[dict]:
    """The dj-stripe events about the intent (``data.object.id``, a JSON lookup that
    PostgreSQL and SQLite both take), oldest first, as rows for the incident page."""
    if not apps.is_installed("djstripe"):
        return []
    from djstripe.models import Event

    events = (Event.objects.filter(data__object__id=intent_id)
              .order_by("-created", "-djstripe_id")[:limit])
    rows = []
    for event in reversed(list(events)):
        intent = (event.data or {}).get("object") or {}
        error = intent.get("last_payment_error") or {}
        rows.append({
            "created": timestamp_short(event.created, seconds=True),
            "type": event.type,
            "status": intent_status_label(intent.get("status") or ""),
            "error": error_in_words(error.get("code") or "", error.get("decline_code") or "",
                                    error.get("message") or "") or EMPTY,
            "id": event.id,
            "url": reverse("admin:djstripe_event_change", args=[event.pk])
            if admin.site.is_registered(Event) else "",
        })
    return rows


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
        return recovery.CANCEL_REASONS.get(action.reason, action.reason) or EMPTY


@admin.register(RecoveryLink)
class RecoveryLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The links mailed to shoppers: to whom, by whom, until when, and whether used."""

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

    @admin.display(description="Used")
    def state(self, link: RecoveryLink) -> str:
        if link.used_at is not None:
            return f"used {timestamp_compact(link.used_at)}"
        return "expired unused" if link.expires_at <= timezone.now() else "not yet"


dashboard_register(admin.site)
