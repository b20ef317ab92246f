"""The Django admin for payments: merchants view orders, payments and monitoring; ops
staff also act on incidents (confirm, send a recovery link, cancel, refresh) through
``payments.recovery``; products are editable.

Payment rows change only through the checkout's status record and incidents only through
``payments.monitoring.incidents``, so the admin never edits them.

One module per concern; importing them registers their models:

- ``common``: shared formatting (amounts, times, cards, codes), links, read-only mixins
- ``orders``: products, orders with their lines, attempts with their ledger
- ``incidents``: the failed payments list, its filters, its CSV export, the incident page
- ``ops``: ops actions on incidents and their confirmation page
- ``monitoring``: scan runs, cursors and leases, ops actions, recovery links (read-only)
- ``webhooks``: Stripe's webhook events as stored, and whether they were processed
- ``reconciliation``: reconciliation runs and the mismatches they found (read-only)
- ``dashboard``: the failed payments dashboard
- ``privacy``: the records of shoppers' data erased on request (superusers only)

This module also trims dj-stripe's pages to those a payments person needs. The site
itself (payments first, the dashboard) is ``paymentsite.admin.PaymentsAdminSite``.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin

from payments.admin import (  # noqa: F401 (registers)
    incidents,
    monitoring,
    orders,
    privacy,
    reconciliation,
    webhooks,
)

# The dj-stripe models a payments ops person needs next to ours: webhook endpoints (their
# secrets), API keys, and the Stripe side of a payment (intent, charge, customer, card,
# refunds and disputes raised in the Stripe Dashboard). dj-stripe registers ~45 models;
# the rest (billing, Connect, tax, ...) are unused here and would bury our section, and
# its events and webhook triggers stay empty (our intake stores events: WebhookEvent).
DJSTRIPE_MODELS_KEPT = {"webhookendpoint", "apikey", "paymentintent", "charge", "customer",
                        "paymentmethod", "refund", "dispute"}


def djstripe_admin_trim(*, site: admin.AdminSite) -> None:
    """Unregister dj-stripe's admin pages this product does not use.

    ``djstripe`` comes before ``payments`` in INSTALLED_APPS, so its admin module has
    registered everything by the time autodiscover imports this one.
    """
    if not apps.is_installed("djstripe"):
        return
    for model in apps.get_app_config("djstripe").get_models():
        if model._meta.model_name not in DJSTRIPE_MODELS_KEPT and site.is_registered(model):
            site.unregister(model)


djstripe_admin_trim(site=admin.site)
