"""Products (editable), orders with their lines and payment attempts, and each attempt
with its ledger (``PaymentEvent``), where each fact shows when Stripe stated it and late
facts are marked "late (history only)".

Payment rows change only through ``payment_status_record``, so orders and attempts are
read-only here. ``ledger_table`` lays the ledger out for a page that has no foreign key
from it (the incident page).
"""

from __future__ import annotations

from urllib.parse import quote

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_field, label_for_field, lookup_field
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from payments.admin.common import (
    AMOUNT_ORDERING,
    EMPTY,
    DateRangeFilter,
    FriendlyFiltersMixin,
    IndexedSearchMixin,
    QuickRowsMixin,
    ReadOnlyAdminMixin,
    ReadOnlyTabularInline,
    attempt_failure,
    card_label,
    code_short,
    currency_refusals_warn,
    intent_short,
    intent_status_label,
    money_unbroken,
    order_admin_link,
    text_short,
    timestamp,
    unbroken,
    values_present,
)
from payments.admin.ops import engine_internals_visible, ops_ending, ops_history_rows
from payments.admin.orders_csv import orders_csv
from payments.admin.pagination import LargeTablePaginator
from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.mail.receipts import RECEIPT_MAX_REFUSALS
from payments.monitoring.models import Incident, ReconciliationMismatch
from payments.monitoring.selectors import EXPIRY_MEANING
from payments.recovery.models import RecoveryLink
from payments.shop.limits import (
    currency_refused,
    currency_refused_forget,
    price_minimum_warning,
    price_refusal_words,
)
from payments.shop.models import Order, OrderLine, Product
from payments.shop.selectors import TOTALS_ROWS_MAX, order_totals_by_currency
from payments.stripe.facts import card_brand_label, code_label


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = "__all__"
        # Nine digits and a margin: the default box showed "100000" of 100000000
        # (admin.css; the CSP refuses a style attribute).
        widgets = {"price": forms.NumberInput(attrs={"class": "vIntegerField price-field"})}

    def clean(self):
        data = super().clean()
        price, currency = data.get("price"), data.get("currency")
        problem = price_refusal_words(price=price, currency=currency) \
            if price is not None and currency else ""
        if problem:
            self.add_error("price", problem)
        return data


