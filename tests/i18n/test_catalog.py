"""The Indonesian catalog is complete: every string extraction finds is in messages.po, translated, not fuzzy, with
the same placeholders as its English source, and no obsolete entries linger."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "portal" / "translations" / "id" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The template extraction makes now from babel.cfg (the same command docs/operations.md gives)."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run([str(pybabel), "-q", "extract", "-F", "babel.cfg", "-k", "_l", "-k", "phrase", "-k", "nphrase:1,2",
                    "--ignore-dirs", ".* node_modules",
                    "-o", str(pot), "."], cwd=ROOT, check=True, capture_output=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})  # babel.cfg's service-template extractor
    with pot.open("rb") as file:
        return read_po(file)


@pytest.fixture(scope="module")
def catalog():
    with CATALOG.open("rb") as file:
        return read_po(file, locale="id")


def _key(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def test_extraction_finds_the_macros_and_plurals(extracted):
    """The extraction itself is sound: macros under templates/_macros are read, plurals keep both forms."""
    ids = {_key(m) for m in extracted if m.id}
    assert "Log in" in ids and "memory" in ids  # base.html, _macros/catalog.html
    plural = extracted.get("%(num)d day")
    assert plural is not None and plural.id == ("%(num)d day", "%(num)d days")


def test_every_extracted_string_is_in_the_catalog(extracted, catalog):
    missing = sorted(_key(m) for m in extracted if m.id and catalog.get(m.id, context=m.context) is None)
    assert not missing, "not in messages.po (run the extract and update commands):\n" + "\n".join(missing)


def test_every_catalog_entry_is_translated_and_not_fuzzy(catalog):
    untranslated = sorted(_key(m) for m in catalog if m.id and (
        m.fuzzy or not (m.string if isinstance(m.string, str) else all(m.string))))
    assert not untranslated, "empty or fuzzy msgstr in messages.po:\n" + "\n".join(untranslated)


def test_no_obsolete_entries(catalog):
    assert not catalog.obsolete, "obsolete (#~) entries in messages.po:\n" + "\n".join(
        _key(m) for m in catalog.obsolete.values())


def test_every_translation_keeps_the_placeholders(catalog):
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, str):
            pairs = [(message.id, message.string)]
        else:  # Indonesian has one form: it names what the English plural names
            pairs = [(message.id[1], form) for form in message.string]
        for source, translation in pairs:
            if translation and sorted(PLACEHOLDER.findall(source)) != sorted(PLACEHOLDER.findall(translation)):
                wrong.append(f"{source!r} -> {translation!r}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_the_catalog_has_one_plural_form():
    with CATALOG.open("rb") as file:
        assert read_po(file).plural_forms == "nplurals=1; plural=0;"


WTFORMS_CATALOG = CATALOG.with_name("wtforms.po")
# WTForms' own messages also use a positional %s ("Invalid field name '%s'.").
WTFORMS_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[sdif]")


def _placeholders(text: str) -> list[str]:
    return sorted(WTFORMS_PLACEHOLDER.findall(text))


def test_wtforms_messages_are_all_in_our_indonesian_catalog():
    """WTForms ships no Indonesian catalog: ours holds every built-in message of the installed WTForms, translated,
    not fuzzy, with the English source's placeholders and Indonesian's single plural form."""
    import wtforms

    with (Path(wtforms.__file__).parent / "locale" / "wtforms.pot").open("rb") as file:
        template = read_po(file)
    with WTFORMS_CATALOG.open("rb") as file:
        ours = read_po(file, locale="id")
    assert ours.plural_forms == "nplurals=1; plural=0;"
    assert not ours.obsolete
    problems = []
    for message in template:
        if not message.id:
            continue
        entry = ours.get(message.id)
        if entry is None:
            problems.append(f"missing: {_key(message)!r}")
            continue
        forms = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        if entry.fuzzy or not all(forms) or isinstance(message.id, str) != isinstance(entry.id, str):
            problems.append(f"untranslated or fuzzy: {_key(message)!r}")
            continue
        source = message.id if isinstance(message.id, str) else message.id[1]
        problems += [f"placeholders differ: {source!r} -> {form!r}" for form in forms
                     if _placeholders(source) != _placeholders(form)]
    assert len([m for m in template if m.id]) >= 39  # the pot was read (WTForms 3.x has 39 messages)
    assert not problems, "wtforms.po against the installed wtforms.pot:\n" + "\n".join(problems)


def test_the_indonesian_addresses_the_reader_formally(catalog):
    """"Anda", never the familiar pronouns a business does not use with its customers."""
    familiar = re.compile(r"\b(kamu|kau|engkau|lu|lo|gue|gua)\b", re.I)
    found = [m.string for m in catalog if m.id and any(familiar.search(form) for form in
                                                      ([m.string] if isinstance(m.string, str) else m.string))]
    assert found == []
    assert sum("Anda" in (m.string if isinstance(m.string, str) else m.string[0]) for m in catalog if m.id) > 200
