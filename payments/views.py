"""Thin views: parse the input, call one service, shape the answer.

``pay`` speaks the JSON of Stripe's migration guide: it takes ``{payment_method_id}`` or
``{payment_intent_id}`` and answers ``{requiresAction, clientSecret}``, ``{success}`` or
``{error}`` with a status code that says what happened. It never answers a 500.
"""

from __future__ import annotations

import hashlib
import json
import re

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import csrf
from django.views.decorators.http import require_GET, require_http_methods
from django_ratelimit.core import is_ratelimited

from payments import checkout
from payments.cart import CartError, cart_add, cart_lines, cart_remove, cart_set_quantity
from payments.forms import CartLineForm, CheckoutForm
from payments.models import Order, Product
from payments.orders import (
    SESSION_CHECKOUT,
    order_checkout_reference,
    order_get_for_session,
    order_place,
)

PAY_IDS = {"payment_method_id": re.compile(r"pm_[A-Za-z0-9_]{1,200}"),
           "payment_intent_id": re.compile(r"pi_[A-Za-z0-9]{1,200}")}

PAY_ERROR_STATUS = {
    checkout.OrderNotFound: 404,
    checkout.IntentNotFound: 404,
    checkout.OrderNotPayable: 409,
    checkout.PaymentInProgress: 409,
    checkout.PaymentDeclined: 402,
    checkout.PaymentNeedsCard: 402,
    checkout.PaymentInvalid: 400,
    checkout.PaymentRateLimited: 429,
    checkout.PaymentUnavailable: 503,
}


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
    found = order_get_for_session(session=request.session, reference=reference)
    own = found is not None
    if not own and request.user.is_staff:
        found = Order.objects.filter(reference=reference).first()
    if found is None:
        raise Http404("No such order.")
    can_pay = own and found.status == Order.Status.OPEN
    if can_pay:  # /pay works on the order last opened in this session
        request.session[SESSION_CHECKOUT] = found.reference
    return render(request, "payments/order.html", {
        "order": found, "lines": found.lines.all(), "can_pay": can_pay,
        "stripe_js_url": settings.STRIPE_JS_URL,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY})


@require_http_methods(["POST"])
def pay(request: HttpRequest) -> JsonResponse:
    if _pay_rate_limited(request):
        return _pay_error("Too many payment attempts. Please wait a minute and try again.", 429)
    try:
        body = json.loads(request.body)
    except RequestDataTooBig:
        return _pay_error("The request is too large.", 413)
    except (ValueError, UnicodeDecodeError):
        return _pay_error("The request body must be JSON.", 400)
    parsed = _pay_request_parse(body)
    if isinstance(parsed, str):
        return _pay_error(parsed, 400)
    name, value = parsed
    reference = order_checkout_reference(session=request.session)
    if reference is None:
        return _pay_error("There is no order to pay in this session. Please check out again.",
                          404)
    try:
        if name == "payment_method_id":
            outcome = checkout.checkout_pay(order_reference=reference, payment_method_id=value,
                                            actor=_actor(request))
        else:
            outcome = checkout.checkout_confirm(order_reference=reference,
                                                payment_intent_id=value, actor=_actor(request))
    except checkout.CheckoutError as error:
        return _pay_error(error.message, PAY_ERROR_STATUS[type(error)])
    if outcome.status == "requires_action":
        return JsonResponse({"requiresAction": True, "clientSecret": outcome.client_secret})
    return JsonResponse({"success": True, "orderUrl": reverse("order", args=[reference])})


def _pay_request_parse(body: object) -> tuple[str, str] | str:
    """The one id the guide's client sends, or a message saying what is wrong."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    given = [name for name in PAY_IDS if name in body]
    if len(given) != 1:
        return "Send exactly one of payment_method_id and payment_intent_id."
    name = given[0]
    value = body[name]
    if not isinstance(value, str) or not PAY_IDS[name].fullmatch(value):
        return f"{name} is not a valid Stripe id."
    return name, value


def _pay_error(message: str, status: int) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status in (429, 503):
        response["Retry-After"] = "5" if status == 503 else "60"
    return response


def _session_or_ip(_group: str, request: HttpRequest) -> str:
    return request.session.session_key or request.META.get("REMOTE_ADDR", "")


def _pay_rate_limited(request: HttpRequest) -> bool:
    """Card-testing throttle: every /pay counts against its session and its address."""
    limits = [("pay-ip", "ip", settings.PAYMENTS_PAY_RATE_PER_IP),
              ("pay-session", _session_or_ip, settings.PAYMENTS_PAY_RATE_PER_SESSION)]
    hits = [is_ratelimited(request, group=group, key=key, rate=rate, increment=True)
            for group, key, rate in limits if rate]
    return any(hits)


def _actor(request: HttpRequest) -> str:
    """The shopper's session, hashed: the ledger must not hold a usable session key."""
    key = request.session.session_key or ""
    return "session:" + hashlib.sha256(key.encode()).hexdigest()[:16]


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if request.path == reverse("pay"):
        return _pay_error("Your session's security token is missing or wrong. Please reload "
                          "the page and try again.", 403)
    return csrf.csrf_failure(request, reason=reason)
