"""What the payments admin's pages share: amounts, times, cards and Stripe's codes
formatted for narrow columns, links between the admin's pages, the date filter and the
read-only mixins.

Amounts are stored in minor units; every amount shown in the admin goes through the
``money`` filter so the admin reads like the shop ("145.00 EUR"), never "14500" / "eur".
Every time is shown one way, in the site's time zone (``TIME_ZONE``) and naming it:
``timestamp`` ("29 Nov 2026 15:04 CET"). Every code is shown in the words of
``payments.stripe.facts``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Protocol

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR, SEARCH_VAR, ChangeList
from django.core.cache import cache
from django.db.models import CharField, Q, Value
from django.db.models.functions import Cast, Concat, Lower, LPad
from django.http import HttpRequest, HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.dates import MONTHS_3
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.utils.text import Truncator, smart_split, unescape_string_literal
from django.utils.timesince import timesince
from django.utils.translation import gettext, pgettext

from payments.checkout.models import PaymentAttempt, PaymentEvent
from payments.monitoring.selectors import period_bounds
from payments.shop.limits import currency_refusal_warning
from payments.shop.models import Order
from payments.shop.selectors import product_currencies_refused
from payments.stripe.facts import card_brand_label, code_label
from payments.templatetags.money import money

# Non-breaking spaces keep "145.00 EUR" or "visa •••• 4242 (US)" on one line in narrow
# columns (the CSP forbids inline styles, and one character is simpler than a stylesheet).
NBSP = "\u00a0"
WORD_JOINER = "\u2060"  # no line break here, and nothing visible
EMPTY = admin.site.empty_value_display  # readonly fields print a None as "None"
# A column of amounts sorts by currency, then amount: by the minor units alone, 4,500 JPY
# came before 77.97 EUR and 39.98 USD between two euro amounts (an accountant). Orders
# and attempts; the incidents keep their indexed sort by amount (bench/admin.py).
AMOUNT_ORDERING = Concat("currency", LPad(Cast("amount", CharField()), 20, Value("0")),
                         output_field=CharField())


def unbroken(text: str) -> str:
    return text.replace(" ", NBSP)


def money_unbroken(amount: int, currency: str) -> str:
    return unbroken(money(amount, currency))


def timestamp(value: datetime | None, *, seconds: bool = False) -> str:
    """"29 Nov 2026 15:04 CET": the one way the admin shows a time, in the site's time zone
    and naming it; without hyphens, where a browser may break a line.

    Django's ``date_format(…, "j M Y H:i T")`` written out: a list shows two or three
    per row, and the generic formatter cost ~0.1 ms each (bench/admin.py)."""
    if value is None:
        return EMPTY
    local = timezone.localtime(value)  # its fold tells the hour that happens twice apart
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if seconds:
        clock += f":{local.second:02d}"
    return unbroken(f"{local.day} {MONTHS_3[local.month].title()} {local.year:04d} {clock} "
                    f"{local.tzname()}")


def age(value: datetime | None) -> str:
    """"3 hours" (the largest unit only): how long ago, at a glance."""
    if value is None:
        return EMPTY
    return unbroken(timesince(value, depth=1))


def decimal_short(value: float) -> str:
    """"0.8" ("0,8" in German and French): one decimal, rounded, in the reader's number
    format (number_format alone cuts 0.86 to 0.8)."""
    return number_format(Decimal(f"{value:.1f}"), decimal_pos=1)


def duration_short(delta: timedelta | None) -> str:
    """"0.8 s" ("0,8 s" in German), "42 s", "3 min 5 s", "2 h 10 min"."""
    if delta is None:
        return EMPTY
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 0.1:
        return unbroken(f"< {decimal_short(0.1)} s")
    if seconds < 10:
        return unbroken(f"{decimal_short(seconds)} s")
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
    """"Visa •••• 4242 (US)", as the Stripe Dashboard shows a card."""
    if not (payment.card_brand or payment.card_last4):
        return EMPTY
    brand = card_brand_label(brand=payment.card_brand) if payment.card_brand else ""
    label = f"{brand} •••• {payment.card_last4}".strip()
    return unbroken(f"{label} ({payment.card_country})" if payment.card_country else label)


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
    """The decline code (the more specific), else the error code, in words
    (``facts.code_label``); the codes themselves in the tooltip."""
    code = decline_code or error_code
    if not code:
        return EMPTY
    codes = " / ".join(part for part in (error_code, decline_code) if part)
    return format_html('<span title="{}">{}</span>', codes, code_label(code=code))


def code_short(code: str) -> str:
    """One of Stripe's codes in words, the code itself in the tooltip; "—" for none."""
    if not code:
        return EMPTY
    return format_html('<span title="{}">{}</span>', code, code_label(code=code))


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


