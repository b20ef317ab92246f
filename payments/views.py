"""Thin views: parse the input, call one service, shape the answer.

``pay`` speaks the JSON of Stripe's migration guide: it takes ``{payment_method_id}`` or
``{payment_intent_id}`` (and, from our own page, the ``order_reference`` it shows) and
answers ``{requiresAction, clientSecret}``, ``{success}`` or ``{error}`` with a status code
that says what happened. Every answer is JSON; none is a 500.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import csrf
from django.views.decorators.http import require_GET, require_http_methods

from payments import checkout, recovery
from payments.cart import CartError, cart_add, cart_lines, cart_remove, cart_set_quantity
from payments.forms import CartLineForm, CheckoutForm
from payments.models import Order, Product
from payments.orders import order_get_for_session, order_place, order_references
from payments.ratelimit import Limit, address_block, limits_hit
from payments.sessions import session_fingerprint

PAY_IDS = {"payment_method_id": re.compile(r"pm_[A-Za-z0-9_]{1,200}"),
           "payment_intent_id": re.compile(r"pi_[A-Za-z0-9]{1,200}")}
ORDER_REFERENCE = re.compile(r"ord_[A-Za-z0-9_-]{1,40}")
PAY_MAX_BRACKETS = 32  # a /pay body is one flat object; see pay()

# Looked up along the error's class hierarchy, so a new subclass answers as its parent
# does; CheckoutError itself is the fallback.
PAY_ERROR_STATUS: dict[type[checkout.CheckoutError], int] = {
    checkout.CheckoutError: 400,
    checkout.OrderNotFound: 404,
    checkout.IntentNotFound: 404,
    checkout.OrderNotPayable: 409,
    checkout.OrderMismatch: 409,
    checkout.OrderAmbiguous: 409,
    checkout.PaymentInProgress: 409,
    checkout.PaymentDeclined: 402,
    checkout.PaymentNeedsCard: 402,
    checkout.PaymentInvalid: 400,
    checkout.PaymentRateLimited: 429,
    checkout.PaymentUnavailable: 503,
}


@dataclass(frozen=True)
class PayRequest:
    payment_method_id: str | None
    payment_intent_id: str | None
    order_reference: str | None


@require_GET
def store(request: HttpRequest) -> HttpResponse:
    return render(request, "payments/store.html", {
        "products": Product.objects.filter(active=True), "form": CartLineForm()})


@require_http_methods(["GET", "POST"])
def cart(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        _cart_change(request)
        return redirect("cart")
    lines = cart_lines(session=request.session)
    return render(request, "payments/cart.html", {
        "lines": lines, "total": sum(line.amount for line in lines),
        "currency": lines[0].product.currency if lines else ""})


def _cart_change(request: HttpRequest) -> None:
    action = request.POST.get("action", "add")
    if action not in ("add", "update", "remove"):
        messages.error(request, "Unknown cart action.")
        return
    if action == "remove":
        cart_remove(session=request.session, sku=request.POST.get("sku", ""))
        return
    form = CartLineForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return
    try:
        change = cart_set_quantity if action == "update" else cart_add
        change(session=request.session, **form.cleaned_data)
    except CartError as error:
        messages.error(request, error.message)
    else:
        if action == "add":
            messages.success(request, "Added to your cart.")


@require_http_methods(["GET", "POST"])
def checkout_page(request: HttpRequest) -> HttpResponse:
    lines = cart_lines(session=request.session)
    form = CheckoutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            order = order_place(session=request.session, email=form.cleaned_data["email"])
        except CartError as error:
            messages.error(request, error.message)
            return redirect("cart")
        return redirect("order", reference=order.reference)
    if not lines:
        messages.error(request, "Your cart is empty.")
        return redirect("cart")
    return render(request, "payments/checkout.html", {
        "lines": lines, "total": sum(line.amount for line in lines),
        "currency": lines[0].product.currency, "form": form})


@require_GET
def order(request: HttpRequest, reference: str) -> HttpResponse:
    """The order's own page, for the session that placed it. Staff who may view orders
    are sent to the admin's page of it; nobody else learns that it exists."""
    found = order_get_for_session(session=request.session, reference=reference)
    if found is None:
        if request.user.has_perm("payments.view_order"):
            staff_view = Order.objects.filter(reference=reference).values_list("pk", flat=True)
            if staff_view:
                return redirect("admin:payments_order_change", staff_view[0])
        raise Http404("No such order.")
    return render(request, "payments/order.html", {
        "order": found, "lines": found.lines.all(),
        "can_pay": found.status == Order.Status.OPEN,
        "stripe_js_url": settings.STRIPE_JS_URL,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY})


