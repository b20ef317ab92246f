"""Demo data for the offline store: a few products, with DEBUG on the demo logins
(admin, and one merchant and one ops person), and
(``--webhooks-to``) a webhook endpoint at the sandbox delivering to the site."""

from __future__ import annotations

import uuid
from urllib.parse import urljoin

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from djstripe.models import WebhookEndpoint

from payments.shop.models import Product
from payments.stripe.facts import WEBHOOK_EVENT_TYPES

# One login per role (groups from migration 0007), besides the superuser.
DEMO_STAFF = [("merchant", "Merchants"), ("ops", "Payments ops")]

# One fixed endpoint for the demo, so a rerun finds it instead of adding another.
DEMO_WEBHOOK_UUID = uuid.UUID("6d2c5f3a-9f1e-4c3b-8a55-0d3e7b1a2c40")

PRODUCTS = [
    ("field-notebook", "Field notebook", "Dot-grid, 96 pages, fits a back pocket.", 1200),
    ("espresso-cups", "Espresso cups (pair)", "Double-walled glass, 80 ml each.", 2599),
    ("wool-blanket", "Wool blanket", "Merino, 130 × 180 cm, woven in Portugal.", 8900),
    ("desk-lamp", "Desk lamp", "Warm LED, dimmable, brass arm.", 14500),
]


class Command(BaseCommand):
    help = "Create the demo products and (DEBUG only) the demo admin login; safe to rerun."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--admin-user", default="admin")
        parser.add_argument("--admin-password", default="admin")
        parser.add_argument("--webhooks-to", metavar="SITE_URL",
                            help="register a webhook endpoint at the sandbox (the events "
                                 "the product uses) that delivers to this site, as "
                                 "dj-stripe's admin would")

    def handle(self, *args, admin_user: str, admin_password: str, webhooks_to: str | None,
               **options) -> None:
        for sku, name, description, price in PRODUCTS:
            Product.objects.update_or_create(sku=sku, defaults={
                "name": name, "description": description, "price": price, "currency": "eur",
                "active": True})
        self.stdout.write(f"{len(PRODUCTS)} demo products ready.")
        if webhooks_to:
            self._webhook_endpoint(webhooks_to)
        if not settings.DEBUG:
            raise CommandError("Refusing to create a demo admin login with DJANGO_DEBUG off; "
                               "use `manage.py createsuperuser`.")
        user, _ = get_user_model().objects.get_or_create(
            username=admin_user, defaults={"is_staff": True, "is_superuser": True})
        user.is_staff = user.is_superuser = True
        user.set_password(admin_password)
        user.save()
        self.stdout.write(f"Demo admin login: {admin_user} / {admin_password}")
        for username, group in DEMO_STAFF:
            staff, _ = get_user_model().objects.get_or_create(username=username)
            staff.is_staff, staff.is_superuser = True, False
            staff.set_password(username)
            staff.save()
            staff.groups.set([Group.objects.get(name=group)])
            self.stdout.write(f"Demo {group.lower()} login: {username} / {username}")

    def _webhook_endpoint(self, site_url: str) -> None:
        if not settings.STRIPE_API_BASE:
            raise CommandError("--webhooks-to is for the sandbox; register real Stripe's "
                               "endpoint in the admin (see README, Webhooks).")
        url = urljoin(site_url, reverse("djstripe:djstripe_webhook_by_uuid",
                                        kwargs={"uuid": DEMO_WEBHOOK_UUID}))
        existing = WebhookEndpoint.objects.filter(djstripe_uuid=DEMO_WEBHOOK_UUID).first()
        if existing is not None and existing.url == url \
                and set(existing.enabled_events or []) == set(WEBHOOK_EVENT_TYPES):
            try:
                existing.api_retrieve()  # the sandbox keeps it across restarts (state file)
                self.stdout.write(f"Webhooks deliver to {url}")
                return
            except Exception:  # dj-stripe raises Stripe's own error: the sandbox forgot it
                pass
        data = WebhookEndpoint._api_create(url=url, enabled_events=list(WEBHOOK_EVENT_TYPES),
                                           metadata={"djstripe_uuid": str(DEMO_WEBHOOK_UUID)})
        WebhookEndpoint.objects.filter(djstripe_uuid=DEMO_WEBHOOK_UUID).delete()
        endpoint = WebhookEndpoint.sync_from_stripe_data(data)
        endpoint.secret = data["secret"]  # Stripe shows it only in the creation answer
        endpoint.save()
        self.stdout.write(f"Webhooks deliver to {url}")
