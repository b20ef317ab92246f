from __future__ import annotations

from django import forms

from payments.shop.cart import MAX_QUANTITY


class CartLineForm(forms.Form):
    sku = forms.SlugField(max_length=50)
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, initial=1)


class CheckoutForm(forms.Form):
    # 254: what the Order.email column holds (RFC 5321's path limit); Django's form field
    # would accept 320 and the database would then refuse it.
    email = forms.EmailField(max_length=254, help_text="Your receipt goes to this address.")