def query_moments_in_utc(query: QueryDict) -> QueryDict:
    """The address's moments (``first_seen_at__gte=2026-12-06T10:00:00-23:59``) in UTC:
    Python takes any offset under a day, PostgreSQL none beyond ±15:59, and a moment is
    the same moment in UTC. The search box is left as typed."""
    moments = query.copy()
    for key, values in query.lists():
        if key == SEARCH_VAR:
            continue
        moments.setlist(key, [_moment_in_utc(value) for value in values])
    return moments


def _moment_in_utc(value: str) -> str:
    try:
        moment = parse_datetime(value)
    except ValueError:  # well formed, not a date: "2026-13-45T10:00"
        return value
    if moment is None or moment.tzinfo is None:
        return value
    try:
        return moment.astimezone(UTC).isoformat()
    except OverflowError:  # "9999-12-31T23:00-05:00" is past year 9999 in UTC
        return "not a date"  # the list says so, as for any invalid date


# Every word of a search is a condition of its own: hundreds took PostgreSQL 100 s and
# 22 GB before the kernel killed it, and SQLite refused a thousand with a 500 (a review).
SEARCH_WORDS_AT_MOST = 10


def search_term_capped(request: HttpRequest, search_term: str) -> str:
    """The search with each word once and at most ``SEARCH_WORDS_AT_MOST`` words; when
    words were left out, a message on the list says which."""
    words: list[str] = []
    for word in smart_split(search_term):
        if word not in words:  # the same word again finds nothing more
            words.append(word)
    if len(words) > SEARCH_WORDS_AT_MOST:
        filter_warning(request, gettext(
            "A search uses its first %(count)s different words; the rest (from "
            "“%(word)s”) were left out.") % {"count": SEARCH_WORDS_AT_MOST,
                                               "word": words[SEARCH_WORDS_AT_MOST]})
    return " ".join(words[:SEARCH_WORDS_AT_MOST])


