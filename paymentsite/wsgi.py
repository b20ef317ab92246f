"""The WSGI application, with two short ways in: Stripe's webhook deliveries and POST /pay.

Every other request goes through the whole middleware chain (``MIDDLEWARE``). Django's
request signals (database connections closed, …) are sent for every request alike, by
``WSGIHandler.__call__``.

- A webhook delivery needs none of the site's middleware (sessions, CSRF, authentication,
  messages, the CSP, static files): the intake checks the signature itself and answers
  JSON to Stripe. A POST that resolves to the intake (``payments_webhook`` in
  ``paymentsite/urls.py``) goes straight to it, with only the request id around it and
  Django's own conversion of an exception into a 500. The intake then costs about 0.7 ms
  less CPU a delivery (bench/load.py).
- A POST that resolves to ``/pay`` goes through Django's own request handling
  (``BaseHandler``: the view middleware, so CSRF's check runs; an exception converted
  into a 500 and logged) with ``PAY_MIDDLEWARE``, the part of ``MIDDLEWARE`` its
  guarantees need (paymentsite/settings.py says which and why), instead of the whole
  chain: ≈ 0.1–0.3 ms less CPU a /pay (bench/pay_parts.py, bench/README.md).
"""

import os

import django
from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.urls import Resolver404, resolve, set_urlconf

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paymentsite.settings")


class MiddlewareListHandler(BaseHandler):
    """Django's request handling (``get_response``) with a middleware list of its own."""

    def __init__(self, *, middleware: list[str]) -> None:
        super().__init__()
        self.middleware = list(middleware)
        self.load_middleware()

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler reads settings.MIDDLEWARE: give it ours while it builds the chain
        # (once, when the application is made, before any request).
        site = settings.MIDDLEWARE
        settings.MIDDLEWARE = self.middleware
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = site


class PaymentsWSGIHandler(WSGIHandler):
    WEBHOOK_ROUTE = "payments_webhook"
    PAY_ROUTE = "pay"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pay_handler = MiddlewareListHandler(middleware=settings.PAY_MIDDLEWARE)

    def get_response(self, request):
        if request.method == "POST":
            set_urlconf(None)
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
            if match is not None and match.url_name == self.PAY_ROUTE:
                return self.pay_handler.get_response(request)
            if match is not None and match.url_name == self.WEBHOOK_ROUTE:
                from paymentsite.logging import RequestIdMiddleware

                intake = convert_exception_to_response(
                    RequestIdMiddleware(lambda r: match.func(r, **match.kwargs)))
                response = intake(request)
                response._resource_closers.append(request.close)
                return response
        return super().get_response(request)


django.setup(set_prefix=False)
application = PaymentsWSGIHandler()
