"""The page a recovery link opens (``/recover/<token>/``): no login, the link is the key."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from payments.recovery import links


@require_GET
def recover(request: HttpRequest, token: str) -> HttpResponse:
    """A recovery link from the shop's email: the bank's challenge again while the
    payment still waits for it, else the order's own card form. No login needed; a used,
    expired or altered link says so and reveals nothing."""
    try:
        opening = links.recovery_link_open(token=token, session=request.session)
    except links.RecoveryLinkError as error:
        return render(request, "payments/recover_failed.html", {"message": error.message},
                      status=error.status)
    if opening.client_secret is None:
        return redirect("order", reference=opening.order.reference)
    return render(request, "payments/recover.html", {
        "order": opening.order, "lines": opening.order.lines.all(),
        "client_secret": opening.client_secret, "stripe_js_url": settings.STRIPE_JS_URL,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY})
