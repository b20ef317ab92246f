"""Demo data for the offline store: a few products and, with DEBUG on, an admin login."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from payments.models import Product

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

    def handle(self, *args, admin_user: str, admin_password: str, **options) -> None:
        for sku, name, description, price in PRODUCTS:
            Product.objects.update_or_create(sku=sku, defaults={
                "name": name, "description": description, "price": price, "currency": "eur",
                "active": True})
        self.stdout.write(f"{len(PRODUCTS)} demo products ready.")
        if not settings.DEBUG:
            raise CommandError("Refusing to create a demo admin login with DJANGO_DEBUG off; "
                               "use `manage.py createsuperuser`.")
        user, _ = get_user_model().objects.get_or_create(
            username=admin_user, defaults={"is_staff": True, "is_superuser": True})
        user.is_staff = user.is_superuser = True
        user.set_password(admin_password)
        user.save()
        self.stdout.write(f"Demo admin login: {admin_user} / {admin_password}")
