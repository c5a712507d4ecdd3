"""Rendering pages and their htmx fragments, and template helpers shared by every page."""
import csv
import functools
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from flask import Flask, Response, current_app, make_response, redirect, render_template, request
from flask_babel import get_locale, gettext, ngettext
from flask_login import current_user
from jinja2_fragments.flask import render_block

from portal.phrases import Phrase, is_phrase


def render_page(template_name: str, /, *, block: str | None = None, status: int = 200, **context) -> Response:
    """The whole page, or only `block` of it when htmx asks (same URL, so Vary on HX-Request)."""
    if block and getattr(request, "htmx", False) and not request.htmx.boosted:
        body = render_block(template_name, block, **context)
    else:
        body = render_template(template_name, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def render_polling(template_name: str, /, *, block: str, settled: bool, **context) -> Response:
    """A page whose `block` polls itself: once nothing is left to wait for, htmx gets 286 and stops."""
    response = render_page(template_name, block=block, **context)
    if getattr(request, "htmx", False) and settled:
        response.status_code = 286
    return response


def redirect_after_post(url: str) -> Response:
    """After a successful form post: HX-Redirect for htmx, a 303 for a plain browser."""
    if getattr(request, "htmx", False):
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=303)


def client_ip() -> str | None:
    return request.remote_addr


# A spreadsheet reads a cell starting with one of these as a formula ("CSV injection"); numbers stay numbers.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: list[str], rows: Iterable[list]) -> str:
    """A CSV document: the header line, then each row (exports, email attachments), every text cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def reading_locale() -> str:
    """The language the current page or email is written in (Flask-Babel's choice; outside a request, the
    default)."""
    locale = get_locale()
    return str(locale) if locale else "en"


# Rupiah have no minor unit in practice: the symbol "Rp" in both languages, Babel's grouping for the reader's
# (Rp150.000 in Indonesian, Rp150,000 in English).
IDR_PATTERN = "'Rp'#,##0"


def format_idr(amount: int | None) -> str:
    """Rupiah in the reader's language: Rp150.000 (id), Rp150,000 (en)."""
    if amount is None:
        return ""
    return format_currency(int(amount), "IDR", format=IDR_PATTERN, currency_digits=False, locale=reading_locale())


def translated(text: str | Phrase | None) -> str | None:
    """A text the catalog holds but a template gets as a value (a plan's name from the service templates, a stored
    phrase), in the reader's language; text the catalog does not hold stays as it is. Not Jinja's `_()`: newstyle
    gettext marks its result safe, and this value must be escaped."""
    if is_phrase(text):
        return phrase_read(text)
    return gettext(text) if text else text


def _read_value(value):
    if is_phrase(value):
        return phrase_read(value)
    if isinstance(value, dict) and "at" in value:
        return format_local_time(value["at"])
    if isinstance(value, dict) and "day" in value:
        return format_date(date.fromisoformat(value["day"]), cldr_pattern("%d %b %Y"), locale=reading_locale())
    if isinstance(value, dict) and "day_of" in value:
        return format_local_date(value["day_of"])
    return value


def phrase_read(stored: Phrase) -> str:
    """A stored phrase (portal/phrases.py) in the reader's language, its moments in the reader's zone."""
    values = {name: _read_value(value) for name, value in (stored.get("values") or {}).items()}
    if "plural" in stored:
        return ngettext(stored["message"], stored["plural"], stored["num"], **values)
    return gettext(stored["message"], **values)


def stored_text(message: str | None, stored: Phrase | None = None) -> str:
    """What the portal stored (a timeline event, a DNS finding) in the reader's language: its phrase when it has
    one, else the catalog's words for the stored text (a constant), else the text as stored."""
    if is_phrase(stored):
        return phrase_read(stored)
    return gettext(message) if message else ""


def format_number(value: int | float | None) -> str:
    """A number with the reader's grouping and decimal mark (1.234,5 in Indonesian, 1,234.5 in English)."""
    if value is None:
        return ""
    return format_decimal(value, locale=reading_locale())