class FriendlyFiltersMixin:
    """A filter or search the database cannot take (a date that is not a date, a NUL
    character, which PostgreSQL refuses in text, a time zone offset it refuses) shows the
    whole list with a message, or is read in UTC, instead of Django's "Database error"
    page or a 500. A page past the end (an ops person on page 2 after resolving rows)
    shows the first page with the same filters."""

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        return super().get_search_results(request, queryset,
                                          search_term_capped(request, search_term))

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if any("\x00" in key or "\x00" in value
               for key, values in request.GET.lists() for value in values):
            return self.changelist_unfiltered(request)
        try:
            response = super().changelist_view(request, extra_context)
        except OverflowError:  # SQLite: a number past 64 bits (?id__in=999…9)
            return self.changelist_unfiltered(request)
        if self._refused(request, response) and PAGE_VAR in request.GET:
            query = request.GET.copy()  # perhaps only the page: the list without it
            page = query.pop(PAGE_VAR)[-1]
            request.GET = query
            try:
                refused = self._refused(request, super().changelist_view(request,
                                                                         extra_context))
            except OverflowError:
                refused = True
            if not refused:
                messages.info(request, gettext("The list has no page “%(page)s” now; here is "
                                               "its first page.") % {"page": page[:20]})
                return HttpResponseRedirect(f"{request.path}?{query.urlencode()}" if query
                                            else request.path)
        if self._refused(request, response):
            return self.changelist_unfiltered(request)
        return response

    @staticmethod
    def _refused(request: HttpRequest, response) -> bool:
        """Django's answer to a filter it could not apply: a redirect to ``?e=1``."""
        return isinstance(response, HttpResponseRedirect) and \
            response["Location"] == f"{request.path}?{ERROR_FLAG}=1"

    def get_changelist_instance(self, request: HttpRequest):
        request.GET = query_moments_in_utc(request.GET)
        return super().get_changelist_instance(request)

    def changelist_rows(self, request: HttpRequest, *, changelist_url: str):
        """What the list shows with the request's filters and search, every page of it
        (an export's rows); the list without them, said, when they cannot be applied
        (a NUL in the address, a date that is not one, a number too large)."""
        if any("\x00" in key or "\x00" in value
               for key, values in request.GET.lists() for value in values):
            return self.changelist_unfiltered(request, path=changelist_url)
        try:
            return self.get_changelist_instance(request).get_queryset(request)
        except (IncorrectLookupParameters, OverflowError):  # OverflowError: as the list's
            return self.changelist_unfiltered(request, path=changelist_url)

    def changelist_unfiltered(self, request: HttpRequest, *, path: str = ""
                              ) -> HttpResponseRedirect:
        messages.warning(request, gettext("A filter or search in the address was not valid "
                                          "(a date that is not a date, say), so the list "
                                          "shows everything."))
        return HttpResponseRedirect(path or request.path)


def url_of_this_site(request: HttpRequest, url: str) -> str:
    """``url`` if it leads back to this site (a page an action came from), else ""."""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return ""


def currency_refusals_warn(request: HttpRequest) -> None:
    """Say on a staff page that Stripe refused a currency products are priced in: the
    shop stops offering it, and nothing in the admin said so until a product was saved."""
    for currency in product_currencies_refused():
        messages.warning(request, currency_refusal_warning(currency=currency))


# --- the date filter -------------------------------------------------------------------

def range_from() -> str:
    """A range filter's first field; "To" alone is a mail's addressee in the catalogs."""
    return pgettext("a range's start", "From")


