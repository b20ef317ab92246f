"""What monitoring keeps: payments in trouble (``Incident``) and the scans' own
records (runs, cursors, leases)."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from payments.checkout.models import PaymentAttempt
from payments.shop.models import Order
from payments.stripe.facts import FailureKind, money_format


class Incident(models.Model):
    """A payment in trouble, one per PaymentIntent and kind: written only by
    ``payments.monitoring.incidents``, from webhooks, scans and settled payments."""

    Kind = FailureKind  # Stripe's failure kinds, and ours (payments.stripe.facts)

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("incident status", "Open")
        RECOVERED = "recovered", _("Recovered (paid later)")
        AUTO_FINALIZED = "auto_finalized", _("Auto-finalized")
        CANCELED = "canceled", pgettext_lazy("incident status", "Canceled")
        LOST = "lost", _("Lost")

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.OPEN)
    stripe_id = models.CharField(max_length=255, verbose_name=_("PaymentIntent"))
    # Null for intents made outside this checkout (an older integration on the account).
    attempt = models.ForeignKey(PaymentAttempt, verbose_name=_("attempt"),
                                on_delete=models.PROTECT, null=True, blank=True,
                                related_name="incidents")
    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT,
                              null=True, blank=True, related_name="incidents")
    # The order's reference (which never changes), copied when the incident is opened:
    # the CSV export writes it without a look-up per row (a million rows, bench/admin.py).
    # Null without an order, or for a row older than the column that 0076 has not filled
    # yet (the export then looks it up).
    order_reference = models.CharField(_("order reference"), max_length=24, null=True,
                                       blank=True, editable=False)
    amount = models.PositiveIntegerField(_("amount"), help_text=_("In minor units."))
    currency = models.CharField(_("currency"), max_length=3)
    card_brand = models.CharField(_("card brand"), max_length=32, blank=True)
    card_last4 = models.CharField(_("card last4"), max_length=4, blank=True)
    card_country = models.CharField(_("card country"), max_length=2, blank=True)
    customer_email = models.CharField(_("customer email"), max_length=254, blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    decline_code = models.CharField(_("decline code"), max_length=64, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    intent_status = models.CharField(_("intent status"), max_length=32,
                                     help_text=_("As last seen at Stripe."))
    # When the payment was made (Stripe's `created`): what periods, the daily chart and
    # ages count by; first_seen_at is when monitoring found it (a backfill finds old ones).
    intent_created_at = models.DateTimeField(null=True, blank=True,
                                             verbose_name=_("payment made"))
    first_seen_at = models.DateTimeField(_("first seen at"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen at"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    # Our scan sent its confirm (auto-finalize) of this waiting payment. Paid later straight
    # from requires_confirmation, it was that confirm, even if its answer was lost.
    finalize_sent_at = models.DateTimeField(_("auto-finalize sent at"), null=True,
                                            blank=True, editable=False)
    source = models.CharField(_("source"), max_length=16,
                              help_text=_("What found it: webhook or scan."))

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-first_seen_at"]
        constraints = [models.UniqueConstraint(fields=["stripe_id", "kind"],
                                               name="incident_one_per_intent_and_kind")]
        indexes = [
            models.Index(fields=["status", "kind", "first_seen_at"]),
            # The list's order (-first_seen_at, then -id), and every first-seen range.
            models.Index(fields=["first_seen_at", "id"], name="incident_list_order"),
            models.Index(fields=["kind", "first_seen_at"]),
            # The dashboard's period counts, by when the payment was made.
            models.Index(fields=["intent_created_at"]),
            models.Index(fields=["kind", "intent_created_at"]),
            # The admin's search for an address (any case) and for a card's last 4
            # (IndexedSearchMixin).
            models.Index(Lower("customer_email"), name="incident_email_lower"),
            models.Index(fields=["card_last4"], name="incident_last4"),
            # The list's filters on a value few incidents may hold, in the list's order.
            models.Index(fields=["decline_code", "first_seen_at", "id"],
                         name="incident_decline_list"),
            models.Index(fields=["card_brand", "currency", "first_seen_at", "id"],
                         name="incident_brand_list"),
            models.Index(fields=["currency", "first_seen_at", "id"],
                         name="incident_currency_list"),
            # The list sorted by amount (a filter's largest payments first).
            models.Index(fields=["amount", "id"], name="incident_amount_list"),
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

    def history_name(self) -> str:
        """"ord_x1Y2z3, 51.98 EUR: Left at the bank's challenge": the incident as the
        admin's history stores it (``LogEntry.object_repr``), by its order's reference (or
        its PaymentIntent, for one made outside the checkout), never the shopper's email:
        a copy kept there would outlive the shopper's erasure."""
        subject = self.order_reference or (self.order.reference if self.order_id else "") \
            or self.stripe_id
        return f"{subject}, {money_format(amount=self.amount, currency=self.currency)}: " \
               f"{self.get_kind_display()}"

    def save(self, *args, **kwargs) -> None:
        if self.intent_created_at is None:  # not known: dated by when we found it
            self.intent_created_at = self.first_seen_at
        super().save(*args, **kwargs)


