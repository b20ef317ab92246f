"""What Stripe does that this product relies on, each fact once.

Every other module takes these from here: the hour a manually confirmed intent waits
for its second confirm, how long Stripe keeps idempotency keys, which error codes mean
which kind of failed authentication, Stripe's codes in words, the currencies without
minor units, the least and most Stripe charges in each, the card brands' names. Where
each fact comes from is written beside it (Stripe's documentation or stripe-python 15).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache

from babel.core import get_global
from django.db import models
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

# --- time ------------------------------------------------------------------------------

# "Migrate your basic card integration": a manually confirmed intent that is not
# confirmed again within one hour of passing the bank's challenge falls back to
# requires_payment_method, and the sale is lost. Stripe sends no event when it happens.
CONFIRMATION_WINDOW = timedelta(hours=1)

# docs.stripe.com/api/idempotent_requests: keys are removed once at least 24 hours old.
IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=24)


# docs.stripe.com/api/events: events are retrievable (and listed) for 30 days; webhook
# deliveries are retried for up to 3 days. An event id older than that never comes again
# from Stripe, so its stored row is no longer needed to tell a repeat.
EVENTS_LISTED_FOR = timedelta(days=30)

# docs.stripe.com/rate-limits: an endpoint (a named operation: every
# GET /v1/payment_intents/{id} is one) with a limit of its own, beside the account's and
# the other endpoints' (settings.STRIPE_RATE_LIMIT_PER_SECOND and _PER_ENDPOINT). Over a
# limit Stripe answers 429 (code rate_limit).
ENDPOINT_RATE_LIMITS = {"GET /v1/payment_intents/search": 20}  # "Search API: 20 reads/s"


def confirmation_expires_at(*, passed_challenge_at: datetime | None) -> datetime | None:
    """When Stripe fails a payment that passed the bank's challenge at
    ``passed_challenge_at`` and was not confirmed again: the one expiry rule, used by the
    dashboard, the incident list and page, the CSV and the ops mail."""
    if passed_challenge_at is None:
        return None
    return passed_challenge_at + CONFIRMATION_WINDOW


# --- failed authentication -------------------------------------------------------------

class FailureKind(models.TextChoices):
    """How a payment went wrong. The first five are about 3-D Secure, the focus: three as
    Stripe reports them (``last_payment_error``), two as our monitoring sees an intent
    wait past its threshold. A card decline (the bank said no, for a reason other than
    authentication) completes the failure mix; nothing in it is for ops to act on."""

    REQUIRES_ACTION_NOT_HANDLED = "requires_action_not_handled", _("3-D Secure not handled")
    AUTHENTICATION_FAILED = "authentication_failed", _("Authentication failed")
    ACTION_ABANDONED = "action_abandoned", _("Left at the bank's challenge")
    CONFIRMATION_ABANDONED = "confirmation_abandoned", _("Authenticated, never confirmed")
    EXPIRED = "expired", _("Expired unconfirmed")
    CARD_DECLINED = "card_declined", _("Card declined")


# last_payment_error of a payment the old guide's flow refused (``error_on_requires_action``):
# code authentication_required with decline_code authentication_not_handled; the Dashboard
# and Stripe's migration guide call these "requires_action_not_handled", which Stripe may
# also send as the code itself.
NOT_HANDLED_CODES = frozenset({"requires_action_not_handled"})
NOT_HANDLED_DECLINES = frozenset({"authentication_not_handled"})
# The shopper failed (or canceled) the bank's challenge.
AUTHENTICATION_FAILED_CODES = frozenset({"payment_intent_authentication_failure"})
# The hour ran out (test cards and the sandbox report it so).
EXPIRED_CODES = frozenset({"payment_intent_payment_attempt_expired"})
# docs.stripe.com/error-codes: a card_error other than authentication: the bank declined
# (card_declined with its decline_code, e.g. insufficient_funds), or refused the card's
# details (expired, wrong number or security code), or failed processing it.
DECLINE_CODES = frozenset({"card_declined", "expired_card", "incorrect_cvc", "invalid_cvc",
                           "incorrect_number", "invalid_number", "invalid_expiry_month",
                           "invalid_expiry_year", "incorrect_zip", "processing_error",
                           "card_decline_rate_limit_exceeded"})

# A failure is what Stripe or the bank refused, or what a shopper abandoned at the
# challenge, out of the payments that asked for authentication. A payment that passed
# the challenge and then waits for our confirm authenticated fine: it counts only once
# Stripe lets it expire. A card decline is no authentication failure.
AUTHENTICATION_FAILURES = (FailureKind.REQUIRES_ACTION_NOT_HANDLED,
                           FailureKind.AUTHENTICATION_FAILED, FailureKind.ACTION_ABANDONED,
                           FailureKind.EXPIRED)
# The kinds about 3-D Secure: the money at risk, the outcomes and ops actions are theirs.
THREE_D_SECURE_KINDS = tuple(kind for kind in FailureKind
                             if kind != FailureKind.CARD_DECLINED)


def failure_kind(*, error_code: str | None, decline_code: str | None, status: str
                 ) -> FailureKind | None:
    """The kind of failure an intent's ``last_payment_error`` (and its ``status``) stands
    for; None for none (or one we do not follow, such as an API error of ours)."""
    if error_code in NOT_HANDLED_CODES or decline_code in NOT_HANDLED_DECLINES:
        return FailureKind.REQUIRES_ACTION_NOT_HANDLED
    if error_code in AUTHENTICATION_FAILED_CODES:
        return FailureKind.AUTHENTICATION_FAILED
    if error_code in EXPIRED_CODES and status == "requires_payment_method":
        return FailureKind.EXPIRED
    if error_code in DECLINE_CODES and status == "requires_payment_method":
        return FailureKind.CARD_DECLINED
    return None


# --- events ------------------------------------------------------------------------------

# The events the product uses (README, Webhooks): webhook endpoints are subscribed to these
# and no others, and the events scan asks for these (Stripe's ``types[]``: at most 20).
WEBHOOK_EVENT_TYPES = ("payment_intent.requires_action", "payment_intent.payment_failed",
                       "payment_intent.succeeded", "payment_intent.canceled",
                       "payment_intent.processing")


# --- Stripe's codes in words -----------------------------------------------------------

# For merchants and ops (docs.stripe.com/declines/codes and /error-codes); anything else
# shows Stripe's own message. Translated where read (the admin, in the staff's language);
# the incidents' CSV writes them in English.
ERROR_WORDS = {
    "authentication_not_handled": _("Bank asked for 3-D Secure; checkout could not ask"),
    "authentication_required": _("Bank asked for 3-D Secure; checkout could not ask"),
    "payment_intent_authentication_failure": _("Failed the bank's check"),
    "payment_intent_payment_attempt_expired": _("Not confirmed within the hour"),
    "insufficient_funds": _("Insufficient funds"),
    "generic_decline": _("Declined by the bank"),
    "do_not_honor": _("Declined by the bank"),
    "card_declined": _("Declined by the bank"),
    "expired_card": _("Card expired"),
    "incorrect_cvc": _("Wrong security code"),
    "invalid_cvc": _("Wrong security code"),
    "incorrect_number": _("Wrong card number"),
    "lost_card": _("Card reported lost"),
    "stolen_card": _("Card reported stolen"),
    "fraudulent": _("Declined as suspected fraud"),
    "card_velocity_exceeded": _("Card limit reached"),
    "withdrawal_count_limit_exceeded": _("Card limit reached"),
    "processing_error": _("Processing error at the bank; worth a retry"),
    "try_again_later": _("Bank busy; worth a retry"),
    "card_not_supported": _("Card does not support this purchase"),
    "currency_not_supported": _("Card does not support this currency"),
    "resource_missing": _("Unknown to Stripe"),
}

# For shoppers, where Stripe's own message speaks to developers: the old guide's flow
# meeting 3-D Secure says "...requires authentication; use confirmCardPayment...".
SHOPPER_AUTHENTICATION_NOT_HANDLED = gettext_noop(
    "Your card requires authentication by your bank, which this checkout could not ask "
    "for. Please try another card.")


def code_label(*, code: str) -> str:
    """One of Stripe's codes as every page and mail names it: its words, else the code
    made readable ("try_again_later" reads "Try again later")."""
    return ERROR_WORDS.get(code) or code.replace("_", " ").capitalize()


def error_in_words(*, error_code: str, decline_code: str, message: str) -> str:
    """The decline code in words (the more specific), else the error code's, else
    Stripe's message, else the bare code; "" when the payment never failed."""
    for code in (decline_code, error_code):
        if code in ERROR_WORDS:
            return ERROR_WORDS[code]
    return message or decline_code or error_code


