"""What monitoring keeps: payments in trouble (``Incident``) and the scans' own
records (runs, cursors, leases)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from payments.checkout.models import PaymentAttempt
from payments.shop.models import Order
from payments.stripe.facts import FailureKind, money_format


class Incident(models.Model):
    """A payment in trouble, one per PaymentIntent and kind: written only by
    ``payments.monitoring.incidents``, from webhooks, scans and settled payments."""

    Kind = FailureKind  # Stripe's failure kinds, and ours (payments.stripe.facts)

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RECOVERED = "recovered", "Recovered (paid later)"
        AUTO_FINALIZED = "auto_finalized", "Auto-finalized"
        CANCELED = "canceled", "Canceled"
        LOST = "lost", "Lost"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    stripe_id = models.CharField(max_length=255, verbose_name="PaymentIntent")
    # Null for intents made outside this checkout (an older integration on the account).
    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, null=True,
                                blank=True, related_name="incidents")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="incidents")
    amount = models.PositiveIntegerField(help_text="In minor units.")
    currency = models.CharField(max_length=3)
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_country = models.CharField(max_length=2, blank=True)
    customer_email = models.CharField(max_length=254, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    decline_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    intent_status = models.CharField(max_length=32, help_text="As last seen at Stripe.")
    # When the payment was made (Stripe's `created`): what periods, the daily chart and
    # ages count by; first_seen_at is when monitoring found it (a backfill finds old ones).
    intent_created_at = models.DateTimeField(null=True, blank=True,
                                             verbose_name="payment made")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, help_text="What found it: webhook or scan.")

    class Meta:
        ordering = ["-first_seen_at"]
        constraints = [models.UniqueConstraint(fields=["stripe_id", "kind"],
                                               name="incident_one_per_intent_and_kind")]
        indexes = [
            models.Index(fields=["status", "kind", "first_seen_at"]),
            models.Index(fields=["first_seen_at"]),
            models.Index(fields=["kind", "first_seen_at"]),
            # The dashboard's period counts, by when the payment was made.
            models.Index(fields=["intent_created_at"]),
            models.Index(fields=["kind", "intent_created_at"]),
        ]
        # Per action, so a merchant can see everything and an ops person can also act.
        permissions = [
            ("view_dashboard", "Can view the failed payments dashboard"),
            ("export_incident", "Can export failed payments as CSV"),
            ("confirm_payment", "Can confirm an authenticated payment"),
            ("send_recovery_link", "Can send a shopper a link to finish paying"),
            ("cancel_payment", "Can cancel a payment and its order"),
            ("refresh_payment", "Can refresh a payment from Stripe"),
        ]

    def __str__(self) -> str:
        """"anna@example.com, 51.98 EUR: Left at the bank's challenge": who, how much,
        what (the admin's titles, history and breadcrumbs)."""
        who = self.customer_email or "no email"
        return f"{who}, {money_format(amount=self.amount, currency=self.currency)}: " \
               f"{self.get_kind_display()}"

    def save(self, *args, **kwargs) -> None:
        if self.intent_created_at is None:  # not known: dated by when we found it
            self.intent_created_at = self.first_seen_at
        super().save(*args, **kwargs)


class ScanRun(models.Model):
    """One run of a monitoring scan, for the record (and the admin)."""

    class Kind(models.TextChoices):
        EVENTS = "events", "Incremental (events)"
        STALE = "stale", "Stale sweep"
        BACKFILL = "backfill", "Backfill"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed (resumes next run)"
        SKIPPED = "skipped", "Skipped (another run held the lock)"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    stripe_calls = models.PositiveIntegerField(default=0)
    intents_seen = models.PositiveIntegerField(default=0)
    incidents_opened = models.PositiveIntegerField(default=0)
    incidents_resolved = models.PositiveIntegerField(default=0)
    finalized = models.PositiveIntegerField(default=0)
    errors = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class ScanCursor(models.Model):
    """Where a scan resumes: the last Stripe event seen, or a backfill's position."""

    name = models.CharField(max_length=64, primary_key=True)
    value = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"


class ScanLock(models.Model):
    """A lease that keeps two workers (or two beats) from running one scan at once; works
    on every database (an expired lease is taken over, so a killed worker blocks no one
    for long)."""

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder}"
