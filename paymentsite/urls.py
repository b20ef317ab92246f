from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from payments.stripe.webhooks import webhook_receive
from paymentsite.metrics import metrics

# dj-stripe's webhook route (djstripe.urls: "webhook/<uuid:uuid>", "/" added under
# APPEND_SLASH) is served by our intake (payments/stripe/webhooks.py), mounted first, so
# the URL given to Stripe, reverse("djstripe:djstripe_webhook_by_uuid"), stays; dj-stripe's
# own view is never reached.
# The address without its last "/" is served too: a POST there would otherwise be
# redirected, which Stripe counts as a failed delivery (an endpoint typed by hand in
# Stripe's Dashboard easily lacks it).
WEBHOOK_ROUTE = "stripe/webhook/<uuid:uuid>" + ("/" if settings.APPEND_SLASH else "")

urlpatterns = [
    path("admin/", admin.site.urls),
    # The language switch: Django's set_language (POST; a language it does not know, or a
    # next address off this site, changes nothing).
    path("i18n/", include("django.conf.urls.i18n")),
    path("metrics", metrics, name="metrics"),
    # Both named alike: paymentsite/wsgi.py sends either straight to the intake; reverse()
    # gives the last one, the address as given to Stripe.
    path(WEBHOOK_ROUTE.rstrip("/"), webhook_receive, name="payments_webhook"),
    path(WEBHOOK_ROUTE, webhook_receive, name="payments_webhook"),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("", include("payments.urls")),
]
