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
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

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
        CREATING = "creating", _("Creating (outcome unknown)")
        REQUIRES_PAYMENT_METHOD = "requires_payment_method", _("Requires payment method")
        REQUIRES_CONFIRMATION = "requires_confirmation", _("Requires confirmation")
        REQUIRES_ACTION = "requires_action", _("Requires action")
        PROCESSING = "processing", _("Processing")
        REQUIRES_CAPTURE = "requires_capture", _("Requires capture")
        CANCELED = "canceled", pgettext_lazy("payment status", "Canceled")
        SUCCEEDED = "succeeded", _("Succeeded")
        # Stripe answered "no such payment_intent" (keys or account changed): the order
        # pays with a new attempt; this one stays in the ledger.
        MISSING = "missing", _("Unknown to Stripe")

    FINAL = (Status.SUCCEEDED, Status.CANCELED, Status.MISSING)

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT,
                              related_name="attempts")
    number = models.PositiveSmallIntegerField(_("number"),
                                              help_text=_("1 for the order's first intent."))
    stripe_id = models.CharField(max_length=255, unique=True, null=True, blank=True,
                                 verbose_name=_("PaymentIntent"))
    # The payment method of the create call: replayed with the same idempotency key when
    # the first call's outcome was lost, so Stripe answers with the same intent.
    create_payment_method = models.CharField(_("create payment method"), max_length=255)
    # When that create was first sent: Stripe forgets idempotency keys after 24 hours, so
    # an older create is looked up by its metadata instead of replayed.
    create_requested_at = models.DateTimeField(_("create requested at"), default=timezone.now)
    # Set when the create's answer was lost (timeout, dropped connection, Stripe 5xx):
    # Stripe may hold an intent for this attempt that we have not seen yet.
    outcome_lost_at = models.DateTimeField(_("outcome lost at"), null=True, blank=True)
    # Set when Stripe answered the create with a server error it keeps under the key
    # (gateway.StripeUnavailable.key_spent): replaying the key only repeats the error, so
    # the sweep lists the intents made around then to learn whether it made one.
    create_key_spent_at = models.DateTimeField(_("create key spent at"), null=True,
                                               blank=True)
    status = models.CharField(_("status"), max_length=32, choices=Status.choices,
                              default=Status.CREATING)
    amount = models.PositiveIntegerField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3)
    confirmation_method = models.CharField(_("confirmation method"), max_length=16)
    # Counts the confirm calls that got an answer: part of the next confirm's idempotency key.
    confirmations = models.PositiveIntegerField(_("confirmations"), default=0)
    last_error_code = models.CharField(_("last error code"), max_length=64, blank=True)
    last_decline_code = models.CharField(_("last decline code"), max_length=64, blank=True)
    last_error_message = models.TextField(_("last error message"), blank=True)
    card_brand = models.CharField(_("card brand"), max_length=32, blank=True)
    card_last4 = models.CharField(_("card last4"), max_length=4, blank=True)
    card_country = models.CharField(_("card country"), max_length=2, blank=True)
    latest_charge = models.CharField(_("latest charge"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    requires_action_at = models.DateTimeField(_("requires action at"), null=True, blank=True)
    requires_confirmation_at = models.DateTimeField(_("requires confirmation at"), null=True,
                                                    blank=True)
    final_at = models.DateTimeField(_("final at"), null=True, blank=True)
    # When Stripe stated the status we hold (an event's `created`, or the moment of our
    # own call): an older fact arriving late never moves the attempt back.
    status_observed_at = models.DateTimeField(_("status observed at"), null=True, blank=True)

    objects = AttemptQuerySet.as_manager()

    class Meta:
        verbose_name = _("payment attempt")
        verbose_name_plural = _("payment attempts")
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
            # The admin's search by a card's last 4 digits (attempts, orders): 0092.
            models.Index(fields=["card_last4"], name="attempt_last4"),
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
        PAY = "pay", _("Pay endpoint")
        WEBHOOK = "webhook", _("Webhook")
        SCAN = "scan", _("Monitoring scan")
        ADMIN = "admin", _("Admin action")
        # The shopper's page of a link ops mailed (payments.recovery.links).
        RECOVERY_LINK = "recovery_link", _("Payment link")

    attempt = models.ForeignKey(PaymentAttempt, verbose_name=_("attempt"),
                                on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(_("from status"), max_length=32)
    to_status = models.CharField(_("to status"), max_length=32)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    decline_code = models.CharField(_("decline code"), max_length=64, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    actor = models.CharField(_("actor"), max_length=255,
                             help_text=_("Who reported it: a session, a user, "
                                         "a Stripe event id, a task."))
    observed_at = models.DateTimeField(_("observed at"), null=True, blank=True,
                                       help_text=_("When Stripe stated this fact."))
    # False for a fact that arrived after a newer one (a late webhook): kept as history,
    # it did not change the attempt.
    applied = models.BooleanField(_("applied"), default=True)
    # Why, when the row is our decision rather than Stripe's fact (an attempt superseded).
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        verbose_name = _("payment event")
        verbose_name_plural = _("payment events")
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

    day = models.DateField(_("day"))
    currency = models.CharField(_("currency"), max_length=3)
    measure = models.CharField(_("measure"), max_length=16)
    value = models.CharField(_("value"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=16, blank=True)
    count = models.IntegerField(_("count"), default=0)
    amount = models.BigIntegerField(_("amount"), default=0,
                                    help_text=_("In minor units of ``currency``."))

    class Meta:
        verbose_name = _("daily total")
        verbose_name_plural = _("daily totals")
        constraints = [models.UniqueConstraint(
            fields=["measure", "day", "currency", "value", "status"], name="daily_total_once")]

    def __str__(self) -> str:
        return f"{self.day} {self.currency} {self.measure}={self.value} {self.status}: " \
               f"{self.count}"
