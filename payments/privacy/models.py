"""What an erasure leaves behind: who erased how much, when, and a keyed hash of the
address, so a repeated request is recognised without keeping the address."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

APPEND_ONLY = "Erasure records are append-only."


class ErasureQuerySet(models.QuerySet):
    """Refuses the bulk writes that would bypass ``ErasureRecord.save``/``delete``; on
    PostgreSQL a trigger (migration 0086) refuses them in the database as well."""

    def update(self, **kwargs):
        raise ValidationError(APPEND_ONLY)

    def delete(self):
        raise ValidationError(APPEND_ONLY)


class ErasureRecord(models.Model):
    """One answered erasure request (``payments.privacy.erasure``), append-only."""

    # HMAC-SHA256 of the address in lower case, keyed with the site's secret
    # (payments.privacy.erasure.email_keyed_hash): the same address gives the same hash,
    # and the hash gives no address back.
    email_hmac = models.CharField(_("email HMAC"), max_length=64, db_index=True)
    actor = models.CharField(_("actor"), max_length=255,
                             help_text=_("Who erased it: a staff user or an operator."))
    erased_at = models.DateTimeField(_("erased at"))
    counts = models.JSONField(_("counts"), default=dict,
                              help_text=_("Rows changed, per table."))

    objects = ErasureQuerySet.as_manager()

    class Meta:
        verbose_name = _("erasure record")
        verbose_name_plural = _("erasure records")
        ordering = ["-erased_at", "-id"]

    def __str__(self) -> str:
        return f"Erasure #{self.pk} by {self.actor}, {self.erased_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValidationError(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(APPEND_ONLY)
