"""The site's translations, kept with Python alone: Django's makemessages and
compilemessages need GNU gettext (xgettext, msgfmt), which a fresh machine may lack.

    python -m paymentsite.translations extract   # update locale/*/LC_MESSAGES/django.po
    python -m paymentsite.translations compile   # .po → .mo (dev.py setup runs it)

``extract`` reads Python files with Babel's extractor, and templates after Django's own
``templatize`` (what makemessages feeds xgettext), so ``{% translate %}`` and
``{% blocktranslate %}`` give the msgids Django looks up. ``compile`` leaves out (and
names) a translation that is fuzzy or whose placeholders differ from its msgid, so such
a message shows in English instead of breaking a page; tests/test_translations.py fails
on it.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"
DOMAIN = "django"
# Every language but English (the msgids' own) has a catalog.
TRANSLATED = ("de", "fr")
STAFF_TRANSLATED = ("de", "fr")
SOURCES = ("payments", "paymentsite", "templates")
# Where staff read (the admin, ops mail): marked for translation so a merchant can add a
# language without code, but English until someone translates them. A string used only
# here may stay untranslated in a new language; every other one is a shopper's and must
# not. The languages in STAFF_TRANSLATED have the staff's strings complete too.
STAFF_SOURCES = ("templates/admin/", "templates/emails/ops_", "payments/admin/",
                 "payments/monitoring/", "payments/recovery/actions.py",
                 "paymentsite/admin.py", "paymentsite/signin.py")
KEYWORDS = {
    "gettext": None, "gettext_lazy": None, "gettext_noop": None, "_": None,
    "ngettext": (1, 2), "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2), "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3), "npgettext_lazy": ((1, "c"), 2, 3),
}


def for_shoppers(message: Message) -> bool:
    """Whether a shopper can read ``message``: it is used outside the staff's pages."""
    return any(not path.startswith(STAFF_SOURCES) for path, _line in message.locations)


def catalog_path(language: str, suffix: str = "po") -> Path:
    return LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.{suffix}"


def source_files() -> Iterator[Path]:
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*")):
            if "migrations" in path.parts or not path.is_file():
                continue
            if path.suffix in (".py", ".html", ".txt"):
                yield path


def messages_extract() -> Catalog:
    """Every translatable string of the site, with where it is used."""
    catalog = Catalog(project="paymentsite", domain=DOMAIN, fuzzy=False)
    for path in source_files():
        text = path.read_text(encoding="utf-8")
        if path.suffix != ".py":
            if "{% load i18n" not in text and "i18n %}" not in text:
                continue
            text = template_calls(text)
        found = extract("python", io.BytesIO(text.encode("utf-8")), keywords=KEYWORDS,
                        comment_tags=("Translators:",), options={"encoding": "utf-8"})
        relative = path.relative_to(ROOT).as_posix()
        for lineno, message, comments, context in found:
            if not (message[0] if isinstance(message, tuple) else message):
                continue
            catalog.add(message, locations=[(relative, lineno)],
                        auto_comments=comments, context=context)
    return catalog


def template_calls(text: str) -> str:
    """A template as Python Babel can read: the gettext calls of Django's templatize, each
    on its template line (templatize's filler between them is no Python)."""
    import tokenize

    from django.utils.translation.template import templatize

    call = re.compile(r"\b(?:gettext|pgettext|ngettext|npgettext|_)\(")
    lines = []
    for line in templatize(text).split("\n"):
        found = []
        for match in call.finditer(line):
            rest = line[match.start():]
            depth, end = 0, None
            try:
                for token in tokenize.generate_tokens(io.StringIO(rest).readline):
                    if token.string == "(":
                        depth += 1
                    elif token.string == ")":
                        depth -= 1
                        if depth == 0:
                            end = token.end[1]
                            break
            except (tokenize.TokenError, SyntaxError):
                continue
            if end is not None:
                found.append(rest[:end])
        lines.append("; ".join(found))
    return "\n".join(lines)


def catalogs_update(*, template: Catalog) -> None:
    """Merge the extracted messages into each language's catalog: new ones untranslated,
    gone ones dropped, kept ones with their translation."""
    for language in TRANSLATED:
        path = catalog_path(language)
        if path.exists():
            with path.open("rb") as file:
                catalog = read_po(file, locale=language)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=language, domain=DOMAIN, project="paymentsite")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with path.open("wb") as file:
            # File names without line numbers: a line moved elsewhere in a file rewrote
            # hundreds of these comments at each extract (a newcomer's 8 new strings
            # came with 600 changed lines).
            write_po(file, catalog, width=88, omit_header=False, sort_output=True,
                     include_lineno=False)


def catalog_problems(catalog: Catalog) -> dict[str, list[str]]:
    """{msgid: problems} of translations that must not be used: fuzzy ones, and those
    whose placeholders are not the msgid's (Babel's python-format checker)."""
    problems: dict[str, list[str]] = {}
    for message in list(catalog)[1:]:
        key = str(message.id)
        if message.fuzzy and message.string:
            problems.setdefault(key, []).append("fuzzy")
        problems_found = [str(error) for error in message.check(catalog)]
        problems_found += placeholder_problems(message)
        if problems_found:
            problems.setdefault(key, []).extend(problems_found)
    return problems


def placeholder_problems(message: Message) -> list[str]:
    """Named placeholders (%(name)s) of each translation against its msgid's; Babel's
    checker only runs on messages flagged python-format."""
    names = re.compile(r"%\((\w+)\)[sdif]")
    ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
    strings = message.string if isinstance(message.string, (list, tuple)) \
        else (message.string,)
    wanted = set(names.findall(ids[-1]))
    return [f"placeholders {sorted(set(names.findall(s)))} differ from {sorted(wanted)}"
            for s in strings if s and set(names.findall(s)) != wanted]


def catalogs_compile() -> list[str]:
    """Write each .mo from its .po without the problem messages; returns the problems."""
    reported: list[str] = []
    for language in TRANSLATED:
        path = catalog_path(language)
        with path.open("rb") as file:
            catalog = read_po(file, locale=language)
        for msgid, problems in catalog_problems(catalog).items():
            reported.append(f"{language}: {msgid!r}: {'; '.join(problems)}")
            message = catalog.get(msgid) or next(m for m in catalog if str(m.id) == msgid)
            message.string = ("", "") if message.pluralizable else ""
        with catalog_path(language, "mo").open("wb") as file:
            write_mo(file, catalog, use_fuzzy=False)
    return reported


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "extract":
        import django
        from django.conf import settings

        settings.configure()  # templatize reads no setting, but Django wants them set
        django.setup()
        catalogs_update(template=messages_extract())
        return 0
    if command == "compile":
        for problem in catalogs_compile():
            print(f"translation left out: {problem}", file=sys.stderr)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
