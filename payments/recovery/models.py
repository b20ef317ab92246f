"""What ops did to recover payments (``OpsAction``, one ``OpsActionItem`` per payment),
and the links mailed to shoppers to finish paying (``RecoveryLink``)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.formats import date_format

from payments.monitoring.models import Incident
from payments.shop.models import Order


class OpsAction(models.Model):
    """One ops action: issued with its confirmation page (its id is the page's one-time
    token, made here, never by the browser), then submitted once and run, in the request
    for one payment or as a Celery job for several. Its items are the payments the page
    showed, each with its result; it records who did what to how many payments."""

    class Kind(models.TextChoices):
        CONFIRM = "confirm", "Confirm now"
        SEND_LINK = "send_link", "Send authentication link"
        CANCEL = "cancel", "Cancel"
        REFRESH = "refresh", "Refresh from Stripe"

    class Status(models.TextChoices):
        ISSUED = "issued", "Shown, not submitted"
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "At work"
        DONE = "done", "Done"
        FAILED = "failed", "Stopped by an error"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ISSUED)
    user = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=32, blank=True)
    requested = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    summary = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)  # the page shown
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        """"Confirm now by olga, 6 Dec 2026 10:32 UTC" (the site's time zone, named)."""
        at = date_format(timezone.localtime(self.submitted_at or self.created_at),
                         "j M Y H:i T")
        return f"{self.get_kind_display()} by {self.user}, {at}"


class OpsActionItem(models.Model):
    """One payment of an ops action: as its confirmation page showed it (``version``), and
    what the action did to it."""

    class Result(models.TextChoices):
        PENDING = "pending", "Waiting"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    ops_action = models.ForeignKey(OpsAction, on_delete=models.CASCADE, related_name="items")
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="ops_items")
    position = models.PositiveIntegerField(default=0)
    version = models.CharField(max_length=255)
    result = models.CharField(max_length=16, choices=Result.choices, default=Result.PENDING)
    detail = models.CharField(max_length=255, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["ops_action", "position"]
        constraints = [models.UniqueConstraint(fields=["ops_action", "incident"],
                                               name="ops_action_item_once")]

    def __str__(self) -> str:
        return f"{self.ops_action}: {self.incident}"


class RecoveryLink(models.Model):
    """A link mailed to a shopper to finish paying an order. The URL carries a signed,
    expiring token naming this row. It works until the order is paid or it expires;
    opening it (any GET, a mail scanner's too) is only counted, and the page's script,
    in a browser, uses it."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="recovery_links")
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="recovery_links")
    email = models.EmailField()
    created_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    # First opened (a GET: the shopper, or a mail provider's link scanner), and how often.
    opened_at = models.DateTimeField(null=True, blank=True)
    open_count = models.PositiveIntegerField(default=0)
    # First used in a browser: the page's script took the order into its session.
    used_at = models.DateTimeField(null=True, blank=True)
    # The last session that used it; a keyed hash, never the key.
    used_by_session = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Link for {self.order} to {self.email}"

    def progress(self) -> list[tuple[str, object]]:
        """What became of it since it was sent, in order: (step, when) for opened, used in
        a browser and paid through it (the order paid after it was used); the steps not
        taken yet are left out."""
        paid = self.order.paid_at if self.used_at and self.order.paid_at and \
            self.order.paid_at >= self.used_at else None
        steps = [("opened", self.opened_at), ("used", self.used_at), ("paid", paid)]
        return [(step, at) for step, at in steps if at is not None]
