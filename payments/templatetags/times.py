"""Times in the site's zone, naming it in every hour: ``{{ paid_at|zoned:"j F Y, H:i T" }}``.

Django's ``date`` filter (and ``date_format``) writes no zone for ``T`` in the hour that
happens twice when clocks go back: "1 Nov 2026 01:30" twice, an hour apart, on a receipt
or in the ops mail. Python knows which of the two it is (``fold``): its name is used."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format

register = template.Library()

_ZONE = re.compile(r"(?<!\\)T")  # the format's T, not an escaped literal "\T"


def zoned_format(*, value: datetime, format_string: str) -> str:
    local = timezone.localtime(value)
    name = "".join("\\" + char for char in local.tzname() or "")  # literal in the format
    return date_format(local, _ZONE.sub(lambda _: name, str(format_string)))  # _("…"): lazy


@register.filter
def zoned(value: datetime | None, format_string: str) -> str:
    return zoned_format(value=value, format_string=format_string) if value else ""