@require_GET
def recover(request: HttpRequest, token: str) -> HttpResponse:
    """A recovery link from the shop's email: the bank's challenge again while the
    payment still waits for it, else the order's own card form. No login needed; a used,
    expired or altered link says so and reveals nothing."""
    try:
        opening = recovery.recovery_link_open(token=token, session=request.session)
    except recovery.RecoveryLinkError as error:
        return render(request, "payments/recover_failed.html", {"message": error.message},
                      status=error.status)
    if opening.client_secret is None:
        return redirect("order", reference=opening.order.reference)
    return render(request, "payments/recover.html", {
        "order": opening.order, "lines": opening.order.lines.all(),
        "client_secret": opening.client_secret, "stripe_js_url": settings.STRIPE_JS_URL,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY})


def pay(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        response = _pay_error("Use POST with a JSON body.", 405)
        response["Allow"] = "POST"
        return response
    if _pay_rate_limited(request):
        return _pay_error("Too many payment attempts. Please wait a minute and try again.", 429)
    try:
        raw = request.body
    except RequestDataTooBig:
        return _pay_error("The request is too large.", 413)
    # The guide's body is one flat object. Refuse deep nesting before parsing it: json's
    # C decoder would hit the recursion limit, and a RecursionError there leaves CPython
    # 3.11's recursion accounting off for the rest of the thread.
    if raw.count(b"[") + raw.count(b"{") > PAY_MAX_BRACKETS:
        return _pay_error("The request body must be JSON.", 400)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _pay_error("The request body must be JSON.", 400)
    parsed = _pay_request_parse(body)
    if isinstance(parsed, str):
        return _pay_error(parsed, 400)
    actor = _actor(request)
    owned = order_references(session=request.session)
    try:
        reference = checkout.checkout_order_reference(
            owned=owned, order_reference=parsed.order_reference,
            payment_intent_id=parsed.payment_intent_id)
        if parsed.payment_method_id:
            outcome = checkout.checkout_pay(order_reference=reference, actor=actor,
                                            payment_method_id=parsed.payment_method_id)
        else:
            outcome = checkout.checkout_confirm(order_reference=reference, actor=actor,
                                                payment_intent_id=parsed.payment_intent_id,
                                                owned=owned)
    except checkout.CheckoutError as error:
        return _pay_error(error.message, pay_error_status(error))
    if outcome.status == "requires_action":
        return JsonResponse({"requiresAction": True, "clientSecret": outcome.client_secret})
    return JsonResponse({"success": True, "orderUrl": reverse("order", args=[reference])})


def pay_error_status(error: checkout.CheckoutError) -> int:
    for kind in type(error).__mro__:
        if kind in PAY_ERROR_STATUS:
            return PAY_ERROR_STATUS[kind]
    return 400  # unreachable: every CheckoutError has CheckoutError in its MRO


def _pay_request_parse(body: object) -> PayRequest | str:
    """The one id the guide's client sends (and the order our page names), or a message
    saying what is wrong."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    given = [name for name in PAY_IDS if name in body]
    if len(given) != 1:
        return "Send exactly one of payment_method_id and payment_intent_id."
    name = given[0]
    value = body[name]
    if not isinstance(value, str) or not PAY_IDS[name].fullmatch(value):
        return f"{name} is not a valid Stripe id."
    reference = body.get("order_reference")
    if reference is not None and (not isinstance(reference, str)
                                  or not ORDER_REFERENCE.fullmatch(reference)):
        return "order_reference is not a valid order reference."
    return PayRequest(payment_method_id=value if name == "payment_method_id" else None,
                      payment_intent_id=value if name == "payment_intent_id" else None,
                      order_reference=reference)


def _pay_error(message: str, status: int) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status in (429, 503):
        response["Retry-After"] = "5" if status == 503 else "60"
    return response


def _pay_rate_limited(request: HttpRequest) -> bool:
    """Card-testing throttle: every /pay counts against its session and its address."""
    address = address_block(request=request)
    return limits_hit(limits=[
        Limit(group="pay-ip", value=address, rate=settings.PAYMENTS_PAY_RATE_PER_IP),
        Limit(group="pay-session", value=request.session.session_key or address,
              rate=settings.PAYMENTS_PAY_RATE_PER_SESSION)])


def _actor(request: HttpRequest) -> str:
    """The shopper's session, as a keyed hash: the ledger must not hold a usable key."""
    return "session:" + session_fingerprint(session=request.session)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if request.path == reverse("pay"):
        return _pay_error("Your session's security token is missing or wrong. Please reload "
                          "the page and try again.", 403)
    return csrf.csrf_failure(request, reason=reason)
