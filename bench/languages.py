#!/usr/bin/env python3
"""What speaking the shopper's language costs a request (issue 19), in-process.

    .venv/bin/python bench/languages.py [--number 20000]

Times Django's LocaleMiddleware around a trivial view (a POST to /pay with a given
Accept-Language and no cookie: English, German, a language the site lacks) against the
same request and response without it, and the ``money`` filter per language. Best of five
runs; prints microseconds per call. The figures are for ratios within one run (CPU shared
with whatever else runs), never for assertions.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paymentsite.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=20000)
    number = parser.parse_args().number

    import django

    django.setup()
    from django.http import HttpResponse
    from django.middleware.locale import LocaleMiddleware
    from django.test import RequestFactory
    from django.utils import translation

    from payments.templatetags.money import money

    factory = RequestFactory()
    middleware = LocaleMiddleware(lambda request: HttpResponse("{}"))

    def best(call) -> float:
        return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6

    def bare() -> HttpResponse:
        factory.post("/pay", HTTP_ACCEPT_LANGUAGE="de")
        return HttpResponse("{}")

    def localized(header: str):
        return lambda: middleware(factory.post("/pay", HTTP_ACCEPT_LANGUAGE=header))

    alone = best(bare)
    print(f"request and response alone: {alone:.1f} µs")
    for header in ("en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.5", "tlh"):
        with_it = best(localized(header))
        print(f"LocaleMiddleware, Accept-Language {header!r}: +{with_it - alone:.1f} µs "
              f"({with_it / alone:.2f}× the bare request)")
    for language in ("en", "de", "fr"):
        with translation.override(language):
            print(f"money filter, {language}: {best(lambda: money(123450, 'eur')):.1f} µs")


if __name__ == "__main__":
    main()
