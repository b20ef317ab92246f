"""The shopper's addresses, each served by its room's views."""

from django.urls import path

from payments.checkout import views as checkout_views
from payments.checkout.selectors import order_payments_unsettled
from payments.recovery import views as recovery_views
from payments.shop import views as shop_views

urlpatterns = [
    path("", shop_views.store, name="store"),
    # The shop's pages learn of a payment sent and unsettled from the checkout, above it.
    path("cart/", shop_views.cart, {"payments_unsettled": order_payments_unsettled},
         name="cart"),
    path("checkout/", shop_views.checkout_page, name="checkout"),
    path("orders/<str:reference>/", shop_views.order,
         {"payments_unsettled": order_payments_unsettled}, name="order"),
    # The receipt's link; the token is redacted in logs (paymentsite/logging.py).
    path("order-status/<str:token>/", shop_views.order_status, name="order_status"),
    path("pay", checkout_views.pay, name="pay"),
    path("recover/<str:token>/", recovery_views.recover, name="recover"),
]
