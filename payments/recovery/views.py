"""The page a recovery link opens (``/recover/<token>/``): no login, the link is the key.

A GET (the shopper, or a mail scanner before them) shows the order and uses nothing up;
the shopper's click POSTs back with the page's CSRF token to use the link, and gets the
client secret for the bank's challenge, or the order page's address for the card form.
Each use is counted against the link's and the address's rate limits.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from payments.checkout.throttle import Limit, address_block, limits_hit
from payments.recovery import links
from payments.shop.words import checkout_words


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])  # HEAD: link checkers (as a GET: counted)
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
    if _use_rate_limited(request, token):
        message = _("Too many attempts with this link. Please wait a minute and try again.")
        response = JsonResponse({"error": message}, status=429) if wants_json else \
            _failed(request, links.RecoveryLinkError(message, status=429))
        response["Retry-After"] = "60"
        return response
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


def _use_rate_limited(request: HttpRequest, token: str) -> bool:
    """Each use may read the intent at Stripe: counted per link and per address, as /pay's
    card-testing throttle counts (fails open without Redis)."""
    return limits_hit(limits=[
        Limit(group="recover-link", value=token, rate=settings.PAYMENTS_RECOVER_RATE_PER_LINK),
        Limit(group="recover-ip", value=address_block(request=request),
              rate=settings.PAYMENTS_RECOVER_RATE_PER_IP)])


def _failed(request: HttpRequest, error: links.RecoveryLinkError) -> HttpResponse:
    return render(request, "payments/link_failed.html", {"message": error.message},
                  status=error.status)
