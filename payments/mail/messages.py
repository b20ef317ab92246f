"""How the site writes mail: every message has a text and an HTML body
(``templates/emails/<name>.txt|.html``) and a one-line subject, comes from
``DEFAULT_FROM_EMAIL`` (by default the shop's name, ``SHOP_NAME``), is signed with the
shop's name, and links with absolute addresses from ``SITE_URL``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import ngettext


def site_url(path: str) -> str:
    """An absolute address on this site: emails have no request to build one from."""
    return settings.SITE_URL.rstrip("/") + path  # required with DEBUG off (settings.py)


def email_message(*, template: str, context: dict[str, object], to: str,
                  language: str | None = None) -> EmailMultiAlternatives:
    """``emails/<template>.txt`` with ``.html`` as its alternative, from DEFAULT_FROM_EMAIL,
    written in ``language`` (a shopper's mail: the order's), else the site's
    (LANGUAGE_CODE: ops mail), never whichever language a request left active in this
    thread; every template knows ``shop_name`` (SHOP_NAME, as the pages show it)."""
    context = {"shop_name": settings.SHOP_NAME, **context}
    with translation.override(language or settings.LANGUAGE_CODE):
        subject = render_to_string(f"emails/{template}_subject.txt", context)
        message = EmailMultiAlternatives(
            subject=" ".join(subject.split()),  # one line: a newline would break the header
            body=render_to_string(f"emails/{template}.txt", context), to=[to])
        message.attach_alternative(render_to_string(f"emails/{template}.html", context),
                                   "text/html")
    return message


def in_words(delta: timedelta) -> str:
    """A time to come, rounded as a person says it: "20 minutes", "5 hours", "2 days"
    (not Django's "1 day, 23 hours" for a link made a second before 48 hours)."""
    minutes = max(round(delta.total_seconds() / 60), 0)
    if minutes < 120:
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    hours = round(minutes / 60)
    if hours < 48:
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    days = round(hours / 24)
    return ngettext("%(count)d day", "%(count)d days", days) % {"count": days}
