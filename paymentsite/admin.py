"""The admin site of this product: Django's, with the payments first and the failed
payments dashboard in it.

``paymentsite.settings`` installs ``paymentsite.apps.PaymentsAdminConfig`` in place of
``django.contrib.admin``; its ``default_site`` makes ``admin.site`` an instance of
``PaymentsAdminSite``, so every ``admin.register`` (ours and dj-stripe's) lands here.

It lives outside ``payments/admin/`` on purpose: importing that package registers its
models on ``admin.site``, which would build a second site while this one is being built.
For the same reason the dashboard's module is imported when the site first needs it.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import path, reverse

# Our models in the order a merchant looks for them (Django sorts them by name, which puts
# "Scan cursors" before "Scan runs" and "Products" among the payments). Ops actions and
# recovery links sit under the incidents they act on.
PAYMENTS_MODEL_ORDER = ["incident", "opsaction", "recoverylink", "order", "paymentattempt",
                        "scanrun", "webhookevent", "scancursor", "scanlock", "product"]


class PaymentsAdminSite(admin.AdminSite):
    # The app list in a sidebar on every page takes a quarter of a 1280 px screen, and the
    # orders and attempts lists need that width; the index and breadcrumbs remain.
    enable_nav_sidebar = False

    def get_urls(self):
        from payments.admin import dashboard

        return [path("payments/dashboard/", self.admin_view(dashboard.dashboard_view_for(self)),
                     name="payments_dashboard"), *super().get_urls()]

    def each_context(self, request: HttpRequest) -> dict:
        """Every admin page knows the dashboard's address, for users who may see it (the
        index, ``templates/admin/index.html``, shows it at the top)."""
        from payments.admin import dashboard

        context = super().each_context(request)
        if request.user.is_active and request.user.has_perm(dashboard.PERMISSION):
            context["payments_dashboard_url"] = reverse(f"{self.name}:payments_dashboard")
        return context

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        """Our app leads the index (Django sorts apps by name, which puts "Payments" after
        "Authentication" and "Dj-Stripe"), its models in ``PAYMENTS_MODEL_ORDER``."""
        app_list = sorted(super().get_app_list(request, app_label),
                          key=lambda app: app["app_label"] != "payments")  # stable
        for app in app_list:
            if app["app_label"] == "payments":
                app["models"].sort(key=payments_model_rank)
        return app_list


def payments_model_rank(model: dict) -> tuple[int, str]:
    name = model["object_name"].lower()
    rank = PAYMENTS_MODEL_ORDER.index(name) if name in PAYMENTS_MODEL_ORDER \
        else len(PAYMENTS_MODEL_ORDER)
    return rank, str(model["name"])
