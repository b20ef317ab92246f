"""The Django admin for payments: a read-only view of orders, payments and monitoring for
merchants; products are editable.

Payment rows change only through ``payment_status_record`` and incidents only through
``payments.monitoring``, so the admin never edits them; ops actions (confirm, send a
recovery link, cancel, refresh) go through ``payments.recovery``.

One module per concern; importing them registers their models:

- ``common``: shared formatting (amounts, times, cards, codes), links, read-only mixins
- ``orders``: products, orders with their lines, attempts with their ledger
- ``incidents``: the failed payments list, its filters, its CSV export, the incident page
- ``ops``: ops actions on incidents and their confirmation page
- ``monitoring``: scan runs, cursors and leases, ops actions, recovery links (read-only)
- ``dashboard``: the failed payments dashboard

This module trims dj-stripe's pages, puts Payments first in the index and registers the
dashboard at the end.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.http import HttpRequest

from payments.admin import incidents, monitoring, orders  # noqa: F401 (registers models)
from payments.admin.dashboard import dashboard_register

# The dj-stripe models a payments ops person needs next to ours: webhook set-up and
# deliveries, events, and the Stripe side of a payment (intent, charge, customer, card,
# refunds and disputes raised in the Stripe Dashboard). dj-stripe registers ~45 models;
# the rest (billing, Connect, tax, ...) are unused here and would bury our section.
DJSTRIPE_MODELS_KEPT = {"webhookendpoint", "webhookeventtrigger", "event", "apikey",
                        "paymentintent", "charge", "customer", "paymentmethod", "refund",
                        "dispute"}


def djstripe_admin_trim() -> None:
    """Unregister dj-stripe's admin pages this product does not use.

    ``djstripe`` comes before ``payments`` in INSTALLED_APPS, so its admin module has
    registered everything by the time autodiscover imports this one.
    """
    if not apps.is_installed("djstripe"):
        return
    for model in apps.get_app_config("djstripe").get_models():
        if model._meta.model_name not in DJSTRIPE_MODELS_KEPT and admin.site.is_registered(model):
            admin.site.unregister(model)


def payments_first(get_app_list):
    """Wrap ``AdminSite.get_app_list`` so our app leads the index and the nav sidebar.

    Django sorts apps by name, which puts "Payments" after "Authentication" and
    "Dj-Stripe". ``paymentsite/urls.py`` serves the default ``admin.site``, so this
    wraps that instance's method rather than swapping the site class.
    """
    def get_app_list_payments_first(request: HttpRequest, app_label: str | None = None):
        app_list = sorted(get_app_list(request, app_label),
                          key=lambda app: app["app_label"] != "payments")  # stable
        for app in app_list:
            if app["app_label"] == "payments":
                app["models"].sort(key=payments_model_rank)
        return app_list
    get_app_list_payments_first.payments_first = True
    return get_app_list_payments_first


# Our models in the order a merchant looks for them (Django sorts them by name, which puts
# "Scan cursors" before "Scan runs" and "Products" among the payments).
# Ops actions and recovery links sit under the incidents they act on.
PAYMENTS_MODEL_ORDER = ["incident", "opsaction", "recoverylink", "order", "paymentattempt",
                        "scanrun", "scancursor", "scanlock", "product"]


def payments_model_rank(model: dict) -> tuple[int, str]:
    name = model["object_name"].lower()
    rank = PAYMENTS_MODEL_ORDER.index(name) if name in PAYMENTS_MODEL_ORDER \
        else len(PAYMENTS_MODEL_ORDER)
    return rank, str(model["name"])


djstripe_admin_trim()
# The app list in a sidebar on every page takes a quarter of a 1280 px screen, and the
# orders and attempts lists need that width; the index and breadcrumbs remain.
admin.site.enable_nav_sidebar = False
if not getattr(admin.site.get_app_list, "payments_first", False):  # once, even on reload
    admin.site.get_app_list = payments_first(admin.site.get_app_list)


dashboard_register(admin.site)