# docs.stripe.com/api/payment_intents/cancel: the reasons Stripe accepts.
CANCELLATION_REASONS = {"abandoned": _("Abandoned"),
                        "requested_by_customer": _("Requested by customer"),
                        "fraudulent": _("Fraudulent"), "duplicate": _("Duplicate")}

# docs.stripe.com/api/cards/object#card_object-brand (and PaymentMethod.card.brand).
CARD_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express",
               "discover": "Discover", "diners": "Diners Club", "jcb": "JCB",
               "unionpay": "UnionPay", "cartes_bancaires": "Cartes Bancaires",
               "eftpos_au": "eftpos Australia", "interac": "Interac", "link": "Link"}


def card_brand_label(*, brand: str) -> str:
    return CARD_BRANDS.get(brand, brand.replace("_", " ").title())


# --- money -----------------------------------------------------------------------------

# Stripe's amounts are integers in the currency's smallest unit (docs.stripe.com/currencies,
# "Minor units in API amounts"): none for the zero-decimal currencies, three digits for
# the three-decimal ones (whose amounts must end in 0), two for every other.
ZERO_DECIMAL = frozenset({"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg",
                          "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"})
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
# Two-decimal in the API, but charged in whole units only: amounts divisible by 100
# (docs.stripe.com/currencies#special-cases; support.stripe.com, "Deprecation of
# fractional ISK charges").
WHOLE_UNITS_ONLY = frozenset({"isk"})

