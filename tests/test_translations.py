"""The catalogs (locale/<language>/LC_MESSAGES/django.po): every string the site marks
for translation is translated into each language (the staff's too, in German and
French), every name and label of the models is marked, and no translation breaks its
placeholders (which would fail a page, or show the wrong number)."""

from __future__ import annotations

import re

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


def test_the_staff_strings_cover_the_sign_in_the_dashboards_help_and_ops_results(extracted):
    """What the staff-string test above keeps translated: the sign-in's pages and errors,
    the dashboard's help, and what an ops action says it did (with its plural)."""
    staff = {m.id for m in extracted if m.id and not translations.for_shoppers(m)}
    for msgid in ("Set up your second factor", "Verify", "Sign-in locked",
                  "That code is not right. Enter the 6 digits your app shows now.",
                  "Back to the sign-in page", "How these numbers are counted",
                  ("%(count)s canceled", "%(count)s canceled"),
                  ("%(count)s link sent", "%(count)s links sent"),
                  ("%(count)s skipped: %(reason)s", "%(count)s skipped: %(reason)s"),
                  "(stopped: %(error)s)", "This confirmation page is too old."):
        assert msgid in staff, msgid
    assert any(str(i).startswith("<strong>Failed-authentication rate</strong>")
               for i in staff)


# Our admin and ops mail templates: text a reader sees must be inside {% translate %} or
# {% blocktranslate %} (else it reads English in every language).
STAFF_TEMPLATES = sorted([*(translations.ROOT / "templates/admin").rglob("*.html"),
                          *(translations.ROOT / "templates/emails").glob("ops_*")])
SHOWN_ATTRIBUTE = re.compile(r'\b(?:title|aria-label|alt|placeholder|value)="([^"]*)"')


def english_outside_translate(text: str) -> list[str]:
    text = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}", "", text, flags=re.S)
    text = re.sub(r"{%\s*blocktranslate.*?{%\s*endblocktranslate\s*%}", "", text, flags=re.S)
    text = re.sub(r"{%\s*block bodyclass\s*%}.*?{%\s*endblock\s*%}", "", text, flags=re.S)
    text = re.sub(r"{%.*?%}|{{.*?}}", " ", text, flags=re.S)
    text = re.sub(r"<(script|style)\b.*?</\1>", "", text, flags=re.S)
    found = [f"{m.group(0)}" for m in SHOWN_ATTRIBUTE.finditer(text)
             if re.search(r"[A-Za-z]{2,}", m.group(1))]
    text = re.sub(r"<[^>]*>|&\w+;", " ", text, flags=re.S)
    found += re.findall(r"(?<![-\w])[A-Za-z]{2,}(?![-\w])", text)
    return found


@pytest.mark.parametrize("template", STAFF_TEMPLATES,
                         ids=lambda path: path.relative_to(translations.ROOT).as_posix())
def test_no_staff_template_has_english_outside_translate(template):
    assert english_outside_translate(template.read_text(encoding="utf-8")) == []


def test_the_template_check_finds_english_text_and_attributes():
    assert english_outside_translate('<p class="help">None yet.</p>') == ["None", "yet"]
    assert english_outside_translate('<img alt="Search">') == ['alt="Search"']
    assert english_outside_translate(
        '{% block bodyclass %}app-x model-y{% endblock %}<a title="{% translate \'x\' %}">'
        '{% blocktranslate %}{{ n }} day{% endblocktranslate %}</a> &rsaquo; 42') == []


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
