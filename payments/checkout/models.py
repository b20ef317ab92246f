"""What we know about an order's payments: one ``PaymentAttempt`` per Stripe
PaymentIntent, and the append-only ledger of their status changes (``PaymentEvent``).

Statuses of an attempt are Stripe's PaymentIntent statuses (plus ``creating`` while the
create call's outcome is unknown, and ``missing`` when Stripe no longer knows the intent);
they change only in ``payments.checkout.status``, which also writes the ledger. The
checkout's services write an attempt's create fields (the card, when it was sent,
whether its answer was lost) and count confirm calls; nothing else writes attempts.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from payments.shop.models import Order
from payments.stripe import facts


class AttemptQuerySet(models.QuerySet):
    def expiring(self, *, now: datetime) -> AttemptQuerySet:
        """Attempts Stripe will fail for want of our second confirm, and has not yet: the
        database's reading of ``PaymentAttempt.expires_at``, the one expiry rule."""
        return self.filter(status=PaymentAttempt.Status.REQUIRES_CONFIRMATION,
                           requires_confirmation_at__gt=now - facts.CONFIRMATION_WINDOW,
                           requires_confirmation_at__lte=now)


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

    objects = AttemptQuerySet.as_manager()

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
            # The admin's list order (-created_at, then -id; bench/admin.py).
            models.Index(fields=["created_at", "id"], name="attempt_list_order"),
        ]

    def __str__(self) -> str:
        return self.stripe_id or f"{self.order} attempt {self.number}"

    @property
    def expires_at(self) -> datetime | None:
        """When Stripe fails this payment for want of our second confirm: an hour after
        it passed the bank's challenge, while it waits for that confirm; None otherwise."""
        if self.status != self.Status.REQUIRES_CONFIRMATION:
            return None
        return facts.confirmation_expires_at(passed_challenge_at=self.requires_confirmation_at)


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
    # Why, when the row is our decision rather than Stripe's fact (an attempt superseded).
    note = models.CharField(max_length=255, blank=True)
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


class DailyTotal(models.Model):
    """The dashboard's numbers per day, kept by the writers in their own transactions:
    the status record (attempts sent to the bank's challenge, ``payments.checkout.totals``)
    and the incidents' writer (``payments.monitoring.totals``), so a page sums a few
    thousand of these rows instead of counting millions of incidents and attempts.
    ``day`` is a day of the site's time zone (the dashboard's periods are whole days of
    it); what ``measure``, ``value`` and ``status`` hold is said where they are written."""

    day = models.DateField()
    currency = models.CharField(max_length=3)
    measure = models.CharField(max_length=16)
    value = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, blank=True)
    count = models.IntegerField(default=0)
    amount = models.BigIntegerField(default=0, help_text="In minor units of ``currency``.")

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["measure", "day", "currency", "value", "status"], name="daily_total_once")]

    def __str__(self) -> str:
        return f"{self.day} {self.currency} {self.measure}={self.value} {self.status}: " \
               f"{self.count}"
