"""The shopper's pages: the store, the cart, the checkout form that places an order, and
the order's own page (which mounts the card field; paying is ``/pay``, in
``payments.checkout.views``). Thin: parse the input, call one service, render.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from payments.shop.cart import (
    CartError,
    CartSummary,
    cart_add,
    cart_remove,
    cart_set_quantity,
    cart_summary,
    cart_withdrawn_remove,
)
from payments.shop.forms import CartLineForm, CheckoutForm
from payments.shop.limits import order_refusal_words
from payments.shop.models import Order, Product
from payments.shop.orders import (
    OrderLinkError,
    order_from_status_token,
    order_get_for_session,
    order_place,
    orders_awaiting_payment,
)
from payments.shop.words import checkout_words

# The checkout's reader of an order's payments still unsettled (sent, outcome unknown,
# at the bank): the checkout sits above the shop, so ``payments/urls.py`` hands it to the
# cart and the order page (``payments.checkout.selectors.order_payments_unsettled``).
# Each value has ``intent_id`` and ``at_the_bank``. Required: a route without it would
# say "nothing was charged" of a payment that may still charge.
PaymentsUnsettled = Callable[..., Mapping[int, Any]]


@require_GET
def store(request: HttpRequest) -> HttpResponse:
    return render(request, "payments/store.html", {
        "products": Product.objects.filter(active=True), "form": CartLineForm()})


@require_http_methods(["GET", "POST"])
def cart(request: HttpRequest, *, payments_unsettled: PaymentsUnsettled) -> HttpResponse:
    if request.method == "POST":
        _cart_change(request)
        return redirect("cart")
    summary = cart_summary(session=request.session)
    _withdrawn_say(request, summary)
    awaiting = orders_awaiting_payment(session=request.session)
    unsettled = payments_unsettled(orders=awaiting)
    return render(request, "payments/cart.html", {
        "cart": summary, "lines": summary.lines,
        "awaiting": [(order, unsettled.get(order.pk)) for order in awaiting],
        "any_unsettled": bool(unsettled)})


def _withdrawn_say(request: HttpRequest, summary: CartSummary) -> bool:
    """Products withdrawn since they were added leave the cart, with a word (the cart and
    its total otherwise changed without one); True when any did."""
    names = cart_withdrawn_remove(session=request.session, summary=summary)
    for name in names:
        messages.warning(request, _("%(name)s is no longer available and was taken out of "
                                    "your cart.") % {"name": name})
    return bool(names)


def _cart_change(request: HttpRequest) -> None:
    action = request.POST.get("action", "add")
    if action not in ("add", "update", "remove"):
        messages.error(request, _("Unknown cart action."))
        return
    if action == "remove":
        cart_remove(session=request.session, sku=request.POST.get("sku", ""))
        messages.success(request, _("Removed from your cart."))
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
        # Said after every change: the page reloads, and a screen reader hears the message
        # (a status region) rather than nothing.
        messages.success(request, _("Added to your cart.") if action == "add"
                         else _("Your cart was updated."))


@require_http_methods(["GET", "POST"])
def checkout_page(request: HttpRequest) -> HttpResponse:
    summary = cart_summary(session=request.session)
    if _withdrawn_say(request, summary):
        return redirect("cart")
    # The cart's page says it is empty (and names any order left unpaid), which products
    # cannot be paid together, or the least (or most) a card payment may total: said
    # there once, not here as well.
    if not summary.lines or summary.mixed or summary.limit_words:
        return redirect("cart")
    form = CheckoutForm(request.POST or None)
    shown = request.POST.get("cart_version")  # the page's; a script may send none
    if request.method == "POST" and shown is not None and shown != summary.version:
        # A price or a quantity changed since this page showed the cart (another tab, the
        # merchant): the shopper sees the new one before an order is placed, the address
        # typed kept.
        messages.warning(request, _("Your cart changed since this page showed it (a price "
                                    "or a quantity). Please check it again."))
        form = CheckoutForm(initial={"email": request.POST.get("email", "")})
    elif request.method == "POST" and form.is_valid():
        try:
            order = order_place(session=request.session, email=form.cleaned_data["email"],
                                language=request.LANGUAGE_CODE)
        except CartError as error:
            messages.error(request, error.message)
            return redirect("cart")
        return redirect("order", reference=order.reference)
    return render(request, "payments/checkout.html", {
        "cart": summary, "lines": summary.lines, "form": form})


@require_GET
def order(request: HttpRequest, reference: str, *,
          payments_unsettled: PaymentsUnsettled) -> HttpResponse:
    """The order's own page, for the session that placed it. Staff who may view orders
    are sent to the admin's page of it; nobody else learns that it exists."""
    found = order_get_for_session(session=request.session, reference=reference)
    if found is None:
        if request.user.has_perm("payments.view_order"):
            staff_view = Order.objects.filter(reference=reference).values_list("pk", flat=True)
            if staff_view:
                return redirect("admin:payments_order_change", staff_view[0])
        raise Http404(_("No such order."))
    # An order Stripe would refuse to charge (placed before the cart checked the limits)
    # says so in place of a card form that could only fail.
    refusal = order_refusal_words(order=found, known_refusals=True) \
        if found.status == Order.Status.OPEN else ""
    can_pay = found.status == Order.Status.OPEN and not refusal
    return render(request, "payments/order.html", {
        "order": found, "lines": found.lines.all(), "refusal": refusal,
        "can_pay": can_pay,
        # A payment sent and not settled (at the bank: Pay finishes it, checkout.js).
        "unsettled": payments_unsettled(orders=[found]).get(found.pk) if can_pay else None,
        "stripe_js_url": settings.STRIPE_JS_URL,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        "checkout_messages": checkout_words()})


@require_safe  # GET, and HEAD for link checkers
def order_status(request: HttpRequest, token: str) -> HttpResponse:
    """The receipt's link to the order: its status and lines, in any browser, while the
    signed link lasts. It shows; it does not hand the order to the browser (no card form)."""
    try:
        found = order_from_status_token(token=token)
    except OrderLinkError as error:
        return render(request, "payments/link_failed.html", {
            "title": _("Order link"), "message": error.message}, status=error.status)
    return render(request, "payments/order.html", {
        "order": found, "lines": found.lines.all(), "can_pay": False})
