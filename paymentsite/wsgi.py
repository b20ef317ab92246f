"""The WSGI application, with one short way in: Stripe's webhook deliveries.

A delivery needs none of the site's middleware (sessions, CSRF, authentication,
messages, the CSP, static files): the intake checks the signature itself and answers JSON
to Stripe. ``PaymentsWSGIHandler`` sends a POST that resolves to the intake
(``payments_webhook`` in ``paymentsite/urls.py``) straight to it, with only the request
id around it and Django's own conversion of an exception into a 500; every other request
goes through the whole middleware chain. Django's request signals (database connections
closed, …) are sent as for any request. The intake then costs about 0.7 ms less CPU a
delivery (bench/load.py).
"""

import os

import django
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.urls import Resolver404, resolve, set_urlconf

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paymentsite.settings")


class PaymentsWSGIHandler(WSGIHandler):
    WEBHOOK_ROUTE = "payments_webhook"

    def get_response(self, request):
        if request.method == "POST":
            set_urlconf(None)
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
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
