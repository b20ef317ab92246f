"""Signing in to the admin as befits people who can move money.

- A second factor, a six-digit code from an authenticator app (django-otp's TOTP), after
  the password, for users who can move money: superusers and holders of the ops
  permissions (and of the permissions that grant them). ``ADMIN_SECOND_FACTOR_REQUIRED``
  turns it on (the default with DEBUG off). The first sign-in enrols the app: the page
  shows a QR code and the key, and the first good code confirms it. An administrator
  resets a lost phone by deleting the user's device (Admin -> TOTP devices).
- django-axes counts failed passwords per username and client address and locks the pair
  out (``lockout_response`` says so in words); an administrator unlocks it.
- A staff sign-in lasts ``ADMIN_SESSION_SECONDS`` (a working day), whatever Django's
  two weeks for shoppers.
"""

from __future__ import annotations

from base64 import b32encode
from datetime import timedelta

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from payments.checkout.throttle import address_block
from payments.mail.messages import in_words
from payments.recovery.actions import ACTION_PERMISSIONS

# Whoever holds one of these can move money, or give themselves the right to, or set what
# shoppers pay (products). Every ops action's permission, taken from the actions, so that
# a new action cannot be left out (a newcomer's was: its holder signed in without one).
MONEY_PERMISSIONS = (*(f"payments.{codename}" for codename in ACTION_PERMISSIONS.values()),
                     "auth.change_user", "auth.change_group", "auth.change_permission",
                     "payments.add_product", "payments.change_product")
# Any write here is as good: the monitoring's schedules and intervals (paused or slowed),
# the authenticators (one removed, the next sign-in enrols a new one with the password
# alone), dj-stripe's webhook endpoints (a changed secret refuses every delivery) and API
# keys.
GUARDED_APPS = ("django_celery_beat", "otp_totp")
GUARDED_MODELS = ("djstripe.webhookendpoint", "djstripe.apikey")
DEVICE_NAME = "Authenticator app"


def second_factor_required(*, user) -> bool:
    """Whether ``user`` must give a one-time code after the password."""
    if not settings.ADMIN_SECOND_FACTOR_REQUIRED or not user.is_authenticated:
        return False
    return user.is_superuser or any(_guarded(name) for name in user.get_all_permissions())


def _guarded(permission: str) -> bool:
    app, _, codename = permission.partition(".")
    action, _, model = codename.partition("_")
    return permission in MONEY_PERMISSIONS or (action != "view" and (
        app in GUARDED_APPS or f"{app}.{model}" in GUARDED_MODELS))


def second_factor_pending(*, user) -> bool:
    """Signed in with the password, the code still owed. (A user just signed in, not yet
    seen by django-otp's middleware, has given no code.)"""
    verified = getattr(user, "is_verified", None)
    return second_factor_required(user=user) and not (verified and verified())


def second_factor_device(*, user) -> TOTPDevice:
    """The user's confirmed authenticator, else the one being enrolled (made now)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is not None:
        return device
    device, _ = TOTPDevice.objects.get_or_create(user=user, confirmed=False,
                                                 defaults={"name": DEVICE_NAME})
    return device


def second_factor_verify(*, request: HttpRequest, token: str) -> str | None:
    """Check the code against the user's authenticator; on success the session is
    verified (and an enrolment confirmed) and None is returned, else why not, in words."""
    device = second_factor_device(user=request.user)
    allowed, details = device.verify_is_allowed()
    if not allowed:
        until = (details or {}).get("locked_until")
        if until is None:
            return gettext("Too many wrong codes. Wait a little and try again.")
        wait = until - timezone.now()
        if wait < timedelta(minutes=1):  # not "Wait 0 minutes"
            return gettext("Too many wrong codes. Wait a few seconds and try again.")
        return gettext("Too many wrong codes. Wait %(wait)s and try again.") % {
            "wait": in_words(wait)}
    code = "".join(token.split())[:16]
    if not device.verify_token(code):  # a wrong code counts towards the device's throttle
        return gettext("That code is not right. Enter the 6 digits your app shows now.")
    if not device.confirmed:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    otp_login(request, device)
    return None


def second_factor_enrolment(*, device: TOTPDevice) -> dict[str, str]:
    """What the enrolment page shows: the QR code (SVG, no inline style or script, so the
    CSP allows it) and the key typed by hand, in groups of four."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage,
                        box_size=8, border=2)
    key = b32encode(device.bin_key).decode().rstrip("=")
    return {"qr_svg": image.to_string(encoding="unicode"),
            "key": " ".join(key[i:i + 4] for i in range(0, len(key), 4))}


def client_address(request: HttpRequest) -> str:
    """django-axes's client address: the one the /pay throttle counts (behind a proxy,
    the header ``PAYMENTS_CLIENT_ADDRESS_META`` names)."""
    return address_block(request=request)


def lockout_response(request: HttpRequest, original_response=None, credentials=None
                     ) -> HttpResponse:
    """django-axes's answer to a locked-out username at an address: a page that says so."""
    from django.contrib import admin

    username = (credentials or {}).get("username") or request.POST.get("username", "")
    hours = settings.AXES_COOLOFF_TIME
    return render(request, "admin/locked_out.html", {
        **admin.site.each_context(request), "title": gettext("Sign-in locked"),
        "username": username, "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff": in_words(timedelta(hours=hours)) if hours else None}, status=429)


@receiver(user_logged_in, dispatch_uid="paymentsite.signin.staff_session")
def staff_session_limit(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """A staff sign-in ends after a working day, counted from the sign-in."""
    if request is not None and user.is_staff and hasattr(request, "session"):
        request.session.set_expiry(
            timezone.now() + timedelta(seconds=settings.ADMIN_SESSION_SECONDS))
