"""The shop's products and orders.

Money is integer minor units with a lowercase ISO currency everywhere (Stripe's way:
``payments.stripe.facts``). An order's status changes to paid only through the checkout's
status record (``payments.checkout.status``); a paid order without ``receipt_sent_at`` is
a receipt due (the order row is the receipt's outbox: ``payments.mail.receipts``).
"""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from payments.stripe.facts import amount_unchargeable, currencies_in_use


def _currency_in_use(value: str) -> None:
    if len(value) == 3 and value.isalpha() and value not in currencies_in_use():
        raise ValidationError(_("%(code)s is not a currency any country pays with today "
                                "(ISO 4217). Enter one such as EUR."),
                              code="invalid", params={"code": value.upper()})


class CurrencyField(models.CharField):
    """A three-letter ISO currency code, kept in lower case as Stripe answers with it:
    "EUR" typed in the admin is stored "eur", so an order's currency equals its intent's
    (the status record pays an order only for its own amount and currency)."""

    default_validators = [RegexValidator(
        r"^[a-z]{3}\Z", _("Enter a three-letter ISO currency code, such as EUR.")),
        _currency_in_use]

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", 3)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return value.strip().lower() if isinstance(value, str) else value

    def pre_save(self, model_instance: models.Model, add: bool):
        value = self.to_python(getattr(model_instance, self.attname))
        setattr(model_instance, self.attname, value)
        return value


class Product(models.Model):
    sku = models.SlugField(_("sku"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    price = models.PositiveIntegerField(_("price"), help_text=_(
        "In the currency's minor units, as Stripe charges it: 25.99 EUR is 2599, 500 JPY is "
        "500, 5.120 KWD is 5120."))
    currency = CurrencyField(_("currency"), default="eur")
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # A price Stripe would refuse to charge (5.125 KWD) would fail every checkout.
        problem = amount_unchargeable(amount=self.price or 0, currency=self.currency or "")
        if problem:
            raise ValidationError({"price": problem})


def order_reference_new() -> str:
    return "ord_" + secrets.token_urlsafe(12)


class Order(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Awaiting payment")
        PAID = "paid", _("Paid")
        CANCELED = "canceled", _("Canceled")

    reference = models.CharField(_("reference"), max_length=24, unique=True,
                                 default=order_reference_new,
                                 editable=False)
    # Blank once the shopper's data is erased (``erased_at``; payments.privacy).
    email = models.EmailField(_("email"), blank=True)
    amount = models.PositiveIntegerField(_("amount"),
                                         help_text=_("In minor units, computed from the lines."))
    currency = CurrencyField(_("currency"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.OPEN)
    # A keyed hash of the placing session, so support can correlate an order with the
    # ledger's actor; never the key itself, which would let staff take over the session.
    # Access is checked against the order references kept in the session.
    session_hash = models.CharField(_("session hash"), max_length=32, blank=True, db_index=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    receipt_sent_at = models.DateTimeField(_("receipt sent at"), null=True, blank=True)
    # The mail server refused the receipt this often; the drain waits until
    # receipt_retry_at before the next try, so refused addresses cannot hold the queue.
    receipt_refusals = models.PositiveSmallIntegerField(_("receipt refusals"), default=0)
    receipt_retry_at = models.DateTimeField(_("receipt retry at"), null=True, blank=True)
    # The shopper's language when ordering (settings.LANGUAGES): the receipt and a
    # recovery link's mail are written in it.
    language = models.CharField(_("language"), max_length=7, default="en")
    # When the shopper's personal data was erased on request (payments.privacy): the email
    # and session hash blanked; amount, lines, dates and Stripe ids stay (the accounting
    # record), and no receipt goes out any more.
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"]),
                   # The admin's list order (-created_at, then -id), newest first and to
                   # page 1000 (bench/admin.py: 10,000,000 orders).
                   models.Index(fields=["created_at", "id"], name="order_list_order"),
                   # The admin's search for an address, in any case (IndexedSearchMixin).
                   models.Index(Lower("email"), name="order_email_lower"),
                   # The receipt's outbox: the drain's query reads only the receipts due.
                   models.Index(fields=["paid_at", "id"], name="order_receipt_due",
                                condition=models.Q(status="paid",
                                                   receipt_sent_at__isnull=True)),
                   # The list's "paid" filter and its totals: a month of paid orders
                   # without reading the others.
                   models.Index(fields=["paid_at", "id"], name="order_paid_list",
                                condition=models.Q(paid_at__isnull=False))]
        # The accountant's CSV of a period's orders (Admin → Orders → Export CSV).
        permissions = [("export_order", "Can export orders")]

    def __str__(self) -> str:
        return self.reference


class OrderLine(models.Model):
    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE,
                              related_name="lines")
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.PROTECT,
                                related_name="+")
    name = models.CharField(_("name"), max_length=200,
                            help_text=_("The product's name when ordered."))
    unit_price = models.PositiveIntegerField(_("unit price"),
                                             help_text=_("In minor units, when ordered."))
    quantity = models.PositiveIntegerField(_("quantity"))

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity
