"""The failed payments list (``Incident``): its filters (kind, status, when the payment
was made and when we first saw it, amount typed in major units, the values present, each
payment once), Stripe's codes in words, the confirm deadline, the CSV export of what the
filters show, and the incident page with its ledger, Stripe's events, the ops actions
taken and the ops buttons.

Incidents change only through ``payments.monitoring.incidents``, so the list is read-only; the ops
actions on it come from ``payments.admin.ops``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import connections
from django.db.models import Q
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from payments.admin.common import (
    EMPTY,
    SOURCE_LABELS,
    DateRangeFilter,
    IndexedSearchMixin,
    QuickRowsMixin,
    ReadOnlyAdminMixin,
    age,
    attempt_admin_link,
    card_label,
    email_wrapped,
    filter_warning,
    hidden_params,
    intent_short,
    intent_status_label,
    money_unbroken,
    order_admin_link,
    range_from,
    range_to,
    timestamp,
    unbroken,
    values_present,
    values_present_cache_key,
)
from payments.admin.incidents_csv import INCIDENT_CSV, incidents_csv, incidents_csv_copy
from payments.admin.ops import OpsActionsMixin, ops_ending, ops_history_rows
from payments.admin.orders import ledger_table
from payments.admin.pagination import LargeTablePaginator
from payments.monitoring import selectors
from payments.monitoring.models import Incident
from payments.stripe.facts import (
    AUTHENTICATION_FAILURES,
    THREE_DECIMAL,
    ZERO_DECIMAL,
    card_brand_label,
    code_label,
    error_in_words,
    major_units,
    minor_units,
)
from payments.stripe.models import WebhookEvent


class PaymentMadeFilter(DateRangeFilter):
    """When the payment was made (``intent_created_at``): the dashboard's periods and
    daily chart count by it, so its links land here."""

    title_text = _("payment made")


class FirstSeenFilter(DateRangeFilter):
    """When monitoring first found the incident (a backfill finds old payments today):
    the ops digest's "new" incidents."""

    title_text = _("first seen")


class EachPaymentFilter(admin.SimpleListFilter):
    """Every incident, or each payment once (its latest incident, a 3-D Secure one before
    a card decline: ``incident_latest_of_payment``): how the dashboard
    counts payments and money, so each of its numbers opens the rows it counted."""

    title = _("payments")
    parameter_name = "payment"

    def lookups(self, request: HttpRequest, model_admin):
        return [(selectors.EACH_PAYMENT_ONCE,
                 gettext("Each payment once (its latest incident, 3-D Secure before a "
                         "decline)")),
                (selectors.EACH_FAILED_PAYMENT_ONCE,
                 gettext("Each failed authentication once (its latest)"))]

    def choices(self, changelist):
        for choice in super().choices(changelist):
            if choice["display"] == gettext("All"):
                choice["display"] = gettext("Every incident")
            yield choice

    def queryset(self, request: HttpRequest, queryset):
        if self.value() == selectors.EACH_PAYMENT_ONCE:
            return queryset.filter(selectors.incident_latest_of_payment())
        if self.value() == selectors.EACH_FAILED_PAYMENT_ONCE:
            return queryset.filter(
                selectors.incident_latest_of_payment(kinds=AUTHENTICATION_FAILURES),
                kind__in=AUTHENTICATION_FAILURES)
        return queryset


