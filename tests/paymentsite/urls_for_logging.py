"""Views for tests/paymentsite/test_logging.py: one that answers with the request id it
sees, and one that fails the way a bug would."""

from django.http import HttpResponse
from django.urls import path

from paymentsite.logging import request_id_get


def request_id_view(request):
    return HttpResponse(request_id_get())


def declined_view(request):
    return HttpResponse("declined", status=402)


def failing_view(request):
    raise RuntimeError("charging 4242 4242 4242 4242 for pi_3Abc_secret_XyZ123 with "
                       "sk_test_51Hsecret")


urlpatterns = [
    path("request-id/", request_id_view),
    path("fail/", failing_view),
    path("declined/", declined_view),
]
