"""The reader's language: Flask-Babel's catalogs, chosen by profile, then the guest's choice, then the browser."""
from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel
from flask_login import current_user

from portal import config as portal_config

LOCALES = ("id", "en")
# A guest's choice from the footer switcher, kept a year.
LOCALE_COOKIE = "locale"
TRANSLATIONS_DIR = portal_config.ROOT / "portal" / "translations"

babel = Babel()


def locale_select() -> str:
    """The customer's profile, else the footer switcher's cookie, else Accept-Language, else the default (id)."""
    if has_request_context():
        chosen = getattr(current_user, "locale", None) if current_user else None
        if chosen in LOCALES:
            return chosen
    return guest_locale()


def guest_locale() -> str:
    """The language without asking the database: the switcher's cookie, else Accept-Language, else the default
    (the page shown when the database is out of reach uses it)."""
    if has_request_context():
        cookie = request.cookies.get(LOCALE_COOKIE)
        if cookie in LOCALES:
            return cookie
        best = request.accept_languages.best_match(LOCALES)
        if best:
            return best
    return current_app.config["DEFAULT_LOCALE"]


def i18n_init(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=locale_select, default_locale=app.config["DEFAULT_LOCALE"])
