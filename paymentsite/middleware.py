"""Who a request's Stripe calls are for, so the account's budget knows whom to serve
first (``payments.stripe.budget``): the admin's are ops people's, the rest shoppers'."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse

from payments.stripe.budget import stripe_calls_for


class StripeCallSourceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            admin = request.path.startswith(reverse("admin:index"))
        except NoReverseMatch:  # a URLconf without the admin
            admin = False
        with stripe_calls_for("ops" if admin else "shopper"):
            return self.get_response(request)
