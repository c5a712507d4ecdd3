"""Rupiah, dates, numbers and plurals as Babel writes them for Indonesian and English readers."""
from datetime import UTC, datetime

import pytest
from flask import render_template_string
from flask_babel import force_locale

from portal.rendering import cldr_pattern, format_idr, format_local_date, format_local_time, format_number

MOMENT = datetime(2026, 8, 17, 3, 5, tzinfo=UTC)  # 10:05 in Jakarta


@pytest.mark.parametrize("locale, expected", [("id", ["Rp0", "Rp99.000", "Rp1.500.000", "-Rp30.000"]),
                                              ("en", ["Rp0", "Rp99,000", "Rp1,500,000", "-Rp30,000"])])
def test_rupiah(app, locale, expected):
    with app.test_request_context(), force_locale(locale):
        assert [format_idr(amount) for amount in (0, 99000, 1500000, -30000)] == expected
        assert format_idr(None) == ""


def test_numbers(app):
    with app.test_request_context():
        with force_locale("id"):
            assert format_number(1234567.5) == "1.234.567,5" and format_number(0.5) == "0,5"
        with force_locale("en"):
            assert format_number(1234567.5) == "1,234,567.5"


def test_dates_and_times_in_the_readers_zone_and_language(app):
    with app.test_request_context():
        with force_locale("id"):
            assert format_local_time(MOMENT, zone="Asia/Jakarta") == "17 Agu 2026 10:05 WIB"
            assert format_local_date(MOMENT, "%d %B %Y", zone="Asia/Jakarta") == "17 Agustus 2026"
            assert format_local_date(MOMENT, "%A, %d %B %Y", zone="Asia/Jakarta") == "Senin, 17 Agustus 2026"
        with force_locale("en"):
            assert format_local_time(MOMENT, zone="Asia/Jakarta") == "17 Aug 2026 10:05 WIB"
            assert format_local_time(MOMENT, "%Y-%m-%d %H:%M", zone="Asia/Makassar") == "2026-08-17 11:05 WITA"
            assert format_local_date(MOMENT, "%d %B %Y", zone="America/New_York") == "16 August 2026"
        assert format_local_time(None) == "" and format_local_time("not a date") == "not a date"


def test_a_strftime_layout_becomes_a_cldr_pattern_with_its_text_quoted():
    assert cldr_pattern("%d %b %Y %H:%M") == "dd' 'MMM' 'y' 'HH':'mm"
    assert cldr_pattern("at %H o'clock, 100%%") == "'at 'HH' o''clock, 100%'"


@pytest.mark.parametrize("locale, one, many", [("id", "1 hari", "3 hari"), ("en", "1 day", "3 days")])
def test_plurals(app, locale, one, many):
    template = '{% from "_macros/catalog.html" import period %}{{ period(n) }}'
    with app.test_request_context(), force_locale(locale):
        assert render_template_string(template, n=1).strip() == one
        assert render_template_string(template, n=3).strip() == many
        assert render_template_string(template, n=30).strip() == ("bulan" if locale == "id" else "month")