def range_to() -> str:
    return pgettext("a range's end", "To")


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
    from a quick range or a dashboard link); None for anything else."""
    try:
        # A day first: Python reads "2026-11-29" as a datetime too (midnight).
        return parse_date(value) or parse_datetime(value)
    except ValueError:  # well formed, not a date: "2026-13-45"
        return None


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class DateRangeFilter(admin.DateFieldListFilter):
    """The admin's date filter, one meaning for every list and the dashboard: quick ranges
    (today; the past 7 days, today and the 6 before, as the dashboard's week; this month;
    this year) and a from/to pair of days typed by hand, both days included
    (``<field>__gte`` / ``__lte``). A value that is not a date is left out, with a
    message; a moment is read in UTC, whatever offset it names."""

    template = "admin/payments/filter_range.html"
    title_text = ""  # the field's name unless a subclass says

    def __init__(self, field, request, params, model, model_admin, field_path) -> None:
        self.lookup_kwarg_upto = f"{field_path}__lte"
        super().__init__(field, request, params, model, model_admin, field_path)
        since_week, until = period_bounds(days=7, now=timezone.now())
        today = until - timedelta(days=1)
        next_month = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
        self.links = (
            (gettext("Any date"), {}),
            (gettext("Today"), {self.lookup_kwarg_since: today, self.lookup_kwarg_until: until}),
            (gettext("Past 7 days"), {self.lookup_kwarg_since: since_week,
                                      self.lookup_kwarg_until: until}),
            (gettext("This month"), {self.lookup_kwarg_since: today.replace(day=1),
                                     self.lookup_kwarg_until: next_month}),
            (gettext("This year"), {
                self.lookup_kwarg_since: today.replace(month=1, day=1),
                self.lookup_kwarg_until: today.replace(year=today.year + 1, month=1, day=1)}),
        )
        self.title = self.title_text or str(field.verbose_name)
        self.bounds: dict[str, date | datetime] = {}
        for key, values in list(self.used_parameters.items()):
            if key.endswith("__isnull"):
                continue
            value = day_or_moment(values[-1])
            if value is None or value.year >= 9999 or value.year < 2:
                del self.used_parameters[key]
                filter_warning(request, gettext(
                    "The %(filter)s date “%(value)s” was not valid (a day is written "
                    "2026-11-29), so the list ignores it.") % {"filter": self.title,
                                                               "value": values[-1]})
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
            queryset = queryset.filter(**{key: value.astimezone(UTC)})
        if self.field.null and self.lookup_kwarg_isnull in self.used_parameters:
            queryset = queryset.filter(**{self.lookup_kwarg_isnull:
                                          self.used_parameters[self.lookup_kwarg_isnull][-1]
                                          in ("True", "true", "1")})
        return queryset

    def choices(self, changelist):
        def shown(key: str) -> str:
            value = self.bounds.get(key)
            if isinstance(value, datetime):
                value = timezone.localtime(value).date() if timezone.is_aware(value) \
                    else value.date()
            return value.isoformat() if value else ""

        self.form_hidden = hidden_params(changelist, leaving=set(self.expected_parameters()))
        self.form_fields = [
            (self.lookup_kwarg_since, range_from(), shown(self.lookup_kwarg_since)),
            (self.lookup_kwarg_upto, range_to(), shown(self.lookup_kwarg_upto))]
        self.form_type = "date"
        for choice, (_, link) in zip(super().choices(changelist), self.links, strict=True):
            # Django compares the address's text with the link's; the list reads the
            # address's moments in UTC (query_moments_in_utc), so compare moments.
            yield {**choice, "selected": self._link_chosen(link)}

    def _link_chosen(self, link: dict) -> bool:
        if set(link) != set(self.date_params):
            return False
        return all(day_or_moment(self.date_params[key]) == value
                   for key, value in link.items())


# --- the values a filter offers ------------------------------------------------------

PRESENT_VALUES_SECONDS = 60


def values_present_cache_key(table: str, field_name: str) -> str:
    return f"payments:admin:present:{table}:{field_name}"


def values_present(queryset, field_name: str, *, limit: int = 100) -> list[str]:
    """The non-empty values of ``field_name`` in ``queryset``'s rows, for a filter's
    choices (a merchant picks rather than types). A ``DISTINCT`` over every row costs
    ~100 ms per 200,000 rows and seconds at 10,000,000 (bench/admin.py), on every page
    and for each such filter: the values are kept a minute in the shared cache."""
    key = values_present_cache_key(queryset.model._meta.db_table, field_name)
    present = cache.get(key)
    if present is None:
        present = list(queryset.exclude(**{field_name: ""}).order_by(field_name)
                       .values_list(field_name, flat=True).distinct()[:limit])
        cache.set(key, present, PRESENT_VALUES_SECONDS)
    return present


# --- search --------------------------------------------------------------------------

def search_lookup(field: str) -> str:
    """Django's prefixes: ``=`` exact, ``^`` starts with; otherwise contains (any case)."""
    if field.startswith("="):
        return f"{field[1:]}__iexact"
    if field.startswith("^"):
        return f"{field[1:]}__istartswith"
    return f"{field}__icontains"


SEARCH_IDS_AT_MOST = 1000  # matches read as a list of ids (one more query per search)
LAST4 = re.compile(r"[0-9]{4}")


