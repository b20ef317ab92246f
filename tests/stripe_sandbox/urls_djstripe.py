"""dj-stripe's own webhook view at its own URL, for the fidelity check that the sandbox's
deliveries pass dj-stripe's checks (the site serves that URL with its own intake)."""

from django.urls import include, path

urlpatterns = [path("stripe/", include("djstripe.urls", namespace="djstripe"))]
