"""The catalogs (locale/<language>/LC_MESSAGES/django.po): every string the site marks
for translation is translated into each language, and no translation breaks its
placeholders (which would fail a page, or show the wrong number)."""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from django.utils import translation

from paymentsite import translations


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    return translations.messages_extract()


def catalog(language: str) -> Catalog:
    with translations.catalog_path(language).open("rb") as file:
        return read_po(file, locale=language)


def test_the_extractor_finds_strings_in_python_and_in_templates(extracted):
    ids = {str(message.id) for message in extracted if message.id}
    assert "Your card has insufficient funds." in ids  # payments/checkout/errors.py
    assert "Pay %(amount)s" in ids  # {% blocktranslate %} in templates/payments/order.html
    assert "Skip to content" in ids  # {% translate %} in templates/base.html
    assert "j F Y, H:i T" in ids  # a date format as a filter argument, _("...")
    assert len(ids) > 100
    staff_only = {str(m.id) for m in extracted if m.id and not translations.for_shoppers(m)}
    assert "This alert is sent at most once every 24 hours." in staff_only  # ops mail
    assert "Your card was declined." not in staff_only


@pytest.mark.parametrize("language", translations.TRANSLATED)
def test_every_string_a_shopper_reads_is_translated(extracted, language):
    """Fails on a string marked in the code or a template and not translated: run
    ``python -m paymentsite.translations extract`` and fill in the .po file. Strings only
    staff read (the admin, ops mail) may wait for a translator."""
    found = catalog(language)
    missing = []
    for message in list(extracted)[1:]:
        if not translations.for_shoppers(message):
            continue
        translated = found.get(message.id, context=message.context)
        strings = () if translated is None else (
            translated.string if isinstance(translated.string, (list, tuple))
            else (translated.string,))
        if translated is None or translated.fuzzy or not all(strings):
            missing.append(message.id)
    assert missing == []


@pytest.mark.parametrize("language", translations.TRANSLATED)
def test_no_translation_breaks_its_placeholders(language):
    assert translations.catalog_problems(catalog(language)) == {}


def test_a_translation_that_breaks_a_placeholder_is_caught_and_left_out():
    broken = Catalog(locale="de")
    broken.add("Pay %(amount)s", "%(betrag)s bezahlen", flags=["python-format"])
    broken.add("Total: %(total)s", "Gesamt: %(total)s", flags=["python-format"])
    broken.add("Quantity of %(name)s", "Menge von %(name)s %(extra)s")
    assert sorted(translations.catalog_problems(broken)) == ["Pay %(amount)s",
                                                              "Quantity of %(name)s"]


def test_the_compiled_catalogs_are_the_ones_django_reads():
    assert translations.catalogs_compile() == []
    for language, expected in (("de", "Ihre Karte wurde abgelehnt."),
                               ("fr", "Votre carte a été refusée.")):
        with translation.override(language):
            assert translation.gettext("Your card was declined.") == expected
