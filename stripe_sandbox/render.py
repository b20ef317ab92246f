"""Stripe JSON for the sandbox's records, shaped as API version 2026-08-26.dahlia.

Key sets follow Stripe's own fixtures (stripe/openapi ``fixtures3.json``) and
types follow stripe-python 15's resource annotations; the fidelity tests check
both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from .records import (
    BalanceTransaction,
    Charge,
    Customer,
    Event,
    PaymentIntent,
    PaymentMethod,
    WebhookEndpoint,
    balance_transaction_id,
)


class _Clock(Protocol):
    def now(self) -> int: ...


class Store(Protocol):
    """What rendering reads beyond the record itself. ``state.Sandbox`` is one; a
    Protocol rather than an import, so ``state`` (which renders events) and this
    module do not import each other."""

    @property
    def payment_methods(self) -> Mapping[str, PaymentMethod]: ...

    @property
    def clock(self) -> _Clock: ...

API_VERSION = "2026-08-26.dahlia"
ACCOUNT_ID = "acct_1SandboxLocal0000"

_NULL_ADDRESS = {"city": None, "country": None, "line1": None, "line2": None,
                 "postal_code": None, "state": None}


def account() -> dict[str, Any]:
    return {
        "id": ACCOUNT_ID, "object": "account", "business_profile": {
            "annual_revenue": None, "estimated_worker_count": None, "mcc": None,
            "minority_owned_business_designation": None, "name": "Stripe sandbox",
            "product_description": None, "support_address": None, "support_email": None,
            "support_phone": None, "support_url": None, "url": None},
        "business_type": None, "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True, "controller": {"type": "account"}, "country": "US",
        "created": 1_700_000_000, "default_currency": "usd", "details_submitted": True,
        "email": "sandbox@example.com",
        "external_accounts": {"object": "list", "data": [], "has_more": False,
                              "url": f"/v1/accounts/{ACCOUNT_ID}/external_accounts"},
        "future_requirements": _requirements(), "metadata": {}, "payouts_enabled": True,
        "requirements": _requirements(), "settings": None,
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None}, "type": "standard",
    }


def _requirements() -> dict[str, Any]:
    return {"alternatives": [], "current_deadline": None, "currently_due": [],
            "disabled_reason": None, "errors": [], "eventually_due": [], "past_due": [],
            "pending_verification": []}


def customer(record: Customer) -> dict[str, Any]:
    return {
        "id": record.id, "object": "customer", "address": None, "balance": 0,
        "created": record.created, "currency": None, "default_source": None,
        "delinquent": False, "description": record.description, "discount": None,
        "email": record.email, "invoice_prefix": record.id[4:12].upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None,
                             "footer": None, "rendering_options": None},
        "livemode": False, "metadata": dict(record.metadata), "name": record.name,
        "next_invoice_sequence": 1, "phone": record.phone, "preferred_locales": [],
        "shipping": None, "tax_exempt": "none", "test_clock": None,
    }


def billing_details(details: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": {**_NULL_ADDRESS, **details.get("address", {})},
        "email": details.get("email"), "name": details.get("name"),
        "phone": details.get("phone"), "tax_id": None,
    }


def _fingerprint(number: str) -> str:
    return ("fp" + number[-8:] + number[:6])[:16]


def payment_method(record: PaymentMethod) -> dict[str, Any]:
    card = record.card
    return {
        "id": record.id, "object": "payment_method", "allow_redisplay": "unspecified",
        "billing_details": billing_details(record.billing_details),
        "card": {
            "brand": card.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None,
                       "cvc_check": "pass"},
            "country": card.country, "display_brand": card.brand,
            "exp_month": record.exp_month, "exp_year": record.exp_year,
            "fingerprint": _fingerprint(card.number), "funding": card.funding,
            "generated_from": None, "last4": record.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True}, "wallet": None,
        },
        "created": record.created, "customer": record.customer, "customer_account": None,
        "livemode": False, "metadata": dict(record.metadata), "type": "card",
    }


def charge(record: Charge, sandbox: Store) -> dict[str, Any]:
    method = sandbox.payment_methods[record.payment_method]
    card = method.card
    if record.succeeded:
        outcome = {"advice_code": None, "network_advice_code": None,
                   "network_decline_code": None, "network_status": "approved_by_network",
                   "reason": None, "risk_level": "normal", "risk_score": 20,
                   "seller_message": "Payment complete.", "type": "authorized"}
    else:
        outcome = {"advice_code": "try_again_later" if record.decline_code == "insufficient_funds"
                   else "do_not_try_again", "network_advice_code": None,
                   "network_decline_code": None, "network_status": "declined_by_network",
                   "reason": record.decline_code, "risk_level": "normal", "risk_score": 20,
                   "seller_message": "The bank did not return any further details with this "
                                     "decline.", "type": "issuer_declined"}
    return {
        "id": record.id, "object": "charge", "amount": record.amount,
        "amount_captured": record.amount if record.captured else 0, "amount_refunded": 0,
        "application": None, "application_fee": None, "application_fee_amount": None,
        "balance_transaction": balance_transaction_id(record.id) if record.captured else None,
        "billing_details": billing_details(method.billing_details),
        "calculated_statement_descriptor": "SANDBOX", "captured": record.captured,
        "created": record.created, "currency": record.currency, "customer": record.customer,
        "description": record.description, "disputed": False,
        "failure_balance_transaction": None, "failure_code": record.failure_code,
        "failure_message": record.failure_message, "fraud_details": {}, "livemode": False,
        "metadata": dict(record.metadata), "on_behalf_of": None, "outcome": outcome,
        "paid": record.succeeded, "payment_intent": record.payment_intent,
        "payment_method": record.payment_method,
        "payment_method_details": {"type": "card", "card": {
            "amount_authorized": record.amount if record.succeeded else None,
            "authorization_code": "123456" if record.succeeded else None,
            "brand": card.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None,
                       "cvc_check": "pass"},
            "country": card.country, "exp_month": method.exp_month,
            "exp_year": method.exp_year, "extended_authorization": {"status": "disabled"},
            "fingerprint": _fingerprint(card.number), "funding": card.funding,
            "incremental_authorization": {"status": "unavailable"}, "installments": None,
            "last4": method.last4, "mandate": None,
            "multicapture": {"status": "unavailable"}, "network": card.brand,
            "network_token": {"used": False}, "network_transaction_id": None,
            "overcapture": {"maximum_amount_capturable": record.amount,
                            "status": "unavailable"},
            "regulated_status": "unregulated",
            "three_d_secure": _three_d_secure() if record.three_d_secure else None,
            "transaction_link_id": None, "wallet": None,
        }},
        "receipt_email": record.receipt_email, "receipt_number": None,
        "receipt_url": None, "refunded": False,
        "refunds": {"object": "list", "data": [], "has_more": False,
                    "url": f"/v1/charges/{record.id}/refunds"},
        "review": None, "shipping": None, "source": None, "source_transfer": None,
        "statement_descriptor": None, "statement_descriptor_suffix": None,
        "status": "succeeded" if record.succeeded else "failed",
        "transfer_data": None, "transfer_group": None,
    }


def _three_d_secure() -> dict[str, Any]:
    return {"authentication_flow": "challenge", "electronic_commerce_indicator": "05",
            "exemption_indicator": None, "result": "authenticated", "result_reason": None,
            "transaction_id": None, "version": "2.2.0"}


def payment_intent(record: PaymentIntent) -> dict[str, Any]:
    requires_action = record.status == "requires_action"
    return {
        "id": record.id, "object": "payment_intent", "amount": record.amount,
        "amount_capturable": record.amount if record.status == "requires_capture" else 0,
        "amount_details": {"tip": {}}, "amount_received": record.amount_received,
        "application": None, "application_fee_amount": None,
        "automatic_payment_methods": None, "canceled_at": record.canceled_at,
        "cancellation_reason": record.cancellation_reason,
        "capture_method": record.capture_method, "client_secret": record.client_secret,
        "confirmation_method": record.confirmation_method, "created": record.created,
        "currency": record.currency, "customer": record.customer, "customer_account": None,
        "description": record.description, "excluded_payment_method_types": None,
        "last_payment_error": record.last_payment_error, "latest_charge": record.latest_charge,
        "livemode": False, "managed_payments": None, "metadata": dict(record.metadata),
        "next_action": {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": "",
                               "source": "src_" + record.id[3:]},
        } if requires_action else None,
        "on_behalf_of": None, "payment_method": record.payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {
            "installments": None, "mandate_options": None, "network": None,
            "request_three_d_secure": "automatic"}},
        "payment_method_types": list(record.payment_method_types), "processing": None,
        "receipt_email": record.receipt_email, "review": None,
        "setup_future_usage": record.setup_future_usage, "shipping": None, "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": record.statement_descriptor_suffix,
        "status": record.status, "transfer_data": None, "transfer_group": None,
    }


# What Stripe answers to a publishable key (Stripe.js's retrieve with the client secret):
# the properties the API reference marks "retrievable with publishable key" on the
# PaymentIntent object (docs.stripe.com/api/payment_intents/object; its retrieve page: "If
# you retrieve a PaymentIntent with a publishable key, it only returns a subset of
# properties"). Not metadata, customer, latest_charge, amount_received, …
PAYMENT_INTENT_PUBLISHABLE_FIELDS = (
    "id", "object", "amount", "automatic_payment_methods", "canceled_at",
    "cancellation_reason", "capture_method", "client_secret", "confirmation_method",
    "created", "currency", "description", "last_payment_error", "livemode", "next_action",
    "payment_method", "payment_method_types", "processing", "receipt_email",
    "setup_future_usage", "shipping", "status",
)


def payment_intent_publishable(record: PaymentIntent) -> dict[str, Any]:
    """A PaymentIntent as a publishable key reads it."""
    whole = payment_intent(record)
    return {name: whole[name] for name in PAYMENT_INTENT_PUBLISHABLE_FIELDS}


# Assumptions (no source gives them for test mode): Stripe's standard US card
# pricing (2.9% + 30 minor units, never more than the amount) and a two-day
# payout delay; funds settle in the charge's currency (no exchange_rate).
CARD_FEE_PER_MILLE = 29  # 2.9 %
CARD_FEE_FIXED = 30
FUNDS_DELAY_SECONDS = 2 * 86400


def card_fee(amount: int) -> int:
    """Integer arithmetic, halves rounded up (money is never a float here)."""
    return min(amount, (amount * CARD_FEE_PER_MILLE + 500) // 1000 + CARD_FEE_FIXED)


def balance_transaction(record: BalanceTransaction, sandbox: Store) -> dict[str, Any]:
    """Shaped per stripe-python 15's ``BalanceTransaction`` and Stripe's fixture."""
    charge = record.charge
    fee = card_fee(charge.amount)
    available_on = charge.created + FUNDS_DELAY_SECONDS
    return {
        "id": record.id, "object": "balance_transaction", "amount": charge.amount,
        "available_on": available_on, "balance_type": "payments", "created": charge.created,
        "currency": charge.currency, "description": charge.description,
        "exchange_rate": None, "fee": fee,
        "fee_details": [{"amount": fee, "application": None, "currency": charge.currency,
                         "description": "Stripe processing fees", "type": "stripe_fee"}],
        "net": charge.amount - fee, "reporting_category": "charge", "source": charge.id,
        "status": "available" if sandbox.clock.now() >= available_on else "pending",
        "type": "charge",
    }


def event(record: Event, sandbox: Store | None = None) -> dict[str, Any]:
    obj = record.object
    if not isinstance(obj, dict):  # seeded history keeps a record, rendered now
        assert sandbox is not None, "rendering a seeded event needs the sandbox"
        obj = any_object(obj, sandbox)
    return {
        "id": record.id, "object": "event", "api_version": API_VERSION,
        "context": None, "created": record.created, "data": {"object": obj},
        "livemode": False, "pending_webhooks": record.pending_webhooks,
        "request": {"id": record.request_id, "idempotency_key": record.idempotency_key},
        "type": record.type,
    }


def webhook_endpoint(record: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    body = {
        "id": record.id, "object": "webhook_endpoint", "api_version": record.api_version,
        "application": None, "created": record.created, "description": record.description,
        "enabled_events": list(record.enabled_events), "livemode": False,
        "metadata": dict(record.metadata), "status": "enabled", "url": record.url,
    }
    if with_secret:  # Stripe shows the signing secret only in the creation response.
        body["secret"] = record.secret
    return body


def any_object(obj: Any, sandbox: Store) -> Any:
    """Stripe JSON for any stored record; anything else (already JSON) as it is."""
    if isinstance(obj, PaymentIntent):
        return payment_intent(obj)
    if isinstance(obj, PaymentMethod):
        return payment_method(obj)
    if isinstance(obj, Charge):
        return charge(obj, sandbox)
    if isinstance(obj, Customer):
        return customer(obj)
    if isinstance(obj, WebhookEndpoint):
        return webhook_endpoint(obj)
    if isinstance(obj, BalanceTransaction):
        return balance_transaction(obj, sandbox)
    return obj
