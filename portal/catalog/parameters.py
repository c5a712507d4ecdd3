"""Customer settings checked against a template's parameters, subdomain rules, and generated secrets."""
import re
import secrets as random_source
import string
import zoneinfo
from collections.abc import Mapping

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from portal.catalog.templates import ParameterSpec, SecretSpec, ServiceTemplate

SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]{1,38}[a-z0-9])$")
RESERVED_SUBDOMAINS = frozenset({
    "www", "admin", "api", "app", "apps", "mail", "smtp", "imap", "pop", "ftp", "ns", "ns1", "ns2",
    "portal", "dashboard", "billing", "status", "support", "help", "docs", "blog", "static", "assets",
    "cdn", "auth", "login", "account", "accounts", "staff", "root", "test", "dev", "staging", "prod",
    "k8s", "kubernetes", "ingress", "metrics", "grafana", "prometheus", "webhook", "webhooks",
})
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
ALPHABETS = {
    "alphanumeric": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "urlsafe": string.ascii_letters + string.digits + "-_",
}


class SettingsInvalid(Exception):
    """Settings that do not fit the template; `errors` maps each field to a message for the customer."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def timezones() -> list[str]:
    return sorted(zone for zone in zoneinfo.available_timezones() if "/" in zone and not zone.startswith("Etc/"))


def subdomain_problem(value: str) -> str | None:
    """Why a subdomain cannot be used (format or reserved), or None; "taken" is the database's call."""
    if not value:
        return "Choose an address for your instance."
    if len(value) < 3 or len(value) > 40:
        return "Use 3 to 40 characters."
    if not SUBDOMAIN.fullmatch(value):  # match() would let a final newline through
        return "Use lowercase letters, digits and hyphens; start and end with a letter or digit."
    if "--" in value:
        return "Do not use two hyphens in a row."
    if value in RESERVED_SUBDOMAINS:
        return "This address is reserved. Please choose another."
    return None


def _clean_one(parameter: ParameterSpec, raw) -> str | int | bool | None:
    """One value in its proper type; raises ValueError with a message for the customer."""
    if parameter.type == "boolean":
        if isinstance(raw, bool):
            return raw
        if raw is None or raw == "":
            return bool(parameter.default)
        text = str(raw).strip().lower()
        if text in {"true", "1", "y", "yes", "on"}:
            return True
        if text in {"false", "0", "n", "no", "off"}:
            return False
        raise ValueError(_("Choose yes or no."))
    text = "" if raw is None else str(raw).strip()
    if text == "":
        if parameter.required:
            raise ValueError(_("This field is required."))
        return None
    if CONTROL_CHARACTERS.search(text):
        raise ValueError(_("Use a single line without control characters."))
    if len(text) > parameter.max_length:
        raise ValueError(_("Use at most %(max)d characters.", max=parameter.max_length))
    if parameter.min_length is not None and len(text) < parameter.min_length:
        raise ValueError(_("Use at least %(num)d characters.", num=parameter.min_length))
    if parameter.type == "integer":
        if not re.fullmatch(r"-?\d{1,12}", text):
            raise ValueError(_("Enter a whole number."))
        number = int(text)
        if parameter.minimum is not None and number < parameter.minimum:
            raise ValueError(_("Use %(num)s or more.", num=parameter.minimum))
        if parameter.maximum is not None and number > parameter.maximum:
            raise ValueError(_("Use %(num)s or less.", num=parameter.maximum))
        return number
    if parameter.type == "email":
        try:
            return validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(_("That email address is not valid: %(reason)s", reason=exc)) from exc
    if parameter.type == "url" and not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", text):
        raise ValueError(_("Enter a full address starting with https://"))
    if parameter.type == "choice" and text not in (parameter.choices or []):
        raise ValueError(_("Choose one of the options."))
    if parameter.type == "timezone" and text not in zoneinfo.available_timezones():
        raise ValueError(_("Choose a timezone from the list."))
    if parameter.pattern and not re.fullmatch(parameter.pattern, text):
        raise ValueError(parameter.pattern_message)
    return text


def settings_clean(template: ServiceTemplate, raw: Mapping[str, object]) -> dict:
    """The template's parameters, each validated and typed, defaults filled in; unknown keys dropped."""
    cleaned, errors = {}, {}
    for parameter in template.parameters:
        value = raw.get(parameter.name, parameter.default)
        try:
            cleaned[parameter.name] = _clean_one(parameter, value)
        except ValueError as exc:
            errors[parameter.name] = str(exc)
    if errors:
        raise SettingsInvalid(errors)
    return cleaned


def settings_defaults(template: ServiceTemplate) -> dict:
    return {p.name: p.default for p in template.parameters}


def env_text(parameter: ParameterSpec, value) -> str:
    """How a setting reads inside an environment variable."""
    if parameter.type == "boolean":
        return parameter.true_value if value else parameter.false_value
    return "" if value is None else str(value)


def secret_generate(spec: SecretSpec) -> str:
    alphabet = ALPHABETS[spec.alphabet]
    return "".join(random_source.choice(alphabet) for _position in range(spec.length))


def secrets_generate(template: ServiceTemplate) -> dict[str, str]:
    """Fresh values for every secret the template declares (made once per instance, then kept)."""
    return {spec.name: secret_generate(spec) for spec in template.secrets}
