"""The page a recovery link opens (``/recover/<token>/``): no login, the link is the key.

A GET (the shopper, or a mail scanner before them) shows the order and uses nothing up;
the page's script POSTs back with its CSRF token to use the link, and gets the client
secret for the bank's challenge, or the order page's address for the card form.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from payments.recovery import links
from payments.shop.words import checkout_words


@never_cache
@require_http_methods(["GET", "POST"])
def recover(request: HttpRequest, token: str) -> HttpResponse:
    """A recovery link from the shop's email: the bank's challenge again while the
    payment still waits for it, else the order's own card form. A bad, expired or
    finished link says so and reveals nothing."""
    if request.method == "POST":
        return _use(request, token)
    try:
        page = links.recovery_link_open(token=token)
    except links.RecoveryLinkError as error:
        return _failed(request, error)
    return render(request, "payments/recover.html", {
        "order": page.order, "lines": page.order.lines.all(),
        "waiting_at_bank": page.waiting_at_bank, "stripe_js_url": settings.STRIPE_JS_URL,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        "checkout_messages": checkout_words()})


def _use(request: HttpRequest, token: str) -> HttpResponse:
    """The page's script (JSON), or its form without a script (a redirect to the order)."""
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        opening = links.recovery_link_use(token=token, session=request.session)
    except links.RecoveryLinkError as error:
        if wants_json:
            return JsonResponse({"error": error.message}, status=error.status)
        return _failed(request, error)
    order_url = reverse("order", args=[opening.order.reference])
    if wants_json:
        return JsonResponse({"clientSecret": opening.client_secret, "orderUrl": order_url})
    return redirect(order_url)


def _failed(request: HttpRequest, error: links.RecoveryLinkError) -> HttpResponse:
    return render(request, "payments/link_failed.html", {"message": error.message},
                  status=error.status)
