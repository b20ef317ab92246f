"""What ops did to recover payments (``OpsAction``), and the links mailed to shoppers
to finish paying (``RecoveryLink``)."""

from __future__ import annotations

from django.db import models

from payments.monitoring.models import Incident
from payments.shop.models import Order


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