class ScanRun(models.Model):
    """One run of a monitoring scan, for the record (and the admin)."""

    class Kind(models.TextChoices):
        EVENTS = "events", _("Incremental (events)")
        STALE = "stale", _("Stale sweep")
        BACKFILL = "backfill", _("Backfill")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed (resumes next run)")
        SKIPPED = "skipped", _("Skipped (another run held the lock)")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.RUNNING)
    started_at = models.DateTimeField(_("started at"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    stripe_calls = models.PositiveIntegerField(_("stripe calls"), default=0)
    intents_seen = models.PositiveIntegerField(_("intents seen"), default=0)
    incidents_opened = models.PositiveIntegerField(_("incidents opened"), default=0)
    incidents_resolved = models.PositiveIntegerField(_("incidents resolved"), default=0)
    finalized = models.PositiveIntegerField(_("finalized"), default=0)
    errors = models.TextField(_("errors"), blank=True)

    class Meta:
        verbose_name = _("scan run")
        verbose_name_plural = _("scan runs")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class ScanCursor(models.Model):
    """Where a scan resumes: the last Stripe event seen, or a backfill's position."""

    name = models.CharField(_("name"), max_length=64, primary_key=True)
    value = models.CharField(_("value"), max_length=255, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("scan cursor")
        verbose_name_plural = _("scan cursors")

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"


class ScanLock(models.Model):
    """A lease that keeps two workers (or two beats) from running one scan at once; works
    on every database (an expired lease is taken over, so a killed worker blocks no one
    for long)."""

    name = models.CharField(_("name"), max_length=64, primary_key=True)
    holder = models.CharField(_("holder"), max_length=64)
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        verbose_name = _("scan lock")
        verbose_name_plural = _("scan locks")

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder}"


class ReconciliationRun(models.Model):
    """One comparison of Stripe's intents and charges of a window with our orders and
    attempts (``payments.monitoring.reconcile``): what was compared and what was found."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed (Stripe kept failing; nothing resolved)")
        SKIPPED = "skipped", _("Skipped (another run was under way)")

    class Trigger(models.TextChoices):
        COMMAND = "command", _("By hand (manage.py)")
        BEAT = "beat", _("Daily (beat)")
        EVENT = "event", _("After a payment made outside the checkout")

    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.RUNNING)
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    days = models.PositiveSmallIntegerField(_("days"))
    window_start = models.DateTimeField(_("window start"),
                                        help_text=_("Intents and charges created from here…"))
    window_end = models.DateTimeField(_("window end"), help_text=_("…to here (excluded)."))
    started_at = models.DateTimeField(_("started at"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    stripe_calls = models.PositiveIntegerField(_("stripe calls"), default=0)
    intents_compared = models.PositiveIntegerField(_("intents compared"), default=0)
    intents_outside = models.PositiveIntegerField(
        _("intents outside"), default=0,
        help_text=_("Intents of the window made outside this checkout (no order)."))
    charges_compared = models.PositiveIntegerField(_("charges compared"), default=0)
    attempts_compared = models.PositiveIntegerField(_("attempts compared"), default=0)
    orders_paid = models.PositiveIntegerField(_("orders paid"), default=0,
                                              help_text=_("Orders paid here in the window."))
    # Per currency, in minor units: the month's money as Stripe and the shop each hold it,
    # for an accountant to read side by side ({"eur": 123450, "jpy": 4500}).
    money_at_stripe = models.JSONField(
        _("money at Stripe"), default=dict, blank=True,
        help_text=_("What the window's charges for this shop's orders captured, per "
                    "currency (refunds apart)."))
    money_refunded = models.JSONField(
        _("money refunded"), default=dict, blank=True,
        help_text=_("Of that, what was refunded since, per currency."))
    money_here = models.JSONField(
        _("money here"), default=dict, blank=True,
        help_text=_("The amounts of the orders paid here in the window, per currency (the "
                    "Orders list's totals with its Paid filter on the same days)."))
    mismatches_found = models.PositiveIntegerField(_("mismatches found"), default=0)
    mismatches_new = models.PositiveIntegerField(_("mismatches new"), default=0)
    mismatches_resolved = models.PositiveIntegerField(_("mismatches resolved"), default=0)
    mailed = models.PositiveIntegerField(_("mailed"), default=0, help_text=_("Ops mails sent."))
    errors = models.TextField(_("errors"), blank=True)

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Reconciliation #{self.pk} of {self.days} day{'s' if self.days != 1 else ''}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class ReconciliationMismatch(models.Model):
    """A difference between Stripe and us, one per finding (kind and subject): a later
    run that finds it again updates it; one whose window covers it and does not find it
    marks it resolved."""

    class Kind(models.TextChoices):
        CHARGED_TWICE = "charged_twice", _("Charged twice")
        PAID_AT_STRIPE_ONLY = "paid_at_stripe_only", _("Paid at Stripe, not here")
        PAID_HERE_ONLY = "paid_here_only", _("Paid here, not at Stripe")
        AMOUNT_DIFFERS = "amount_differs", _("Amount differs")
        STATUS_DIFFERS = "status_differs", _("Status differs")

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    # What the finding is about: the order (charged twice; paid here without an intent)
    # or the PaymentIntent; with kind, it names the finding once.
    subject = models.CharField(_("subject"), max_length=255)
    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT,
                              null=True, blank=True, related_name="mismatches")
    attempt = models.ForeignKey(PaymentAttempt, verbose_name=_("attempt"),
                                on_delete=models.PROTECT, null=True, blank=True,
                                related_name="mismatches")
    stripe_id = models.CharField(max_length=255, blank=True, verbose_name=_("PaymentIntent"))
    charge_ids = models.JSONField(_("charge ids"), default=list, blank=True,
                                  help_text=_("The charges that took the shopper's money."))
    amount_here = models.PositiveIntegerField(_("amount here"), null=True, blank=True,
                                              help_text=_("The order's, in minor units."))
    amount_at_stripe = models.PositiveIntegerField(
        _("amount at stripe"), null=True, blank=True,
        help_text=_("Taken at Stripe, in minor units."))
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    status_here = models.CharField(_("status here"), max_length=32, blank=True)
    status_at_stripe = models.CharField(_("status at stripe"), max_length=32, blank=True)
    # When the payment was made (the intent's or the order's creation): a run whose
    # window holds this moment and does not find the mismatch resolves it.
    occurred_at = models.DateTimeField(verbose_name=_("payment made"))
    first_run = models.ForeignKey(ReconciliationRun, verbose_name=_("first run"),
                                  on_delete=models.PROTECT,
                                  related_name="mismatches_first_found")
    last_run = models.ForeignKey(ReconciliationRun, verbose_name=_("last run"),
                                 on_delete=models.PROTECT,
                                 related_name="mismatches_last_found")
    first_found_at = models.DateTimeField(_("first found at"), default=timezone.now)
    last_found_at = models.DateTimeField(_("last found at"), default=timezone.now)
    resolved = models.BooleanField(_("resolved"), default=False)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    mailed_at = models.DateTimeField(_("mailed at"), null=True, blank=True,
                                     help_text=_("When ops were mailed about it."))

    class Meta:
        verbose_name = _("reconciliation mismatch")
        ordering = ["resolved", "-first_found_at"]
        verbose_name_plural = _("reconciliation mismatches")
        constraints = [models.UniqueConstraint(fields=["kind", "subject"],
                                               name="mismatch_one_per_finding")]
        indexes = [models.Index(fields=["resolved", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"
