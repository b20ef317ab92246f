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
