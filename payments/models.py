"""The store's orders and what we know about their payments.

Money is integer minor units with a lowercase ISO currency everywhere. Statuses of a
``PaymentAttempt`` are Stripe's PaymentIntent statuses (plus ``creating`` while the
create call's outcome is unknown); they change only through
``payments.payment_status.payment_status_record``, which also appends to ``PaymentEvent``.
"""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.dispatch import Signal
from django.utils import timezone


class Product(models.Model):
    sku = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price = models.PositiveIntegerField(help_text="In minor units (cents).")
    currency = models.CharField(max_length=3, default="eur")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# Sent (after the commit) when an order becomes paid, with ``order_id``: the receipt and
# anything else that must not slow the payment down hang off it (payments/receivers.py).
order_paid = Signal()


def order_reference_new() -> str:
    return "ord_" + secrets.token_urlsafe(12)


class Order(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Awaiting payment"
        PAID = "paid", "Paid"
        CANCELED = "canceled", "Canceled"

    reference = models.CharField(max_length=24, unique=True, default=order_reference_new,
                                 editable=False)
    email = models.EmailField()
    amount = models.PositiveIntegerField(help_text="In minor units, computed from the lines.")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # A keyed hash of the placing session, so support can correlate an order with the
    # ledger's actor; never the key itself, which would let staff take over the session.
    # Access is checked against the order references kept in the session.
    session_hash = models.CharField(max_length=32, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    receipt_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return self.reference


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200, help_text="The product's name when ordered.")
    unit_price = models.PositiveIntegerField(help_text="In minor units, when ordered.")
    quantity = models.PositiveIntegerField()

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


class PaymentAttempt(models.Model):
    """One Stripe PaymentIntent of an order, as last seen."""

    class Status(models.TextChoices):
        CREATING = "creating", "Creating (outcome unknown)"
        REQUIRES_PAYMENT_METHOD = "requires_payment_method", "Requires payment method"
        REQUIRES_CONFIRMATION = "requires_confirmation", "Requires confirmation"
        REQUIRES_ACTION = "requires_action", "Requires action"
        PROCESSING = "processing", "Processing"
        REQUIRES_CAPTURE = "requires_capture", "Requires capture"
        CANCELED = "canceled", "Canceled"
        SUCCEEDED = "succeeded", "Succeeded"
        # Stripe answered "no such payment_intent" (keys or account changed): the order
        # pays with a new attempt; this one stays in the ledger.
        MISSING = "missing", "Unknown to Stripe"

    FINAL = (Status.SUCCEEDED, Status.CANCELED, Status.MISSING)

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveSmallIntegerField(help_text="1 for the order's first intent.")
    stripe_id = models.CharField(max_length=255, unique=True, null=True, blank=True,
                                 verbose_name="PaymentIntent")
    # The payment method of the create call: replayed with the same idempotency key when
    # the first call's outcome was lost, so Stripe answers with the same intent.
    create_payment_method = models.CharField(max_length=255)
    # When that create was first sent: Stripe forgets idempotency keys after 24 hours, so
    # an older create is looked up by its metadata instead of replayed.
    create_requested_at = models.DateTimeField(default=timezone.now)
    # Set when the create's answer was lost (timeout, dropped connection, Stripe 5xx):
    # Stripe may hold an intent for this attempt that we have not seen yet.
    outcome_lost_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.CREATING)
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    confirmation_method = models.CharField(max_length=16)
    # Counts the confirm calls that got an answer: part of the next confirm's idempotency key.
    confirmations = models.PositiveIntegerField(default=0)
    last_error_code = models.CharField(max_length=64, blank=True)
    last_decline_code = models.CharField(max_length=64, blank=True)
    last_error_message = models.TextField(blank=True)
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_country = models.CharField(max_length=2, blank=True)
    latest_charge = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    requires_action_at = models.DateTimeField(null=True, blank=True)
    requires_confirmation_at = models.DateTimeField(null=True, blank=True)
    final_at = models.DateTimeField(null=True, blank=True)
    # When Stripe stated the status we hold (an event's `created`, or the moment of our
    # own call): an older fact arriving late never moves the attempt back.
    status_observed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["order", "number"],
                                               name="payment_attempt_order_number")]
        indexes = [
            models.Index(fields=["status", "requires_action_at"]),
            models.Index(fields=["status", "requires_confirmation_at"]),
            models.Index(fields=["status", "final_at"]),
            models.Index(fields=["last_error_code", "updated_at"]),
            models.Index(fields=["last_decline_code", "updated_at"]),
            # The dashboard counts payments that asked for authentication in a period.
            models.Index(fields=["requires_action_at"], name="attempt_asked_auth_at",
                         condition=models.Q(requires_action_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.stripe_id or f"{self.order} attempt {self.number}"


class LedgerQuerySet(models.QuerySet):
    """Refuses the bulk writes that would bypass ``PaymentEvent.save``/``delete``; on
    PostgreSQL a trigger (migration 0003) refuses them in the database as well."""

    def update(self, **kwargs):
        raise ValidationError("The payment ledger is append-only.")

    def delete(self):
        raise ValidationError("The payment ledger is append-only.")


class PaymentEvent(models.Model):
    """Append-only ledger: one row per recorded status change of an attempt."""

    class Source(models.TextChoices):
        PAY = "pay", "Pay endpoint"
        WEBHOOK = "webhook", "Webhook"
        SCAN = "scan", "Monitoring scan"
        ADMIN = "admin", "Admin action"

    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=32)
    to_status = models.CharField(max_length=32)
    error_code = models.CharField(max_length=64, blank=True)
    decline_code = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    actor = models.CharField(max_length=255, help_text="Who reported it: a session, a user, "
                             "a Stripe event id, a task.")
    observed_at = models.DateTimeField(null=True, blank=True,
                                       help_text="When Stripe stated this fact.")
    # False for a fact that arrived after a newer one (a late webhook): kept as history,
    # it did not change the attempt.
    applied = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.attempt}: {self.from_status} → {self.to_status}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValidationError("The payment ledger is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("The payment ledger is append-only.")


class Incident(models.Model):
    """A payment in trouble, one per PaymentIntent and kind: written only by
    ``payments.monitoring``, from webhooks and scans."""

    class Kind(models.TextChoices):
        REQUIRES_ACTION_NOT_HANDLED = "requires_action_not_handled", \
            "3-D Secure not handled"
        AUTHENTICATION_FAILED = "authentication_failed", "Authentication failed"
        ACTION_ABANDONED = "action_abandoned", "Left at the bank's challenge"
        CONFIRMATION_ABANDONED = "confirmation_abandoned", "Authenticated, never confirmed"
        EXPIRED = "expired", "Expired unconfirmed"

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
    intent_created_at = models.DateTimeField(null=True, blank=True)
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
            models.Index(fields=["kind", "first_seen_at"]),  # the dashboard's period counts
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
        return f"{self.get_kind_display()}: {self.stripe_id}"


class OpsAction(models.Model):
    """One ops action as submitted: its id is the form's one-time token, so a form
    submitted twice acts once; it records who did what to how many payments."""

    class Kind(models.TextChoices):
        CONFIRM = "confirm", "Confirm now"
        SEND_LINK = "send_link", "Send authentication link"
        CANCEL = "cancel", "Cancel"
        REFRESH = "refresh", "Refresh from Stripe"

    id = models.UUIDField(primary_key=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    user = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=32, blank=True)
    requested = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    summary = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.user} at {self.created_at:%Y-%m-%d %H:%M}"


class RecoveryLink(models.Model):
    """A link mailed to a shopper to finish paying an order. The URL carries a signed,
    expiring token naming this row; the row says whether it was used."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="recovery_links")
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="recovery_links")
    email = models.EmailField()
    created_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # The session that opened it may come back to the order; a keyed hash, never the key.
    used_by_session = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Link for {self.order} to {self.email}"


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
