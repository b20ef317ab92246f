"""What ops did to recover payments (``OpsAction``, one ``OpsActionItem`` per payment),
and the links mailed to shoppers to finish paying (``RecoveryLink``)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from payments.monitoring.models import Incident
from payments.shop.models import Order


class OpsAction(models.Model):
    """One ops action: issued with its confirmation page (its id is the page's one-time
    token, made here, never by the browser), then submitted once and run, in the request
    for one payment or as a Celery job for several. Its items are the payments the page
    showed, each with its result; it records who did what to how many payments."""

    class Kind(models.TextChoices):
        CONFIRM = "confirm", _("Confirm now")
        SEND_LINK = "send_link", _("Send authentication link")
        CANCEL = "cancel", _("Cancel")
        REFRESH = "refresh", _("Refresh from Stripe")

    class Status(models.TextChoices):
        ISSUED = "issued", _("Shown, not submitted")
        QUEUED = "queued", _("Waiting for a worker")
        RUNNING = "running", _("At work")
        DONE = "done", _("Done")
        FAILED = "failed", _("Stopped by an error")
        STOPPED = "stopped", _("Stopped by ops")

    id = models.UUIDField(_("id"), primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.ISSUED)
    user = models.ForeignKey("auth.User", verbose_name=_("user"), on_delete=models.PROTECT,
                             related_name="+")
    reason = models.CharField(_("reason"), max_length=32, blank=True)
    requested = models.PositiveIntegerField(_("requested"), default=0)
    done = models.PositiveIntegerField(_("done"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    summary = models.TextField(_("summary"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True,
                                      db_index=True)  # the page shown
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Stop pressed on its progress page: the payment at work finishes, the rest are left
    # as they were (``recovery_stop``).
    stop_requested_at = models.DateTimeField(_("stop requested at"), null=True, blank=True)
    stop_requested_by = models.ForeignKey(
        "auth.User", verbose_name=_("stop requested by"), on_delete=models.PROTECT,
        related_name="+", null=True, blank=True)

    class Meta:
        verbose_name = _("ops action")
        verbose_name_plural = _("ops actions")
        ordering = ["-created_at"]
        # The admin's list: newest submitted first.
        indexes = [models.Index(fields=["submitted_at", "created_at"],
                                name="ops_action_submitted")]

    def __str__(self) -> str:
        """"Confirm now by olga, 6 Dec 2026 10:32 UTC" (the site's time zone, named)."""
        local = timezone.localtime(self.submitted_at or self.created_at)
        # Its zone named by Python, which tells the hour that happens twice apart (Django's
        # "T" is empty then).
        at = f"{date_format(local, 'j M Y H:i')} {local.tzname()}"
        return f"{self.get_kind_display()} by {self.user}, {at}"


class OpsActionItem(models.Model):
    """One payment of an ops action: as its confirmation page showed it (``version``), and
    what the action did to it."""

    class Result(models.TextChoices):
        PENDING = "pending", _("Waiting")
        DONE = "done", _("Done")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    ops_action = models.ForeignKey(OpsAction, verbose_name=_("ops action"),
                                   on_delete=models.CASCADE, related_name="items")
    incident = models.ForeignKey(Incident, verbose_name=_("incident"), on_delete=models.PROTECT,
                                 related_name="ops_items")
    position = models.PositiveIntegerField(_("position"), default=0)
    version = models.CharField(_("version"), max_length=255)
    result = models.CharField(_("result"), max_length=16, choices=Result.choices,
                              default=Result.PENDING)
    detail = models.CharField(_("detail"), max_length=255, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("ops action item")
        verbose_name_plural = _("ops action items")
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

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT,
                              related_name="recovery_links")
    incident = models.ForeignKey(Incident, verbose_name=_("incident"), on_delete=models.PROTECT,
                                 null=True, blank=True,
                                 related_name="recovery_links")
    email = models.EmailField(_("email"), blank=True)  # blank once erased (payments.privacy)
    created_by = models.ForeignKey("auth.User", verbose_name=_("created by"),
                                   on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    # First opened (a GET: the shopper, or a mail provider's link scanner), and how often.
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    open_count = models.PositiveIntegerField(_("open count"), default=0)
    # First used in a browser: the page's script took the order into its session.
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    # The last session that used it; a keyed hash, never the key.
    used_by_session = models.CharField(_("used by session"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("recovery link")
        verbose_name_plural = _("recovery links")
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
