"""The catalogs (locale/<language>/LC_MESSAGES/django.po): every string the site marks
for translation is translated into each language (the staff's too, in German and
French), every name and label of the models is marked, and no translation breaks its
placeholders (which would fail a page, or show the wrong number)."""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from django.apps import apps
from django.utils import translation
from django.utils.functional import Promise

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
    assert untranslated(extracted, language, staff=False) == []


def untranslated(extracted: Catalog, language: str, *, staff: bool) -> list[str]:
    found = catalog(language)
    missing = []
    for message in list(extracted)[1:]:
        if translations.for_shoppers(message) == staff:
            continue
        translated = found.get(message.id, context=message.context)
        strings = () if translated is None else (
            translated.string if isinstance(translated.string, (list, tuple))
            else (translated.string,))
        if translated is None or translated.fuzzy or not all(strings):
            missing.append(message.id)
    return missing


@pytest.mark.parametrize("language", translations.STAFF_TRANSLATED)
def test_every_string_staff_read_is_translated_in_german_and_french(extracted, language):
    """The admin's and ops mail's strings (our templates, payments/admin/, the monitoring's
    words), in the languages whose staff strings are complete. Fails on one marked and not
    translated: run ``extract`` and fill in the .po file."""
    assert untranslated(extracted, language, staff=True) == []


def model_words() -> list[tuple[str, object]]:
    """Every name and label of our models the admin shows: each model's names, each
    field's name and help text, each choice's label."""
    words = []
    for model in apps.get_app_config("payments").get_models():
        meta = model._meta
        words += [(f"{meta.label} verbose_name", meta.verbose_name),
                  (f"{meta.label} verbose_name_plural", meta.verbose_name_plural)]
        for field in meta.get_fields():
            if field.auto_created or not field.concrete:
                continue  # Django's own "ID", and reverse relations
            where = f"{meta.label}.{field.name}"
            words.append((f"{where} verbose_name", field.verbose_name))
            if field.help_text:
                words.append((f"{where} help_text", field.help_text))
            words += [(f"{where} choice {value!r}", label)
                      for value, label in field.flatchoices]
    return words


@pytest.mark.parametrize("language", translations.STAFF_TRANSLATED)
def test_every_model_name_and_choice_label_is_marked_and_translated(language):
    """A name or label given as a plain string (not ``gettext_lazy``) would show English in
    every admin; one marked but not translated (or translated as itself by mistake) shows
    English in this one. Words the same in both languages ("Webhook") must say so in the
    catalog."""
    found = catalog(language)
    problems = []
    for where, word in model_words():
        if not isinstance(word, Promise):
            problems.append(f"{where}: {word!r} is not marked for translation")
            continue
        with translation.override("en"):
            english = str(word)
        with translation.override(language):
            translated = str(word)
        if translated == english:
            entry = found.get(english)
            if entry is None or entry.string != english:
                problems.append(f"{where}: {english!r} has no {language} translation")
    assert problems == []


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
