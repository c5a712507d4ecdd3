"""Texts the portal stores and shows later (the timeline, DNS findings, an email's reason) are kept as phrases: a
catalog message with its values, read in each reader's language, moments in the reader's zone; the English stays
beside them for staff's logs. A scan keeps every timeline writer on phrases."""
import ast
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask_babel import force_locale

from portal.phrases import N_, as_phrase, day_of, nphrase, phrase, phrase_english
from portal.rendering import phrase_read, stored_text, translated

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def reading(app):
    """Read in a language, as a page request of an anonymous reader in Jakarta would."""
    def read(locale: str, stored):
        with app.test_request_context(), force_locale(locale):
            return phrase_read(stored) if isinstance(stored, dict) else translated(stored)
    return read


def test_a_phrase_survives_json_and_reads_in_each_language(reading):
    stored = json.loads(json.dumps(phrase("Renewed until %(day)s.", day=date(2026, 12, 1))))
    assert phrase_english(stored) == "Renewed until 2026-12-01."
    assert reading("en", stored) == "Renewed until 01 Dec 2026."
    assert reading("id", stored) == "Diperpanjang hingga 01 Des 2026."


def test_a_moment_reads_in_the_readers_zone(reading):
    stored = phrase("Restored from the backup of %(time)s; the instance runs from the restored data now.",
                    time=datetime(2026, 11, 30, 19, 5, tzinfo=UTC))
    assert phrase_english(stored).startswith("Restored from the backup of 2026-11-30 19:05 UTC;")
    assert reading("id", stored) == ("Dipulihkan dari cadangan 01 Des 2026 02:05 WIB; instans kini berjalan dengan "
                                     "data yang dipulihkan.")
    # A period's end read as a day: the day it is where the reader is (already 1 December in Jakarta).
    renewed = phrase("Renewed until %(day)s.", day=day_of(datetime(2026, 11, 30, 19, 5, tzinfo=UTC)))
    assert phrase_english(renewed) == "Renewed until 2026-11-30."
    assert reading("id", renewed) == "Diperpanjang hingga 01 Des 2026."


def test_plurals_follow_the_count_in_each_language(reading):
    one, three = (nphrase("Restarted %(num)d time by the cluster.", "Restarted %(num)d times by the cluster.", n)
                  for n in (1, 3))
    assert (phrase_english(one), phrase_english(three)) == ("Restarted 1 time by the cluster.",
                                                            "Restarted 3 times by the cluster.")
    assert reading("en", three) == "Restarted 3 times by the cluster."
    assert reading("id", three) == "Dimulai ulang 3 kali oleh klaster."


def test_nested_phrases_translate_and_outside_words_stay_as_they_came(reading):
    ours = phrase("The restore did not work: %(reason)s. Your instance runs as before.",
                  reason=as_phrase(N_("the restore disappeared from the backup service")))
    assert reading("id", ours) == ("Pemulihan tidak berhasil: pemulihan hilang dari layanan pencadangan. Instans "
                                   "Anda tetap berjalan seperti sebelumnya.")
    velero = phrase("The restore did not work: %(reason)s. Your instance runs as before.",
                    reason=as_phrase("volume snapshot 50% done"))
    assert reading("id", velero) == ("Pemulihan tidak berhasil: volume snapshot 50% done. Instans Anda tetap berjalan "
                                     "seperti sebelumnya.")
    assert phrase_english(velero) == "The restore did not work: volume snapshot 50% done. Your instance runs as before."


def test_a_constant_is_stored_in_english_and_read_from_the_catalog(app, reading):
    assert N_("Backup requested.") == "Backup requested."
    assert reading("id", "Backup requested.") == "Pencadangan diminta."
    with app.test_request_context(), force_locale("id"):
        # A row written before phrases (or text the catalog does not hold) reads as stored.
        assert stored_text("Something the cluster said.", None) == "Something the cluster said."
        assert stored_text("Renewed until 2026-12-01.", phrase("Renewed until %(day)s.", day=date(2026, 12, 1))) \
            == "Diperpanjang hingga 01 Des 2026."


# The functions whose `message` (or `reason`/`note`) ends up on the timeline or in a customer's email.
STORED_TEXT_ARGUMENTS = {"instance_event_record": "message", "_move": "message",
                         "subscription_settings_changed": "message", "subscription_reprovision": "reason",
                         "subscription_cancel": "reason", "order_cancel": "reason", "restore_fail": "reason",
                         "subscription_terminate": "note"}


def _written_as_text(node: ast.AST) -> bool:
    """An f-string or a bare string literal: English frozen into the row, never read in another language."""
    if isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.IfExp):
        return _written_as_text(node.body) or _written_as_text(node.orelse)
    if isinstance(node, ast.BinOp):
        return _written_as_text(node.left) or _written_as_text(node.right)
    return False


def test_every_stored_text_is_a_phrase_or_a_catalog_constant():
    frozen = []
    for path in sorted((ROOT / "portal").rglob("*.py")):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            for keyword in node.keywords:
                if keyword.arg == STORED_TEXT_ARGUMENTS.get(name) and _written_as_text(keyword.value):
                    written = ast.get_source_segment(source, keyword.value)
                    frozen.append(f"{path.relative_to(ROOT)}:{node.lineno}: {written}")
    assert not frozen, "stored as English text (use phrase(), nphrase() or N_() from portal/phrases.py):\n" + \
        "\n".join(frozen)


def test_the_scan_catches_an_f_string_and_a_bare_literal():
    assert _written_as_text(ast.parse('f"Renewed until {end}."', mode="eval").body)
    assert _written_as_text(ast.parse('"Backup requested."', mode="eval").body)
    assert _written_as_text(ast.parse('N_("a") if x else "b"', mode="eval").body)
    assert not _written_as_text(ast.parse('N_("Backup requested.")', mode="eval").body)
    assert not _written_as_text(ast.parse('phrase("Renewed until %(day)s.", day=end)', mode="eval").body)