@admin.register(Product)
class ProductAdmin(FriendlyFiltersMixin, admin.ModelAdmin):
    form = ProductForm
    list_display = ["name", "sku", "price_display", "active"]
    list_filter = ["active"]
    search_fields = ["name", "sku"]

    @admin.display(description=_("Price"), ordering="price")
    def price_display(self, product: Product) -> str:
        return money_unbroken(product.price, product.currency)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse):  # the list itself, not a redirect
            currency_refusals_warn(request)  # read as the page renders, after this
        return response

    def get_readonly_fields(self, request: HttpRequest, obj: Product | None = None):
        # Shoppers' carts hold products by SKU: renaming one emptied every cart holding it,
        # without a word. A new SKU is a new product (untick Active on the old one).
        return ["sku"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Product, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if currency_refused(currency=obj.currency):
            # Stripe refused it lately: said, and asked again at the next payment (the
            # merchant may have enabled it in Stripe's Dashboard since).
            messages.warning(request, gettext(
                "Stripe refused card payments in %(currency)s for this account lately; "
                "the shop offers them again from now, but check that your Stripe account "
                "takes %(currency)s.") % {"currency": obj.currency.upper()})
            currency_refused_forget(currency=obj.currency)
        # Saved all the same: several make a cart Stripe charges.
        warning = price_minimum_warning(price=obj.price, currency=obj.currency)
        if warning:
            messages.warning(request, warning)


def order_related_lists(request: HttpRequest, *, order: Order) -> list[tuple[str, str]]:
    """(words, address) of the lists that hold more about the order, for what the
    user may see: its incidents and recovery links (a support agent searched each list
    by hand for "what happened?")."""
    found = []
    search = f"?q={quote(order.reference)}"
    if request.user.has_perm("payments.view_incident"):
        counted = Incident.objects.filter(order=order).aggregate(
            all=Count("pk"), open=Count("pk", filter=Q(status=Incident.Status.OPEN)))
        found.append((ngettext("%(count)s incident (%(open)s open)",
                               "%(count)s incidents (%(open)s open)", counted["all"])
                      % {"count": counted["all"], "open": counted["open"]},
                      reverse("admin:payments_incident_changelist") + search))
    if request.user.has_perm("payments.view_recoverylink"):
        count = RecoveryLink.objects.filter(order=order).count()
        found.append((ngettext("%(count)s recovery link", "%(count)s recovery links", count)
                      % {"count": count},
                      reverse("admin:payments_recoverylink_changelist") + search))
    return found


class OrderLineInline(ReadOnlyTabularInline):
    model = OrderLine
    fields = ["item", "unit_price_display", "line_total"]
    readonly_fields = fields
    verbose_name = _("line")
    verbose_name_plural = _("lines")  # not Django's "{}s" of the translated name

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("order")  # each line's currency

    @admin.display(description=_("Item"))
    def item(self, line: OrderLine) -> str:
        return f"{line.quantity} × {line.name}"

    @admin.display(description=_("Unit price"))
    def unit_price_display(self, line: OrderLine) -> str:
        return money_unbroken(line.unit_price, line.order.currency)

    @admin.display(description=_("Amount"))
    def line_total(self, line: OrderLine) -> str:
        return money_unbroken(line.amount, line.order.currency)


class PaymentAttemptInline(ReadOnlyTabularInline):
    model = PaymentAttempt
    fields = ["number", "intent", "status", "amount_display", "card", "failure", "updated"]
    readonly_fields = fields

    @admin.display(description=_("PaymentIntent"))
    def intent(self, attempt: PaymentAttempt) -> str:
        # The link to the attempt's page, where Django would put a small "View" above.
        url = reverse("admin:payments_paymentattempt_change", args=[attempt.pk])
        return format_html('<a href="{}">{}</a>', url,
                           attempt.stripe_id or gettext("(no intent yet)"))

    @admin.display(description=_("Amount"))
    def amount_display(self, attempt: PaymentAttempt) -> str:
        return money_unbroken(attempt.amount, attempt.currency)

    @admin.display(description=_("Card"))
    def card(self, attempt: PaymentAttempt) -> str:
        return card_label(attempt)

    @admin.display(description=_("Decline / error"))
    def failure(self, attempt: PaymentAttempt) -> str:
        return attempt_failure(attempt)

    @admin.display(description=_("Updated"))
    def updated(self, attempt: PaymentAttempt) -> str:
        return timestamp(attempt.updated_at)


class OrderCurrencyFilter(admin.SimpleListFilter):
    """The shop's currencies as its prices show them ("EUR", not "eur")."""

    title = _("currency")
    parameter_name = "currency"

    def lookups(self, request: HttpRequest, model_admin):
        present = values_present(Order.objects.all(), "currency", limit=50)
        return [(value, value.upper()) for value in present]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(currency=self.value()) if self.value() else queryset


class PaidFilter(DateRangeFilter):
    """By the day an order was paid, in the site's time zone (as Stripe dates the
    charge): the accountant's month, where an order made at 23:59 on the 31st and paid
    just after midnight belongs to the next one."""

    title_text = _("paid")


def order_list_narrowed(changelist) -> bool:
    """Whether a period (created or paid) or a status narrows the list: only then are
    its totals summed (and then at most ``TOTALS_ROWS_MAX`` orders). Unfiltered, they
    would read every order (10,000,000 at the scale goal, bench/admin.py) on every
    page."""
    for spec in changelist.filter_specs:
        if isinstance(spec, DateRangeFilter) and spec.bounds:
            return True
        if getattr(spec, "field_path", "") == "status" and spec.lookup_val:
            return True
    return False


def order_totals_line(changelist) -> str:
    """"25 orders: 1,732.95 EUR · 10,599 JPY · 79.96 USD", each currency on its own."""
    totals = order_totals_by_currency(orders=changelist.queryset)
    if totals is None:
        return gettext("Totals: more than %(count)s orders; choose a shorter period (the "
                       "export has them all).") % {
            "count": number_format(TOTALS_ROWS_MAX, force_grouping=True)}
    count = ngettext("%(count)s order", "%(count)s orders", totals.count) % {
        "count": number_format(totals.count, force_grouping=True)}
    if not totals.amounts:
        return count
    amounts = " · ".join(money_unbroken(amount, currency)
                         for currency, amount in totals.amounts)
    return gettext("%(count)s: %(amounts)s") % {"count": count, "amounts": amounts}


# Never the session key (it would let a reader take over the shopper's session); the
# keyed hash that replaces it is for ops' support look-ups, not for merchants.
SUPPORT_FIELDS = ["session_hash"]


@admin.register(Order)
class OrderAdmin(QuickRowsMixin, IndexedSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "email", "total", "status", "created", "paid"]
    list_filter = ["status", OrderCurrencyFilter, ("created_at", DateRangeFilter),
                   ("paid_at", PaidFilter)]
    search_fields = ["reference", "email"]
    search_email_fields = ["email"]
    # "Which card did I pay with?": four digits find the orders any of whose payments
    # was made with a card ending in them (migration 0092's index).
    search_last4_fields = ["attempts__card_last4"]
    search_help_text = _("Order, email, or the last 4 digits of a card it was paid or "
                         "tried with.")
    show_full_result_count = False  # no second COUNT(*) of every order per page
    paginator = LargeTablePaginator
    fields = ["reference", "email", "total", "status", "created", "paid", "ended_by",
              "receipt_sent", "erased", *SUPPORT_FIELDS]
    readonly_fields = fields
    inlines = [OrderLineInline, PaymentAttemptInline]
    change_form_template = "admin/payments/order/change_form.html"

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [path("export/", self.admin_site.admin_view(self.export_view),
                     name=f"{info[0]}_{info[1]}_export"),
                *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}),
                         "can_export": request.user.has_perm("payments.export_order")}
        response = super().changelist_view(request, extra_context)
        changelist = response.context_data.get("cl") \
            if isinstance(response, TemplateResponse) else None
        if changelist is not None:  # not a redirect (a filter refused, a page past the end)
            response.context_data["order_totals"] = order_totals_line(changelist) \
                if order_list_narrowed(changelist) else ""
        return response

    def export_view(self, request: HttpRequest):
        """The orders the list shows with these filters and this search, every page of
        it, as CSV for the books: streamed, so memory stays flat whatever the period."""
        if not request.user.has_perm("payments.export_order"):
            raise PermissionDenied
        orders = self.changelist_rows(
            request, changelist_url=reverse("admin:payments_order_changelist"))
        if isinstance(orders, HttpResponseRedirect):
            return orders
        response = StreamingHttpResponse(orders_csv(orders),
                                         content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="orders-{stamp}.csv"'
        return response

    def get_fields(self, request: HttpRequest, obj=None):
        fields = super().get_fields(request, obj)
        if engine_internals_visible(request.user):
            return fields
        return [field for field in fields if field not in SUPPORT_FIELDS]

    def render_change_form(self, request: HttpRequest, context, add=False, change=False,
                           form_url="", obj: Order | None = None):
        if obj is not None:
            context["ops_history"] = ops_history_rows(order=obj)
            # "Paid" alone hid a second charge the reconciliation found (an accountant).
            context["mismatches"] = list(ReconciliationMismatch.objects.filter(
                order=obj, resolved=False).order_by("first_found_at"))
            context["ops_history_title"] = gettext("Ops actions on this order's payments")
            context["related_lists"] = order_related_lists(request, order=obj)
        return super().render_change_form(request, context, add=add, change=change,
                                          form_url=form_url, obj=obj)

    @admin.display(description=_("Ended by"))
    def ended_by(self, order: Order) -> str:
        """Who canceled it and why (or confirmed its payment), when ops did."""
        return ops_ending(order=order)

    @admin.display(description=_("Personal data erased"))
    def erased(self, order: Order) -> str:
        """When the shopper's email was erased on request (payments.privacy)."""
        return timestamp(order.erased_at)

    @admin.display(description=_("Receipt sent"))
    def receipt_sent(self, order: Order) -> str:
        if order.receipt_sent_at or not order.receipt_refusals:
            return timestamp(order.receipt_sent_at)
        if order.receipt_refusals >= RECEIPT_MAX_REFUSALS:
            return gettext("Refused by the mail server %(count)s times; given up") % {
                "count": order.receipt_refusals}
        return gettext("Refused by the mail server %(count)s times; next try %(at)s") % {
            "count": order.receipt_refusals, "at": timestamp(order.receipt_retry_at)}

    @admin.display(description=_("Total"), ordering=AMOUNT_ORDERING)
    def total(self, order: Order) -> str:
        return money_unbroken(order.amount, order.currency)

    @admin.display(description=_("Created"), ordering="created_at")
    def created(self, order: Order) -> str:
        return timestamp(order.created_at)

    @admin.display(description=_("Paid"), ordering="paid_at")
    def paid(self, order: Order) -> str:
        return timestamp(order.paid_at)


class CodeFilter(admin.SimpleListFilter):
    """One of Stripe's codes present on attempts, in words (``facts.code_label``)."""

    field_name = ""

    def lookups(self, request: HttpRequest, model_admin):
        present = values_present(PaymentAttempt.objects.all(), self.field_name, limit=50)
        return [(value, self.label(value)) for value in present]

    def label(self, value: str) -> str:
        return code_label(code=value)

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(**{self.field_name: self.value()}) if self.value() \
            else queryset


class LastDeclineFilter(CodeFilter):
    title = _("last decline")
    parameter_name = field_name = "last_decline_code"


class LastErrorFilter(CodeFilter):
    title = _("last error")
    parameter_name = field_name = "last_error_code"


class ConfirmationMethodFilter(CodeFilter):
    """Django's plain field filter ran a ``SELECT DISTINCT`` over every attempt on every
    page (0.5 s at 2,000,000, bench/admin.py); the values present, kept a minute."""

    title = _("confirmation method")
    parameter_name = field_name = "confirmation_method"

    def label(self, value: str) -> str:
        return value.capitalize()


class AttemptBrandFilter(CodeFilter):
    title = _("card brand")
    parameter_name = field_name = "card_brand"

    def label(self, value: str) -> str:
        return card_brand_label(brand=value)


LATE_HELP = _("Stripe stated this before a newer fact we already held (a webhook arriving "
              "late): kept as history, it did not change the payment.")


class PaymentEventInline(ReadOnlyTabularInline):
    model = PaymentEvent
    fields = ["at", "observed", "change", "effect", "error", "decline", "source", "who"]
    readonly_fields = fields
    verbose_name = _("ledger entry")
    verbose_name_plural = _("ledger")

    @admin.display(description=_("Recorded"))
    def at(self, event: PaymentEvent) -> str:
        return timestamp(event.created_at, seconds=True)  # several a minute

    @admin.display(description=_("Stated by Stripe"))
    def observed(self, event: PaymentEvent) -> str:
        return timestamp(event.observed_at, seconds=True)

    @admin.display(description=_("Status change"))
    def change(self, event: PaymentEvent) -> str:
        return format_html("{} → {}", intent_status_label(event.from_status),
                           intent_status_label(event.to_status))

    @admin.display(description=_("Error"))
    def error(self, event: PaymentEvent) -> str:
        return code_short(event.error_code)

    @admin.display(description=_("Decline"))
    def decline(self, event: PaymentEvent) -> str:
        return code_short(event.decline_code)

    @admin.display(description=_("Reported by"))
    def who(self, event: PaymentEvent) -> str:
        return text_short(event.actor)

    @admin.display(description=_("Effect"))
    def effect(self, event: PaymentEvent) -> str:
        if event.note:  # our decision, not Stripe's fact: why
            return event.note
        if event.applied:
            return format_html('<span class="quiet">{}</span>', gettext("applied"))
        return format_html('<strong title="{}">{}</strong>', LATE_HELP,
                           unbroken(gettext("late (history only)")))


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
class PaymentAttemptAdmin(QuickRowsMixin, IndexedSearchMixin, ReadOnlyAdminMixin,
                          admin.ModelAdmin):
    # Few, short columns: the list must fit a 1280 px screen next to the filters.
    list_display = ["intent", "order_link", "status", "amount_display", "card", "failure",
                    "updated"]
    list_display_links = ["intent"]
    list_filter = ["status", LastDeclineFilter, LastErrorFilter, ConfirmationMethodFilter,
                   AttemptBrandFilter, ("created_at", DateRangeFilter)]
    search_fields = ["stripe_id", "order__reference", "order__email"]
    search_email_fields = ["order__email"]
    search_last4_fields = ["card_last4"]
    search_help_text = _("PaymentIntent id, order, email or the card's last 4 digits.")
    list_select_related = ["order"]
    show_full_result_count = False  # no second COUNT(*) of every attempt per page
    paginator = LargeTablePaginator
    fieldsets = [
        (None, {"fields": ["order_link", "number", "stripe_id", "status", "amount_display",
                           "card", "confirmation_method"]}),
        (_("Last failure"), {"fields": ["failure", "last_error_code", "last_decline_code",
                                     "last_error_message"]}),
        (_("Timeline"), {"fields": ["created", "asked_at", "passed_at", "expires",
                                 "final", "updated"]}),
        (_("Stripe details"), {"classes": ["collapse"],
                            "fields": ["latest_charge", "create_payment_method",
                                       "confirmations"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]
    inlines = [PaymentEventInline]

    @admin.display(description=_("PaymentIntent"), ordering="stripe_id")
    def intent(self, attempt: PaymentAttempt) -> str:
        if not attempt.stripe_id:
            return gettext("attempt %(number)s (no intent yet)") % {"number": attempt.number}
        return intent_short(attempt.stripe_id)

    @admin.display(description=_("Order"), ordering="order__reference")
    def order_link(self, attempt: PaymentAttempt) -> str:
        return order_admin_link(attempt.order)

    @admin.display(description=_("Amount"), ordering=AMOUNT_ORDERING)
    def amount_display(self, attempt: PaymentAttempt) -> str:
        return money_unbroken(attempt.amount, attempt.currency)

    @admin.display(description=_("Card"), ordering="card_brand")
    def card(self, attempt: PaymentAttempt) -> str:
        return card_label(attempt)

    @admin.display(description=_("Decline / error"), ordering="last_decline_code")
    def failure(self, attempt: PaymentAttempt) -> str:
        return attempt_failure(attempt)

    @admin.display(description=_("Updated"), ordering="updated_at")
    def updated(self, attempt: PaymentAttempt) -> str:
        return timestamp(attempt.updated_at, seconds=True)

    @admin.display(description=_("Created"), ordering="created_at")
    def created(self, attempt: PaymentAttempt) -> str:
        return timestamp(attempt.created_at, seconds=True)

    @admin.display(description=_("Sent to the bank's challenge"))
    def asked_at(self, attempt: PaymentAttempt) -> str:
        return timestamp(attempt.requires_action_at, seconds=True)

    @admin.display(description=_("Passed the challenge"))
    def passed_at(self, attempt: PaymentAttempt) -> str:
        """When we saw the intent in ``requires_confirmation``. A payment the page
        confirmed at once is never seen there ("-"); nor is a card typed while the
        challenge waited, or after it failed unheard of: our rows cannot tell those apart
        (Stripe's charge can: ``three_d_secure.result``), so this claims nothing more."""
        return timestamp(attempt.requires_confirmation_at, seconds=True)

    @admin.display(description=_("Expires"))
    def expires(self, attempt: PaymentAttempt) -> str:
        """The one expiry rule (``PaymentAttempt.expires_at``), and what it means."""
        deadline = attempt.expires_at
        return format_html('{} <span class="quiet">({})</span>',
                           timestamp(deadline, seconds=True) if deadline else EMPTY,
                           EXPIRY_MEANING)

    @admin.display(description=_("Final"))
    def final(self, attempt: PaymentAttempt) -> str:
        return timestamp(attempt.final_at, seconds=True)
