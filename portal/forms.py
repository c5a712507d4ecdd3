"""The base of every form: WTForms' built-in messages in the reader's language, from our own catalog where WTForms
has none (Indonesian)."""
from babel.support import NullTranslations, Translations
from flask import g, has_request_context
from flask_babel import get_locale
from flask_wtf import FlaskForm
from flask_wtf.i18n import translations as wtforms_translations

from portal.i18n import TRANSLATIONS_DIR

WTFORMS_DOMAIN = "wtforms"


def _wtforms_catalog(locale: str):
    """Our wtforms.mo for this locale, else None (WTForms' own catalogs then serve it, English among them)."""
    translations = Translations.load(str(TRANSLATIONS_DIR), [locale], domain=WTFORMS_DOMAIN)
    # Translations.load answers NullTranslations (not an error) when no .mo exists for the locale.
    return None if type(translations) is NullTranslations else translations


class _ReaderTranslations:
    """gettext/ngettext as WTForms calls them, looked up per request in the request's locale."""

    def _catalog(self):
        if not has_request_context():
            return wtforms_translations
        locale = str(get_locale())
        cached = g.setdefault("wtforms_catalogs", {})
        if locale not in cached:
            cached[locale] = _wtforms_catalog(locale) or wtforms_translations
        return cached[locale]

    def gettext(self, string):
        return self._catalog().gettext(string)

    def ngettext(self, singular, plural, n):
        return self._catalog().ngettext(singular, plural, n)


reader_translations = _ReaderTranslations()


class PortalForm(FlaskForm):
    """Every form in portal/ derives from this: its built-in validators' messages read in the page's language."""

    class Meta:
        def get_translations(self, form):
            return reader_translations
