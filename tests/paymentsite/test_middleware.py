"""Whose Stripe calls a request makes (paymentsite.middleware): the admin's are ops
people's, the rest shoppers'; outside a request, nobody's in particular."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from payments.stripe.budget import current_source
from paymentsite.middleware import StripeCallSourceMiddleware


@pytest.mark.parametrize(("path", "source"), [
    ("/pay", "shopper"), ("/recover/abc/", "shopper"), ("/", "shopper"),
    ("/admin/payments/incident/1/change/", "ops"), ("/admin/", "ops"),
    ("/administrator/", "shopper"),
])
def test_a_requests_stripe_calls_are_its_users(path, source):
    seen = []
    middleware = StripeCallSourceMiddleware(
        lambda request: seen.append(current_source()) or HttpResponse())
    middleware(RequestFactory().get(path))
    assert seen == [source]
    assert current_source() == "other"  # and no longer once the request is over