class IndexedSearchMixin:
    """Django's search, with the same matches, that an index can serve. Django writes one
    ``WHERE`` with every search field ORed, across the joined tables (an incident's email
    OR its order's reference): no index serves an OR across tables, so every search read
    every row (1.6 s at 400,000 incidents, bench/admin.py). Here each field is its own
    ``SELECT`` of the matching ids, which its own index serves (pg_trgm on PostgreSQL,
    migration 0050), and the list keeps the ids of any of them; the words of a search
    must all match, as in Django. Never a duplicate row, so never a ``DISTINCT``.

    Two kinds of word mean one thing to a merchant, and are looked up exactly (a B-tree,
    migration 0065) rather than by trigrams, which cannot tell apart the thousands of
    addresses sharing a name or a domain (0.9 s at 10,000,000 orders):
    - an address (has an "@"): the rows with that address, in any case
      (``search_email_fields``); only when none has it, the addresses containing it
      ("schmidt@", "@acme-corp.com");
    - four digits: the cards ending in them (``search_last4_fields``), nothing else."""

    search_email_fields: list[str] = []  # each also in search_fields
    search_last4_fields: list[str] = []

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        search_fields = [str(field) for field in self.get_search_fields(request)]
        if not (search_fields and search_term):
            return queryset, False
        rows = queryset.model._base_manager.order_by()
        each_word = []
        for word in smart_split(search_term_capped(request, search_term)):
            if word.startswith(('"', "'")) and word[0] == word[-1]:
                word = unescape_string_literal(word)
            each_word.append(self.search_word_matches(rows, search_fields, word))
        if not each_word:  # blanks only
            return queryset, False
        # Side by side, not nested: eleven nested words were a RecursionError (a 500)
        # on PostgreSQL and "Expression tree is too large" on SQLite (attacker).
        matching = each_word[0] if len(each_word) == 1 else rows.filter(
            *[Q(pk__in=word_matches) for word_matches in each_word]).values("pk")
        # A search usually finds a few rows: their ids, read first, make the list a lookup
        # by key. As a subquery the planner cannot know it is small, and walks the list's
        # order index across millions of rows for them (2.7 s for an email's 200 orders of
        # 10,000,000, bench/admin.py). Many matches keep the subquery.
        found = list(matching.values_list("pk", flat=True)[:SEARCH_IDS_AT_MOST + 1])
        if len(found) <= SEARCH_IDS_AT_MOST:
            return queryset.filter(pk__in=found), False
        return queryset.filter(pk__in=matching), False

    def search_word_matches(self, rows, search_fields: list[str], word: str):
        """The ids of the rows one word finds, as a query."""
        if self.search_last4_fields and LAST4.fullmatch(word):
            return _ids_union([rows.filter(**{field: word}) for field in
                               self.search_last4_fields])
        if self.search_email_fields and "@" in word:
            exact = self.search_email_exact(rows, word)
            if exact.exists():  # one query, on the index of LOWER(email)
                return exact
            search_fields = self.search_email_fields
        return _ids_union([rows.filter(**{search_lookup(field): word})
                           for field in search_fields])

    def search_email_exact(self, rows, address: str):
        return _ids_union([rows.alias(search_email=Lower(field))
                           .filter(search_email=address.lower())
                           for field in self.search_email_fields])


def _ids_union(querysets: list):
    first, *rest = [rows.values("pk") for rows in querysets]
    return first.union(*rest) if rest else first


class RowLinksChangeList(ChangeList):
    """Each row's link keeps the list's filters (``?_changelist_filters=…``), as Django's
    do, worked out once per page: Django merges them into each row's address, resolving
    that address as a URL, row by row."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Read by the rows' links only (the page's own links take the view's context).
        self.row_link_query, self.preserved_filters = self.preserved_filters, ""

    def url_for_result(self, result) -> str:
        url = super().url_for_result(result)
        return f"{url}?{self.row_link_query}" if self.row_link_query else url


class QuickRowsMixin:
    """A list's rows as Django writes them, without the per-row costs that the incident
    list's 100 rows added up (bench/admin.py): each row's checkbox rendered through a form
    widget's template (~45 ms a page under load), each row's link resolved to keep the
    filters (``RowLinksChangeList``)."""

    def get_changelist(self, request: HttpRequest, **kwargs):
        return RowLinksChangeList

    def action_checkbox(self, obj) -> SafeString:
        label = format_html(gettext("Select this object for an action - {}"), str(obj))
        return format_html('<input type="checkbox" name="{}" value="{}" class="action-select" '
                           'aria-label="{}">', ACTION_CHECKBOX_NAME, str(obj.pk), label)


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
