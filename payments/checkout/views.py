"""``/pay``: the JSON endpoint of Stripe's migration guide, thin.

It takes ``{payment_method_id}`` or ``{payment_intent_id}`` (and, from our own page, the
``order_reference`` it shows) and answers ``{requiresAction, clientSecret}``,
``{success}`` or ``{error}`` with a status code that says what happened. Every answer is
JSON; none is a 500.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, RawPostDataException
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from payments.checkout import errors, services
from payments.checkout.throttle import Limit, address_block, limits_hit
from payments.shop.orders import order_references
from payments.shop.sessions import session_fingerprint

PAY_IDS = {"payment_method_id": re.compile(r"pm_[A-Za-z0-9_]{1,200}"),
           "payment_intent_id": re.compile(r"pi_[A-Za-z0-9]{1,200}")}
ORDER_REFERENCE = re.compile(r"ord_[A-Za-z0-9_-]{1,40}")
PAY_MAX_BRACKETS = 32  # a /pay body is one flat object; see pay()

# Looked up along the error's class hierarchy, so a new subclass answers as its parent
# does; CheckoutError itself is the fallback.
PAY_ERROR_STATUS: dict[type[errors.CheckoutError], int] = {
    errors.CheckoutError: 400,
    errors.OrderNotFound: 404,
    errors.IntentNotFound: 404,
    errors.OrderNotPayable: 409,
    errors.OrderMismatch: 409,
    errors.OrderAmbiguous: 409,
    errors.PaymentInProgress: 409,
    errors.PaymentDeclined: 402,
    errors.PaymentNeedsCard: 402,
    errors.PaymentInvalid: 400,
    errors.PaymentRefusedForShop: 409,
    errors.PaymentRateLimited: 429,
    errors.PaymentUnavailable: 503,
}


@dataclass(frozen=True)
class PayRequest:
    payment_method_id: str | None
    payment_intent_id: str | None
    order_reference: str | None


def pay(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        response = _pay_error(_("Use POST with a JSON body."), 405)
        response["Allow"] = "POST"
        return response
    try:
        raw = request.body
    except RequestDataTooBig:
        return _pay_error(_("The request is too large."), 413)
    except RawPostDataException:  # a form's body, already read for the CSRF token
        return _pay_error(_("The request body must be JSON."), 400)
    # The guide's body is one flat object. Refuse deep nesting before parsing it: json's
    # C decoder would hit the recursion limit, and a RecursionError there leaves CPython
    # 3.11's recursion accounting off for the rest of the thread.
    if raw.count(b"[") + raw.count(b"{") > PAY_MAX_BRACKETS:
        return _pay_error(_("The request body must be JSON."), 400)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _pay_error(_("The request body must be JSON."), 400)
    parsed = _pay_request_parse(body)
    if isinstance(parsed, str):
        return _pay_error(parsed, 400)
    if _pay_rate_limited(request, after_bank=parsed.payment_intent_id is not None):
        return _pay_error(_("Too many payment attempts. Please wait a minute and try again."), 429)
    actor = _actor(request)
    owned = order_references(session=request.session)
    try:
        reference = services.checkout_order_reference(
            owned=owned, order_reference=parsed.order_reference,
            payment_intent_id=parsed.payment_intent_id)
        if parsed.payment_method_id:
            outcome = services.checkout_pay(order_reference=reference, actor=actor,
                                            payment_method_id=parsed.payment_method_id)
        else:
            outcome = services.checkout_confirm(order_reference=reference, actor=actor,
                                                payment_intent_id=parsed.payment_intent_id,
                                                owned=owned)
    except errors.CheckoutError as error:
        return _pay_error(error.message, pay_error_status(error),
                          retry=isinstance(error, errors.PaymentInProgress))
    if outcome.status == "requires_action":
        return JsonResponse({"requiresAction": True, "clientSecret": outcome.client_secret})
    return JsonResponse({"success": True, "orderUrl": reverse("order", args=[reference])})


def pay_error_status(error: errors.CheckoutError) -> int:
    for kind in type(error).__mro__:
        if kind in PAY_ERROR_STATUS:
            return PAY_ERROR_STATUS[kind]
    return 400  # unreachable: every CheckoutError has CheckoutError in its MRO


def _pay_request_parse(body: object) -> PayRequest | str:
    """The one id the guide's client sends (and the order our page names), or a message
    saying what is wrong."""
    if not isinstance(body, dict):
        return _("The request body must be a JSON object.")
    given = [name for name in PAY_IDS if name in body]
    if len(given) != 1:
        return _("Send exactly one of payment_method_id and payment_intent_id.")
    name = given[0]
    value = body[name]
    if not isinstance(value, str) or not PAY_IDS[name].fullmatch(value):
        return _("%(name)s is not a valid Stripe id.") % {"name": name}
    reference = body.get("order_reference")
    if reference is not None and (not isinstance(reference, str)
                                  or not ORDER_REFERENCE.fullmatch(reference)):
        return _("order_reference is not a valid order reference.")
    return PayRequest(payment_method_id=value if name == "payment_method_id" else None,
                      payment_intent_id=value if name == "payment_intent_id" else None,
                      order_reference=reference)


def _pay_error(message: str, status: int, *, retry: bool = False) -> JsonResponse:
    """``retry``: the same request may succeed in a moment (another request for the order
    was at work), said with ``Retry-After`` as 429 and 503 say it; the page keeps its
    payment for the next Pay only then (a 409 otherwise is final: canceled, not payable)."""
    response = JsonResponse({"error": message}, status=status)
    if status in (429, 503) or retry:
        response["Retry-After"] = {503: "5", 429: "60"}.get(status, "2")
    return response


def _pay_rate_limited(request: HttpRequest, *, after_bank: bool) -> bool:
    """Card-testing throttle: every /pay counts against its session and its address. The
    confirm after the bank's check (``after_bank``) tries no new card and has counters of
    its own, at the same rates: a shopper who passed the bank is not refused for the
    declines before it, nor for other shoppers' cards behind the same address."""
    address = address_block(request=request)
    step = "pay-confirm" if after_bank else "pay"
    return limits_hit(limits=[
        Limit(group=f"{step}-ip", value=address, rate=settings.PAYMENTS_PAY_RATE_PER_IP),
        Limit(group=f"{step}-session", value=request.session.session_key or address,
              rate=settings.PAYMENTS_PAY_RATE_PER_SESSION)])