DEFAULT_CUSTOMER_ZONE = "Asia/Jakarta"


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def display_zone() -> ZoneInfo:
    """The zone times are shown in: the reader's own (profile), else UTC on staff pages, else the
    customers' default (Asia/Jakarta)."""
    chosen = getattr(current_user, "timezone", None) if current_user else None
    if chosen:
        return _zone(chosen)
    if request and request.blueprint == "admin":
        return _zone("UTC")
    return _zone(current_app.config.get("DEFAULT_TIMEZONE") or DEFAULT_CUSTOMER_ZONE)


def _moment(value: datetime | str | None) -> datetime | str | None:
    """Emails carry moments as ISO text in their stored context; text that is not ISO is shown as it is."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


# Templates name their layout in strftime's codes; Babel writes it in the reader's language from CLDR's.
_STRFTIME_TO_CLDR = {"d": "dd", "-d": "d", "e": "d", "b": "MMM", "B": "MMMM", "m": "MM", "Y": "y", "y": "yy",
                     "H": "HH", "M": "mm", "S": "ss", "a": "EEE", "A": "EEEE", "%": "%"}


@functools.lru_cache(maxsize=64)
def cldr_pattern(pattern: str) -> str:
    """A strftime layout ("%d %b %Y %H:%M") as a CLDR pattern ("dd MMM y HH:mm"); other text kept literally."""
    out, literal, i = [], "", 0
    while i < len(pattern):
        code = pattern[i + 1:i + 3] if pattern[i + 1:i + 2] == "-" else pattern[i + 1:i + 2]
        if pattern[i] == "%" and code in _STRFTIME_TO_CLDR and code != "%":
            if literal:
                out.append("'" + literal.replace("'", "''") + "'")
                literal = ""
            out.append(_STRFTIME_TO_CLDR[code])
            i += 1 + len(code)
        else:
            literal += "%" if pattern[i:i + 2] == "%%" else pattern[i]
            i += 2 if pattern[i:i + 2] == "%%" else 1
    if literal:
        out.append("'" + literal.replace("'", "''") + "'")
    return "".join(out)


def format_local_time(moment: datetime | str | None, pattern: str = "%d %b %Y %H:%M", zone: str | None = None) -> str:
    """A moment in the reader's zone and language with the zone named ("30 Nov 2026 15:58 WIB"); '' for none."""
    moment = _moment(moment)
    if moment is None or isinstance(moment, str):
        return moment or ""
    if moment.tzinfo is None:  # stored as UTC
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(_zone(zone) if zone else display_zone())
    text = format_datetime(local, cldr_pattern(pattern), tzinfo=local.tzinfo, locale=reading_locale())
    return f"{text} {local.tzname()}"


def format_local_date(moment: datetime | str | None, pattern: str = "%d %b %Y", zone: str | None = None) -> str:
    """The calendar day a moment falls on in the reader's zone (no zone name: a day is a day)."""
    moment = _moment(moment)
    if moment is None or isinstance(moment, str):
        return moment or ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(_zone(zone) if zone else display_zone())
    return format_date(local.date(), cldr_pattern(pattern), locale=reading_locale())


@functools.lru_cache(maxsize=64)
def _static_file_exists(static_folder: str, filename: str) -> bool:
    return (Path(static_folder) / filename).is_file()


def app_logo_file(logo: str | None) -> str:
    """The app's logo under static/img/apps/, or the generic one when it has none or the file is missing
    (decided here: an onerror fallback would be an inline script, which the security policy forbids)."""
    filename = f"img/apps/{logo}" if logo else ""
    if filename and "/" not in logo and _static_file_exists(current_app.static_folder, filename):
        return filename
    return "img/apps/generic.svg"


def register(app: Flask) -> None:
    app.jinja_env.filters["idr"] = format_idr
    app.jinja_env.filters["localtime"] = format_local_time
    app.jinja_env.filters["localdate"] = format_local_date
    app.jinja_env.filters["number"] = format_number
    app.jinja_env.filters["translated"] = translated
    app.jinja_env.globals["stored_text"] = stored_text
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["app_logo_file"] = app_logo_file

    @app.context_processor
    def product():
        return {
            "product_name": current_app.config["PRODUCT_NAME"],
            "support_email": current_app.config["SUPPORT_EMAIL"],
            "mail_outbox_only": not current_app.config.get("MAIL_SERVER"),
        }
