"""What the payments admin's pages share: amounts, times, cards and Stripe's codes
formatted for narrow columns, links between the admin's pages, and the read-only mixins.

Amounts are stored in minor units; every amount shown in the admin goes through the
``money`` filter so the admin reads like the shop ("145.00 EUR"), never "14500" / "eur".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from django.contrib import admin, messages
from django.contrib.admin.views.main import ERROR_FLAG
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.timesince import timesince

from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.shop.models import Order
from payments.templatetags.money import money

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