def _actor(request: HttpRequest) -> str:
    """The shopper's session, as a keyed hash: the ledger must not hold a usable key."""
    return "session:" + session_fingerprint(session=request.session)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: /pay's JSON 403; for a page, a 403 page in the reader's
    language that says what happened and links back (the admin's to its sign-in). The
    ``reason`` is not shown: CsrfViewMiddleware logs it (``django.security.csrf``)."""
    if request.path == reverse("pay"):
        if not order_references(session=request.session):
            # The session ended (expired, cookies cleared): a reload would find the order
            # page gone for this browser, so say so rather than "reload".
            return _pay_error(_("Your session has ended, so this page can no longer pay. "
                                "Nothing was charged. Please go back to the store and "
                                "place your order again."), 403)
        return _pay_error(_("Your session's security token is missing or wrong. Please "
                            "reload the page and try again."), 403)
    if request.path.startswith(reverse("admin:index")):
        from django.contrib import admin

        return render(request, "admin/403_csrf.html", {
            **admin.site.each_context(request), "title": _("Your session has expired")},
            status=403)
    return render(request, "403_csrf.html", {"came_from": _came_from(request)}, status=403)


def _came_from(request: HttpRequest) -> str | None:
    """The page the form was sent from (its Referer), as a path, if it is one of ours and
    not the store (the page links to the store anyway); else None."""
    referer = request.headers.get("Referer", "")
    if not referer or not url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return None
    parts = urlsplit(referer)
    path = parts.path or "/"
    came_from = path + (f"?{parts.query}" if parts.query else "")
    # The path alone is checked too: "/\evil.com" is a host to some browsers.
    if path == reverse("store") or not path.startswith("/") or \
            not url_has_allowed_host_and_scheme(came_from, allowed_hosts=None):
        return None
    return came_from
