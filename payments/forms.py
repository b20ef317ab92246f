from __future__ import annotations

from django import forms

from payments.cart import MAX_QUANTITY


class CartLineForm(forms.Form):
    sku = forms.SlugField(max_length=50)
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, initial=1)


class CheckoutForm(forms.Form):
    email = forms.EmailField(help_text="For the receipt, and a link to finish if a payment "
                             "is interrupted.")
