"""Set a webhook endpoint's signing secret: ``manage.py webhook_secret_set [--endpoint
UUID]``, the secret read from the terminal (hidden) or from standard input, never from
the command line (shell histories and process lists keep those).

For a secret rolled in Stripe's Dashboard, or an endpoint made there: dj-stripe's admin
shows no field for it. Thin: reads the secret, runs the service, says what it did.
"""

from __future__ import annotations

import getpass
import sys
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from payments.stripe.webhooks import webhook_endpoint_find, webhook_endpoint_secret_set


class Command(BaseCommand):
    help = ("Set a webhook endpoint's signing secret (whsec_…), read from the terminal or "
            "standard input; --endpoint names the endpoint's uuid when there are several.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--endpoint", type=uuid.UUID, metavar="UUID",
                            help="the endpoint's uuid (Admin > Dj-Stripe > Webhook endpoints)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            webhook_endpoint_find(endpoint_uuid=options["endpoint"])
        except ValueError as error:
            raise CommandError(str(error)) from error
        if sys.stdin.isatty():
            secret = getpass.getpass("Signing secret (whsec_…, not shown): ")
        else:
            secret = sys.stdin.readline()
        try:
            endpoint = webhook_endpoint_secret_set(secret=secret,
                                                   endpoint_uuid=options["endpoint"])
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Endpoint {endpoint.djstripe_uuid} ({endpoint.url}): secret set. "
                          "This process uses it now; the site's other processes at the "
                          "first delivery the old one fails, or within a minute.")
