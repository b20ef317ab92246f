from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from payments.shop.cart import MAX_QUANTITY


class CartLineForm(forms.Form):
    sku = forms.SlugField(max_length=50, label=_("Product"))
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, initial=1,
                                  label=_("Quantity"))


class CheckoutForm(forms.Form):
    # 254: what the Order.email column holds (RFC 5321's path limit); Django's form field
    # would accept 320 and the database would then refuse it.
    email = forms.EmailField(max_length=254, label=_("Email"),
                             help_text=_("Your receipt goes to this address."),
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))

    def full_clean(self) -> None:
        super().full_clean()
        # A refused field takes the focus when the page comes back: the keyboard is there,
        # and a screen reader reads its label with its error (aria-describedby).
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["autofocus"] = True
                break