# docs.stripe.com/currencies#minimum-and-maximum-charge-amounts: Stripe refuses a charge
# below its currency's minimum (400 amount_too_small), in major units as the table writes
# them (the same values in pronamic/memberpress app/data/minimum_charge_amounts.php, "Based
# on https://stripe.com/docs/currencies#minimum-and-maximum-charge-amounts"). For any other
# currency the minimum is the equivalent of 0.50 USD in the account's settlement currency,
# which needs the day's exchange rate: no check of ours for those.
CHARGE_MINIMUMS_MAJOR = {
    "usd": "0.50", "aed": "2.00", "aud": "0.50", "bgn": "1.00", "brl": "0.50", "cad": "0.50",
    "chf": "0.50", "czk": "15.00", "dkk": "2.50", "eur": "0.50", "gbp": "0.30", "hkd": "4.00",
    "huf": "175.00", "inr": "0.50", "jpy": "50", "mxn": "10", "myr": "2", "nok": "3.00",
    "nzd": "0.50", "pln": "2.00", "ron": "2.00", "sek": "3.00", "sgd": "0.50", "thb": "10",
}
# The same page: amounts have at most eight digits (99999999 minor units, 999,999.99 USD);
# above, Stripe answers 400 amount_too_large.
CHARGE_MAXIMUM = 99_999_999

_AMOUNT_TYPED = re.compile(r"^\s*([0-9]{1,10})(?:[.,]([0-9]{1,3}))?\s*$")


@cache
def currencies_in_use() -> frozenset[str]:
    """ISO 4217 codes some country pays with today (CLDR's, through Babel), lower case:
    "xyz" or the Deutsche Mark priced a product every shopper then failed to pay for,
    with Stripe's developer message ("Invalid currency"). Stripe takes most of these;
    which depends on the account, and its refusal of one reaches the shopper in the
    shop's words (``payments.checkout.services``)."""
    return frozenset(code.lower() for currencies in get_global("territory_currencies").values()
                     for code, _start, end, tender in currencies if end is None and tender)


def currency_exponent(*, currency: str) -> int:
    """How many digits of an amount are the minor unit's: 0 (JPY), 3 (KWD) or 2."""
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


# The minimums in minor units, each with its currency's exponent (JPY 50 is 50, CZK 15.00
# is 1500, HUF 175.00 is 17500): what an amount is compared with.
CHARGE_MINIMUMS = {currency: int(Decimal(major).scaleb(currency_exponent(currency=currency)))
                   for currency, major in CHARGE_MINIMUMS_MAJOR.items()}


def charge_minimum(*, currency: str) -> int | None:
    """The smallest amount (minor units) Stripe charges in ``currency``; None where the
    minimum depends on an exchange rate (a currency not in Stripe's table)."""
    return CHARGE_MINIMUMS.get(currency.lower())


def amount_unchargeable(*, amount: int, currency: str) -> str:
    """Why Stripe would refuse to charge this amount in this currency for its digits
    (empty if it would not): 5.125 KWD (5125) must be 5.120 or 5.130, 40.10 ISK whole.
    (The limits are the shop's to tell, in the reader's way of writing money:
    ``payments.shop.limits``.)"""
    currency = currency.lower()
    if currency in THREE_DECIMAL and amount % 10:
        return gettext("Amounts in %(currency)s must end in 0 (Stripe charges them to the "
                       "hundredth).") % {"currency": currency.upper()}
    if currency in WHOLE_UNITS_ONLY and amount % 100:
        return gettext("Amounts in %(currency)s must be whole (divisible by 100 in minor "
                       "units).") % {"currency": currency.upper()}
    return ""


def _money_parts(*, amount: int, currency: str) -> tuple[str, int, str]:
    digits = currency_exponent(currency=currency)
    whole, minor = divmod(abs(amount), 10 ** digits)
    return ("-" if amount < 0 else ""), whole, (f".{minor:0{digits}d}" if digits else "")


def major_units(*, amount: int, currency: str) -> str:
    """1000 → "10.00" ("500" for a zero-decimal currency, "5.120" for 5120 KWD): a number
    a spreadsheet reads."""
    sign, whole, fraction = _money_parts(amount=amount, currency=currency)
    return f"{sign}{whole}{fraction}"


def money_format(*, amount: int, currency: str) -> str:
    """Minor units as a price: (2599, "eur") → "25.99 EUR"; (500, "jpy") → "500 JPY";
    (5120, "kwd") → "5.120 KWD"."""
    sign, whole, fraction = _money_parts(amount=amount, currency=currency)
    return f"{sign}{whole:,}{fraction} {currency.upper()}"


def minor_units(*, typed: str, currency: str) -> int | None:
    """"10" → 1000, "10.5" or "10,50" → 1050 (a zero-decimal currency: "500" → 500; a
    three-decimal one: "5.12" → 5120); None for what is not an amount ("ten", "-5",
    "1,000.00", "1e9") or has more digits than the currency ("5.50" JPY, "10.505" EUR)."""
    match = _AMOUNT_TYPED.match(typed)
    if match is None:
        return None
    whole, fraction = match.groups()
    digits = currency_exponent(currency=currency)
    fraction = (fraction or "").rstrip("0")
    if len(fraction) > digits:
        return None
    return int(whole) * 10 ** digits + int(fraction.ljust(digits, "0") or "0")
