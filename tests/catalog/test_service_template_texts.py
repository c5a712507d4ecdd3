"""The service templates' display texts: Babel's extractor finds each one, and they read in the reader's language."""
import io
from pathlib import Path

import pytest
import yaml
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import render_template_string
from flask_babel import force_locale
from sqlalchemy import select

from portal.catalog.models import Plan, Service
from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.catalog.templates import templates_load
from portal.config import ROOT
from portal.extensions import db

EXTRACTOR = "portal.catalog.translation:extract_service_templates"
# The lines babel.cfg holds for the service templates (an [extractors] entry and its mapping).
MAPPING = f"""
[extractors]
service_templates = {EXTRACTOR}
[service_templates: service-templates/*.yaml]
"""
TEMPLATE_FILES = sorted((ROOT / "service-templates").glob("*.yaml"))
CATALOG = ROOT / "portal" / "translations" / "id" / "LC_MESSAGES" / "messages.po"


def texts_in(path: Path) -> set[str]:
    """What a customer reads in one template file, read with the plain YAML loader (not the extractor's walk)."""
    data = yaml.safe_load(path.read_text())
    texts = {data["name"], data["description"], data["category"]}
    texts |= {plan["name"] for plan in data["plans"]}
    for parameter in data.get("parameters") or []:
        texts |= {parameter[key] for key in ("label", "help", "pattern_message") if parameter.get(key)}
    texts |= {secret["label"] for secret in data.get("secrets") or [] if secret.get("label")}
    return texts


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda path: path.stem)
def test_the_extractor_finds_every_display_text_of_the_template(path):
    found = [message for _, message, _, _ in extract_from_file(EXTRACTOR, str(path))]
    assert set(found) == texts_in(path)
    assert "Timezone" in found or path.stem != "n8n"
    # Machine values stay out: slugs, images, parameter names, env names.
    assert not {"starter", "app", "db", "timezone", "DB_TYPE"} & set(found)


def test_babel_cfg_lines_map_the_template_folder_to_the_extractor():
    method_map, options_map = parse_mapping_cfg(io.StringIO(MAPPING))
    assert method_map == [("service-templates/*.yaml", EXTRACTOR)]
    folders = {ROOT.resolve(), (ROOT / "service-templates").resolve()}
    extracted = {}
    for filename, _, message, _, _ in extract_from_dir(ROOT, method_map, options_map,
                                                       directory_filter=lambda path: Path(path).resolve() in folders):
        extracted.setdefault(filename, set()).add(message)
    assert set(extracted) == {f"service-templates/{path.name}" for path in TEMPLATE_FILES}
    for path in TEMPLATE_FILES:
        assert extracted[f"service-templates/{path.name}"] == texts_in(path)


def test_every_display_text_has_an_indonesian_translation():
    catalog = read_po(CATALOG.open("rb"))
    for path in TEMPLATE_FILES:
        for text in texts_in(path):
            message = catalog.get(text)
            assert message is not None and message.string, f"{path.name}: {text!r} has no Indonesian translation"


def test_template_texts_read_in_the_readers_language(app):
    templates = templates_load(app.config["SERVICE_TEMPLATES_DIR"])
    n8n, wordpress = templates["n8n"], templates["wordpress"]
    timezone = n8n.parameters[0]
    with app.test_request_context():
        with force_locale("id"):
            assert str(n8n.display_description).startswith("Otomatisasi alur kerja")
            assert str(n8n.display_category) == "Otomatisasi"
            assert str(n8n.plan("business").display_name) == "Bisnis"
            assert str(timezone.label) == "Zona waktu"
            assert "memakai zona waktu ini" in str(timezone.help)
            assert str(n8n.secrets[0].label) == "Kunci enkripsi"
            assert str(wordpress.parameters[0].pattern_message).startswith("Gunakan huruf kecil")
            assert str(wordpress.parameters[1].pattern_message) == "Format nilai ini salah."
            page = render_template_string(
                "<label>{{ p.label }}</label><p>{{ p.help }}</p><i>{{ _(s.description) }}</i>", p=timezone, s=wordpress)
            assert "<label>Zona waktu</label>" in page and "Pembuat situs web" in page
        # The same cached template, read in English: the texts are translated when they are read.
        with force_locale("en"):
            assert str(timezone.label) == "Timezone" and str(n8n.plan("business").display_name) == "Business"
    # The names the catalog copies into the database stay the English texts (the msgids).
    assert n8n.name == "n8n" and n8n.plan("business").name == "Business" and n8n.category == "Automation"


def test_the_database_keeps_english_and_pages_translate_it(app):
    catalog_seed(templates=service_templates())
    business = db.session.scalar(select(Plan).join(Service).where(Service.slug == "n8n", Plan.slug == "business"))
    assert business.name == "Business" and business.service.category == "Automation"
    with app.test_request_context(), force_locale("id"):
        page = render_template_string("{{ _(plan.name) }} · {{ _(plan.service.description) }}", plan=business)
    assert page.startswith("Bisnis · Otomatisasi alur kerja")


@pytest.mark.smoke
def test_the_settings_step_labels_read_in_indonesian(client, make_user, login):
    catalog_seed(templates=service_templates())
    login(make_user())
    plan = db.session.scalar(select(Plan).join(Service).where(Service.slug == "n8n", Plan.slug == "starter"))
    body = client.get(f"/checkout/plan/{plan.id}", headers={"Accept-Language": "id"}).get_data(as_text=True)
    assert "Zona waktu" in body and "Simpan riwayat eksekusi selama (jam)" in body
    assert "Jadwal dan stempel waktu di alur kerja Anda memakai zona waktu ini." in body
    english = client.get(f"/checkout/plan/{plan.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Keep execution history for (hours)" in english and "Zona waktu" not in english
