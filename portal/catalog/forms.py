"""The settings form, built from a template's parameters plus the instance's subdomain."""
from collections.abc import Callable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, SelectField, StringField, URLField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from portal.catalog.parameters import SettingsInvalid, settings_clean, subdomain_problem, timezones
from portal.catalog.templates import ParameterSpec, ServiceTemplate
from portal.forms import PortalForm


def _field(parameter: ParameterSpec):
    options = {"label": parameter.label, "description": parameter.help, "default": parameter.default}
    if parameter.type == "boolean":
        return BooleanField(**options)
    if parameter.type == "choice":
        return SelectField(choices=[SelectChoice(c) for c in parameter.choices], validate_choice=False, **options)
    if parameter.type == "timezone":
        # Grouped by region, so the long list reads like the one on a phone's settings screen.
        choices = [SelectChoice(zone, zone.split("/", 1)[1].replace("_", " "), optgroup=zone.split("/", 1)[0])
                   for zone in timezones()]
        return SelectField(choices=choices, validate_choice=False, **options)
    length = [Length(max=parameter.max_length), Optional()]
    if parameter.type == "email":
        return EmailField(validators=length, **options)
    if parameter.type == "url":
        return URLField(validators=length, **options)
    render_kw = {"inputmode": "numeric"} if parameter.type == "integer" else {}
    return StringField(validators=length, render_kw=render_kw, **options)


class SettingsForm(PortalForm):
    """Base class; settings_form_class adds one field per parameter."""

    template: ServiceTemplate
    with_subdomain: bool

    def parameter_fields(self):
        return [self[p.name] for p in self.template.parameters]

    def settings_data(self) -> dict:
        return {p.name: self[p.name].data for p in self.template.parameters}

    def validate_settings(self, *, subdomain_taken: Callable[[str], bool] | None = None) -> dict | None:
        """Validate the form and the parameters' own rules; returns the cleaned settings or None."""
        ok = self.validate()
        cleaned = None
        try:
            cleaned = settings_clean(self.template, self.settings_data())
        except SettingsInvalid as invalid:
            for name, message in invalid.errors.items():
                self[name].errors = [*self[name].errors, message]
            ok = False
        if self.with_subdomain:
            subdomain = (self.subdomain.data or "").strip().lower()
            self.subdomain.data = subdomain
            problem = subdomain_problem(subdomain)
            if problem is None and subdomain_taken is not None and subdomain_taken(subdomain):
                problem = _("This address is already taken. Please choose another.")
            if problem:
                self.subdomain.errors = [*self.subdomain.errors, problem]
                ok = False
        return cleaned if ok else None


def settings_form_class(template: ServiceTemplate, *, with_subdomain: bool = True) -> type[SettingsForm]:
    """A form class for this template: its parameters (and, for a new instance, the subdomain)."""
    attributes = {"template": template, "with_subdomain": with_subdomain}
    if with_subdomain:
        attributes["subdomain"] = StringField(
            _l("Address"), description=_l("Lowercase letters, digits and hyphens, 3 to 40 characters."),
            validators=[Length(max=63)], render_kw={"autocapitalize": "none", "spellcheck": "false"})
    for parameter in template.parameters:
        attributes[parameter.name] = _field(parameter)
    return type(f"{template.slug.title()}SettingsForm", (SettingsForm,), attributes)
