"""The admin site of this product: Django's, with the payments first, the failed
payments dashboard in it, and a second factor after the password for users who can move
money (``paymentsite.signin``).

``paymentsite.settings`` installs ``paymentsite.apps.PaymentsAdminConfig`` in place of
``django.contrib.admin``; its ``default_site`` makes ``admin.site`` an instance of
``PaymentsAdminSite``, so every ``admin.register`` (ours and dj-stripe's) lands here.

It lives outside ``payments/admin/`` on purpose: importing that package registers its
models on ``admin.site``, which would build a second site while this one is being built.
For the same reason the dashboard's module is imported when the site first needs it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import logout as auth_logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from paymentsite import signin

# Our models in the order a merchant looks for them (Django sorts them by name, which puts
# "Scan cursors" before "Scan runs" and "Products" among the payments). Ops actions and
# recovery links sit under the incidents they act on.
PAYMENTS_MODEL_ORDER = ["incident", "opsaction", "recoverylink", "order", "paymentattempt",
                        "reconciliationmismatch", "reconciliationrun",
                        "scanrun", "webhookevent", "scancursor", "scanlock", "product",
                        "erasurerecord"]


class PaymentsAdminSite(admin.AdminSite):
    # The app list in a sidebar on every page takes a quarter of a 1280 px screen, and the
    # orders and attempts lists need that width; the index and breadcrumbs remain.
    enable_nav_sidebar = False

    # The shop's name (SHOP_NAME), as its pages and mail show it.
    @property
    def site_header(self) -> str:
        return gettext("%(shop)s admin") % {"shop": settings.SHOP_NAME}

    @property
    def site_title(self) -> str:
        return self.site_header

    def get_urls(self):
        from payments.admin import dashboard

        return [path("payments/dashboard/", self.admin_view(dashboard.dashboard_view_for(self)),
                     name="payments_dashboard"),
                path("second-factor/", self.second_factor_view, name="second_factor"),
                path("second-factor/sign-out/", self.second_factor_sign_out,
                     name="second_factor_sign_out"),
                *super().get_urls()]

    def has_permission(self, request: HttpRequest) -> bool:
        """A user who can move money is in only once the second factor is given too."""
        return super().has_permission(request) and \
            not signin.second_factor_pending(user=request.user)

    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """Django's login; a password accepted (or a session that has only that) goes on to
        the second factor when the user needs one."""
        if request.method == "GET" and self._owes_second_factor(request):
            return self._to_second_factor(request)
        response = super().login(request, extra_context)
        if request.method == "POST" and self._owes_second_factor(request):
            return self._to_second_factor(request)
        return response

    @method_decorator(never_cache)
    def second_factor_view(self, request: HttpRequest) -> HttpResponse:
        """The code from the authenticator app; on the first sign-in, enrolling it."""
        if not (request.user.is_active and request.user.is_staff):
            return redirect(f"{reverse(f'{self.name}:login')}?"
                            f"{urlencode({'next': self._next(request)})}")
        if not signin.second_factor_pending(user=request.user):
            return redirect(self._next(request))
        error = None
        if request.method == "POST":
            error = signin.second_factor_verify(request=request,
                                                token=request.POST.get("token", ""))
            if error is None:
                return redirect(self._next(request))
        device = signin.second_factor_device(user=request.user)
        context = {**self.each_context(request), "title": gettext("Second factor"),
                   "enrolling": not device.confirmed, "error": error,
                   "next": self._next(request)}
        if not device.confirmed:
            enrolment = signin.second_factor_enrolment(device=device)
            context.update(key=enrolment["key"], qr_svg=mark_safe(enrolment["qr_svg"]))
        return TemplateResponse(request, "admin/second_factor.html", context,
                                status=400 if error else 200)

    @method_decorator(require_POST)
    def second_factor_sign_out(self, request: HttpRequest) -> HttpResponse:
        """Sign out from the second-factor step (the admin's own logout is behind
        ``has_permission``, which a user owing the code does not pass)."""
        auth_logout(request)
        return redirect(f"{self.name}:login")

    def _owes_second_factor(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff and \
            signin.second_factor_pending(user=request.user)

    def _to_second_factor(self, request: HttpRequest) -> HttpResponse:
        return redirect(f"{reverse(f'{self.name}:second_factor')}?"
                        f"{urlencode({'next': self._next(request)})}")

    def _next(self, request: HttpRequest) -> str:
        """Where to go after signing in: the page asked for, if it is ours."""
        wanted = request.POST.get("next") or request.GET.get("next") or ""
        if wanted and url_has_allowed_host_and_scheme(
                wanted, allowed_hosts={request.get_host()},
                require_https=request.is_secure()):
            return wanted
        return reverse(f"{self.name}:index")

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
