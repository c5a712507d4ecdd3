"""Settings against a template's parameters, subdomain rules, generated secrets."""
import string

import pytest

from portal.catalog.parameters import SettingsInvalid, secrets_generate, settings_clean, subdomain_problem
from portal.catalog.templates import templates_load
from portal.config import ROOT

pytestmark = pytest.mark.smoke
TEMPLATES = templates_load(str(ROOT / "service-templates"))


def test_defaults_fill_in_and_values_are_typed():
    assert settings_clean(TEMPLATES["n8n"], {}) == {"timezone": "Asia/Jakarta", "execution_retention_hours": 336}
    assert settings_clean(TEMPLATES["n8n"], {"execution_retention_hours": " 48 ", "junk": "x"}) == {
        "timezone": "Asia/Jakarta", "execution_retention_hours": 48}
    assert settings_clean(TEMPLATES["ghost"], {"mail_from": "", "use_gravatar": False}) == {"use_gravatar": False}
    assert settings_clean(TEMPLATES["wordpress"], {"debug": "yes"})["debug"] is True


@pytest.mark.parametrize("slug, raw, field, message", [
    ("n8n", {"timezone": "Mars/Olympus"}, "timezone", "timezone from the list"),
    ("n8n", {"execution_retention_hours": "12"}, "execution_retention_hours", "24 or more"),
    ("n8n", {"execution_retention_hours": "1e3"}, "execution_retention_hours", "whole number"),
    ("wordpress", {"table_prefix": "WP-"}, "table_prefix", "lowercase letters"),
    ("wordpress", {"table_prefix": "wp_\nDROP"}, "table_prefix", "single line"),
    ("wordpress", {"table_prefix": "a" * 17}, "table_prefix", "at most 16"),
    ("wordpress", {"debug": "maybe"}, "debug", "yes or no"),
])
def test_bad_settings_are_refused_with_a_message_per_field(slug, raw, field, message):
    with pytest.raises(SettingsInvalid) as invalid:
        settings_clean(TEMPLATES[slug], raw)
    assert message in invalid.value.errors[field]


@pytest.mark.parametrize("subdomain, problem", [
    ("my-site", None), ("abc", None), ("ab", "3 to 40"), ("My-Site", "lowercase"), ("-site", "lowercase"),
    ("site-", "lowercase"), ("a--b", "two hyphens"), ("www", "reserved"), ("admin", "reserved"),
    ("api", "reserved"), ("mail", "reserved"), ("a.b", "lowercase"), ("x" * 41, "3 to 40"), ("", "Choose"),
    ("café", "lowercase"), ("a b", "lowercase"),
])
def test_subdomain_rules(subdomain, problem):
    result = subdomain_problem(subdomain)
    assert (result is None) if problem is None else (problem in result)


def test_secrets_have_the_declared_length_and_alphabet_and_differ_each_time():
    first, second = secrets_generate(TEMPLATES["wordpress"]), secrets_generate(TEMPLATES["wordpress"])
    assert set(first) == {s.name for s in TEMPLATES["wordpress"].secrets}
    assert len(first["auth_key"]) == 64 and set(first["auth_key"]) <= set(string.ascii_letters + string.digits + "-_")
    assert len(first["db_password"]) == 32 and first["db_password"].isalnum()
    assert all(first[k] != second[k] for k in first)
