"""What every page's template knows about the shop."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def shop(request: HttpRequest) -> dict[str, object]:
    # Each language named in itself ("Deutsch" on an English page, "English" on a German
    # one): Django's get_available_languages would translate the names.
    return {"shop_name": settings.SHOP_NAME, "languages_named_in_themselves": settings.LANGUAGES}