class AmountFilter(admin.FieldListFilter):
    """A from/to pair in the address in minor units, as every amount is stored
    (``amount__gte=1000``); the merchant types major units ("10"), and
    ``IncidentAdmin.changelist_view`` turns ``amount_from`` / ``amount_to`` into them."""

    template = "admin/payments/filter_range.html"
    typed = {"amount_from": "amount__gte", "amount_to": "amount__lte"}

    def __init__(self, field, request, params, model, model_admin, field_path) -> None:
        self.lookup_gte, self.lookup_lte = f"{field_path}__gte", f"{field_path}__lte"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = gettext("amount")
        self.currency = request.GET.get("currency", "")
        self.bounds: dict[str, int] = {}
        for key, values in list(self.used_parameters.items()):
            if re.fullmatch(r"[0-9]{1,12}", values[-1]):
                self.bounds[key] = int(values[-1])
            else:
                del self.used_parameters[key]
                filter_warning(request, gettext("The amount “%(amount)s” was not valid, so the "
                                                "list ignores it.") % {"amount": values[-1]})

    def expected_parameters(self) -> list[str]:
        return [self.lookup_gte, self.lookup_lte]

    def queryset(self, request: HttpRequest, queryset):
        if not self.bounds or self.currency:
            return queryset.filter(**self.bounds) if self.bounds else queryset
        # No currency chosen: the bounds were typed as major units and kept in cents; a
        # currency without minor units (yen) is compared in its own units ("50" is 50 JPY,
        # not 5,000 JPY), a three-decimal one in its thousandths ("5.12" is 5.120 KWD).
        zero = {key: -(-value // 100) if key == self.lookup_gte else value // 100
                for key, value in self.bounds.items()}
        three = {key: value * 10 for key, value in self.bounds.items()}
        other = ZERO_DECIMAL | THREE_DECIMAL
        return queryset.filter(Q(**self.bounds) & ~Q(currency__in=other)
                               | Q(**zero) & Q(currency__in=ZERO_DECIMAL)
                               | Q(**three) & Q(currency__in=THREE_DECIMAL))

    def choices(self, changelist):
        def shown(key: str) -> str:
            value = self.bounds.get(key)
            if value is None:
                return ""
            return major_units(amount=value, currency=self.currency or "eur")

        self.form_hidden = hidden_params(changelist, leaving=set(self.expected_parameters()))
        self.form_fields = [("amount_from", range_from(), shown(self.lookup_gte)),
                            ("amount_to", range_to(), shown(self.lookup_lte))]
        self.form_type = "text"
        yield {"selected": not self.bounds, "display": gettext("Any amount"),
               "query_string": changelist.get_query_string(
                   remove=self.expected_parameters())}


def present_values_cache_key(field_name: str) -> str:
    return values_present_cache_key(Incident._meta.db_table, field_name)


class PresentValuesFilter(admin.SimpleListFilter):
    """The values the incidents hold (a merchant picks, rather than types), in the
    address under the field's own name (``card_brand=visa``)."""

    field_name = ""

    def label(self, value: str) -> str:
        return value

    def lookups(self, request: HttpRequest, model_admin):
        present = values_present(Incident.objects.all(), self.field_name)
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
    title = _("kind")
    parameter_name = field_name = "kind"


class StatusFilter(ChoiceFilter):
    title = _("status")
    parameter_name = field_name = "status"


class CurrencyFilter(PresentValuesFilter):
    """The currencies present, as the amounts show them ("EUR", not "eur")."""

    title = _("currency")
    parameter_name = field_name = "currency"

    def label(self, value: str) -> str:
        return value.upper()


class CardBrandFilter(PresentValuesFilter):
    """The brands present, as Stripe's Dashboard names them ("Visa", not "visa")."""

    title = _("card brand")
    parameter_name = field_name = "card_brand"

    def label(self, value: str) -> str:
        return card_brand_label(brand=value)


class CardCountryFilter(PresentValuesFilter):
    title = _("card country")
    parameter_name = field_name = "card_country"


class DeclineCodeFilter(PresentValuesFilter):
    """Decline codes in words ("Insufficient funds"), the code in the address."""

    title = _("decline code")
    parameter_name = field_name = "decline_code"

    def label(self, value: str) -> str:
        return code_label(code=value)


class SourceFilter(PresentValuesFilter):
    """What found the incident, named as the ledger names it ("Monitoring scan")."""

    title = _("found by")
    parameter_name = field_name = "source"

    def label(self, value: str) -> str:
        return SOURCE_LABELS.get(value, value)


URGENT = timedelta(minutes=15)


def incident_error_in_words(incident: Incident) -> str:
    return error_in_words(error_code=incident.error_code, decline_code=incident.decline_code,
                          message=incident.error_message)


def expires_at(incident: Incident) -> datetime | None:
    """When Stripe fails an open payment waiting for its second confirm; None otherwise."""
    if incident.status != Incident.Status.OPEN or incident.attempt is None:
        return None
    return incident.attempt.expires_at


def expires_in(incident: Incident) -> str:
    """"in 42 min" (bold under a quarter of an hour), "hour passed", or "—"; the rule in
    the tooltip."""
    deadline = expires_at(incident)
    if deadline is None:
        return EMPTY
    left = deadline - timezone.now()
    if left <= timedelta(0):
        return format_html('<strong title="{}">{}</strong>', gettext("Stripe fails it at its next "
                           "read; the next scan records it."), unbroken(gettext("hour passed")))
    minutes = max(1, -(-int(left.total_seconds()) // 60))
    text = unbroken(gettext("in %(minutes)s min") % {"minutes": minutes})
    if left < URGENT:
        text = format_html("<strong>{}</strong>", text)
    return format_html('<span title="{}">{}</span>', gettext("at %(time)s. %(meaning)s") % {
        "time": timestamp(deadline, seconds=True), "meaning": selectors.EXPIRY_MEANING}, text)


@admin.register(Incident)
class IncidentAdmin(QuickRowsMixin, OpsActionsMixin, IndexedSearchMixin, ReadOnlyAdminMixin,
                    admin.ModelAdmin):
    """The failed payments list: payments in trouble, as the monitoring engine found them
    (webhooks and scans), with a CSV export of what the filters show."""

    # Seven columns (and the action checkboxes) that fit a 1280 px screen next to the
    # filters: the card sits under the customer, the status under the kind and the intent
    # id under its order; the age is one word with the time on hover; long values wrap or
    # are cut with the whole value in the tooltip; headers (never wrapped) stay short.
    list_display = ["customer", "amount_display", "kind_and_status", "last_error", "seen_ago",
                    "expires", "where"]
    list_display_links = ["customer"]
    list_filter = [KindFilter, StatusFilter, ("intent_created_at", PaymentMadeFilter),
                   ("amount", AmountFilter), CurrencyFilter, CardBrandFilter,
                   CardCountryFilter, DeclineCodeFilter, SourceFilter,
                   ("first_seen_at", FirstSeenFilter), EachPaymentFilter]
    search_fields = ["customer_email", "order__reference", "stripe_id", "card_last4"]
    search_email_fields = ["customer_email"]
    search_last4_fields = ["card_last4"]
    search_help_text = _("Email, order, PaymentIntent id or the card's last 4 digits.")
    list_select_related = ["order", "attempt"]
    # No second COUNT(*) over every incident per page (bench/admin.py: 200,000 rows).
    show_full_result_count = False
    paginator = LargeTablePaginator
    fieldsets = [
        (None, {"fields": ["kind_display", "status", "customer_email", "amount_display",
                           "card", "intent_full", "order_or_outside", "attempt_or_none",
                           "intent_status_display", "expires_detail", "source_display"]}),
        (_("Failure"), {"fields": ["last_error_detail", "error_code", "decline_code",
                                "error_message"]}),
        (_("Timeline"), {"fields": ["intent_created", "first_seen_detail", "last_seen",
                                 "resolved", "ended_by"]}),
    ]
    readonly_fields = [field for _title, options in fieldsets for field in options["fields"]
                       ] + ["finalize_sent"]

    def get_fieldsets(self, request: HttpRequest, obj: Incident | None = None):
        if obj is None or obj.finalize_sent_at is None:
            return self.fieldsets
        # When the sweep sent its confirm: an open one with it is waiting on that answer.
        *head, (title, options) = self.fieldsets
        fields = list(options["fields"])
        fields.insert(fields.index("resolved"), "finalize_sent")
        return [*head, (title, {**options, "fields": fields})]

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
                         "can_export": request.user.has_perm("payments.export_incident"),
                         "expiry_meaning": selectors.EXPIRY_MEANING,
                         "time_zone": timezone.get_current_timezone_name()}
        return super().changelist_view(request, extra_context)

    def amounts_typed(self, request: HttpRequest) -> HttpResponseRedirect:
        """The amount filter's form sent major units: the same list, in minor units."""
        query = request.GET.copy()
        for typed, lookup in AmountFilter.typed.items():
            value = query.pop(typed, [""])[-1]
            query.pop(lookup, None)
            if not value.strip():
                continue
            minor = minor_units(typed=value, currency=query.get("currency", ""))
            if minor is None:
                filter_warning(request, gettext(
                    "The amount “%(amount)s” was not valid (write 10 or 10.50), so the list "
                    "ignores it.") % {"amount": value})
            else:
                query[lookup] = str(minor)
        query.pop("p", None)
        return HttpResponseRedirect(f"{request.path}?{query.urlencode()}" if query
                                    else request.path)

    def export_view(self, request: HttpRequest):
        """What the list shows with these filters and this search, every page of it, as
        CSV: streamed, so a million rows never sit in memory; on PostgreSQL written by
        the database itself (``incidents_csv_copy``), elsewhere row by row."""
        if not request.user.has_perm("payments.export_incident"):
            raise PermissionDenied
        incidents = self.changelist_rows(
            request, changelist_url=reverse("admin:payments_incident_changelist"))
        if isinstance(incidents, HttpResponseRedirect):
            return incidents
        if connections[incidents.db].vendor == "postgresql":
            header = "\ufeff" + ",".join(label for label, _cell in INCIDENT_CSV) + "\n"
            rows = incidents_csv_copy(incidents, header=header)
        else:
            rows = incidents_csv(incidents)
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
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
            context["recovery_links"] = [
                {"sent": timestamp(link.created_at), "email": link.email,
                 "by": link.created_by, "expires": timestamp(link.expires_at),
                 "used": timestamp(link.used_at) if link.used_at else gettext("not yet")}
                for link in obj.recovery_links.select_related("created_by")]
            context["ops_history"] = ops_history_rows(incidents=[obj])
        return super().render_change_form(request, context, add=add, change=change,
                                          form_url=form_url, obj=obj)

    @admin.display(description=_("Customer"), ordering="customer_email")
    def customer(self, incident: Incident) -> str:
        """The address, and the card under it ("visa •••• 3184 (DE)")."""
        who = email_wrapped(incident.customer_email) if incident.customer_email \
            else gettext("(no email)")
        card = card_label(incident)
        if card == EMPTY:
            return who
        return format_html('{}<br><span class="quiet">{}</span>', who, card)

    @admin.display(description=_("Amount"), ordering="amount")
    def amount_display(self, incident: Incident) -> str:
        return money_unbroken(incident.amount, incident.currency)

    @admin.display(description=_("Kind"), ordering="kind")
    def kind_display(self, incident: Incident) -> str:
        return incident.get_kind_display()

    @admin.display(description=_("Card"), ordering="card_brand")
    def card(self, incident: Incident) -> str:
        return card_label(incident)

    @admin.display(description=_("Last error"), ordering="decline_code")
    def last_error(self, incident: Incident) -> str:
        """In words; the codes (and Stripe's message) in the tooltip."""
        words = incident_error_in_words(incident)
        if not words:
            return EMPTY
        codes = " / ".join(code for code in (incident.error_code, incident.decline_code)
                           if code)
        hover = "\n".join(part for part in (codes, incident.error_message) if part)
        return format_html('<span title="{}">{}</span>', hover,
                           Truncator(words).chars(60) if words == incident.error_message
                           else words)

    @admin.display(description=_("Last error"))
    def last_error_detail(self, incident: Incident) -> str:
        return incident_error_in_words(incident) or EMPTY

    @admin.display(description=_("Kind / status"), ordering="kind")
    def kind_and_status(self, incident: Incident) -> str:
        return format_html('{}<br><span class="quiet">{}</span>', incident.get_kind_display(),
                           incident.get_status_display())

    @admin.display(description=_("Age"), ordering="-intent_created_at")
    def seen_ago(self, incident: Incident) -> str:
        """"6 days" since the payment was made; under it when we first saw it, if that
        reads otherwise (a backfill finds old payments); both times on hover."""
        made = incident.intent_created_at or incident.first_seen_at
        hover = gettext("payment made %(made)s, first seen %(seen)s") % {
            "made": timestamp(made), "seen": timestamp(incident.first_seen_at)}
        made_ago, seen_ago = age(made), age(incident.first_seen_at)
        if made_ago == seen_ago:
            return format_html('<span title="{}">{}</span>', hover, made_ago)
        return format_html('<span title="{}">{}<br><span class="quiet">{}</span></span>', hover,
                           made_ago, gettext("seen %(age)s ago") % {"age": seen_ago})

    @admin.display(description=_("Expires"))
    def expires(self, incident: Incident) -> str:
        return expires_in(incident)

    @admin.display(description=_("Expires"))
    def expires_detail(self, incident: Incident) -> str:
        deadline = expires_at(incident)
        if deadline is None:
            return format_html('{} <span class="quiet">({})</span>', EMPTY,
                               selectors.EXPIRY_MEANING)
        return format_html('{} ({}) <span class="quiet">{}</span>',
                           timestamp(deadline, seconds=True), expires_in(incident),
                           selectors.EXPIRY_MEANING)

    @admin.display(description=_("Order / intent"), ordering="order__reference")
    def where(self, incident: Incident) -> str:
        order = self.order_or_outside(incident) if incident.order is None \
            else order_admin_link(incident.order, short=True)
        return format_html('{}<br><span class="quiet">{}</span>', order, self.intent(incident))

    @admin.display(description=_("Order"), ordering="order__reference")
    def order_or_outside(self, incident: Incident) -> str:
        if incident.order is None:
            return format_html('<span class="quiet" title="{}">{}</span>',
                               gettext("An intent made outside this checkout (another "
                                       "integration on the Stripe account): no order here."),
                               gettext("outside checkout"))
        return order_admin_link(incident.order)

    @admin.display(description=_("PaymentIntent"), ordering="stripe_id")
    def intent(self, incident: Incident) -> str:
        return intent_short(incident.stripe_id)

    @admin.display(description=_("PaymentIntent"))
    def intent_full(self, incident: Incident) -> str:
        url = stripe_dashboard_url(incident.stripe_id)
        if url is None:
            return incident.stripe_id
        return format_html('{} <a href="{}" target="_blank" rel="noopener">{}</a>',
                           incident.stripe_id, url, gettext("open in Stripe's Dashboard"))

    @admin.display(description=_("Intent status"))
    def intent_status_display(self, incident: Incident) -> str:
        """Our ledger's status when the payment is ours (an ops confirm moves it at once);
        the incident's last sight of Stripe for an intent made outside the checkout."""
        if incident.attempt is not None:
            return format_html('{} <span class="quiet">{}</span>',
                               intent_status_label(incident.attempt.status),
                               gettext("(our ledger)"))
        return format_html('{} <span class="quiet">{}</span>',
                           intent_status_label(incident.intent_status),
                           gettext("(as last seen at Stripe)"))

    @admin.display(description=_("Found by"))
    def source_display(self, incident: Incident) -> str:
        return SOURCE_LABELS.get(incident.source, incident.source)

    @admin.display(description=_("Payment made"))
    def intent_created(self, incident: Incident) -> str:
        made = incident.intent_created_at or incident.first_seen_at
        return format_html("{} ({})", timestamp(made, seconds=True),
                           gettext("%(age)s ago") % {"age": age(made)})

    @admin.display(description=_("First seen"))
    def first_seen_detail(self, incident: Incident) -> str:
        return format_html("{} ({})", timestamp(incident.first_seen_at, seconds=True),
                           gettext("%(age)s ago") % {"age": age(incident.first_seen_at)})

    @admin.display(description=_("Last seen"))
    def last_seen(self, incident: Incident) -> str:
        return timestamp(incident.last_seen_at, seconds=True)

    @admin.display(description=_("Auto-finalize sent"))
    def finalize_sent(self, incident: Incident) -> str:
        return timestamp(incident.finalize_sent_at, seconds=True)

    @admin.display(description=_("Resolved"))
    def resolved(self, incident: Incident) -> str:
        if incident.resolved_at is None:
            return gettext("not yet") if incident.status == Incident.Status.OPEN else EMPTY
        return timestamp(incident.resolved_at, seconds=True)

    @admin.display(description=_("Ended by"))
    def ended_by(self, incident: Incident) -> str:
        """Who canceled it and why, or confirmed it, when ops did (their action's record)."""
        return ops_ending(incident=incident)

    @admin.display(description=_("Payment attempt"))
    def attempt_or_none(self, incident: Incident) -> str:
        if incident.attempt is None:
            return gettext("none (outside checkout)")
        return attempt_admin_link(incident.attempt)


def stripe_dashboard_url(intent_id: str) -> str | None:
    """The intent in Stripe's Dashboard, only when the keys are Stripe's own (a sandbox's
    intents exist nowhere else): under /test/ for test keys."""
    if settings.STRIPE_API_BASE or not intent_id.startswith("pi_"):
        return None
    live = settings.STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
    return f"https://dashboard.stripe.com/{'' if live else 'test/'}payments/{intent_id}"


def stripe_events(intent_id: str, *, limit: int = 50) -> list[dict]:
    """The webhook events about the intent, oldest first, as rows for the incident page."""
    events = (WebhookEvent.objects.filter(object_id=intent_id)
              .order_by("-created", "-received_at")[:limit])
    rows = []
    for event in reversed(list(events)):
        intent = (json.loads(event.body).get("data") or {}).get("object") or {}
        error = intent.get("last_payment_error") or {}
        rows.append({
            "created": timestamp(event.created, seconds=True),
            "type": event.type,
            "status": intent_status_label(intent.get("status") or ""),
            "error": error_in_words(error_code=error.get("code") or "",
                                    decline_code=error.get("decline_code") or "",
                                    message=error.get("message") or "") or EMPTY,
            "id": event.id,
            "url": reverse("admin:payments_webhookevent_change", args=[event.pk]),
        })
    return rows
