from django.urls import path

from payments import views

urlpatterns = [
    path("", views.store, name="store"),
    path("cart/", views.cart, name="cart"),
    path("checkout/", views.checkout_page, name="checkout"),
    path("orders/<str:reference>/", views.order, name="order"),
    path("pay", views.pay, name="pay"),
    path("recover/<str:token>/", views.recover, name="recover"),
]
