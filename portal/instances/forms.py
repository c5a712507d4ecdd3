"""The instance's mail server form: the customer's own SMTP server, checked by the service on save and on test."""
from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from portal.forms import PortalForm
from portal.provisioning.mail import TLS_MODE_LABELS, TLS_MODES


class MailServerForm(PortalForm):
    # No field validators: the service checks the whole server (it resolves the host) and names each bad field.
    host = StringField(_l("SMTP server"), render_kw={"placeholder": "smtp.example.com", "maxlength": 253})
    port = IntegerField(_l("Port"), default=587, validators=[Optional()])
    tls_mode = SelectField(_l("Encryption"), choices=[SelectChoice(mode, TLS_MODE_LABELS[mode]) for mode in TLS_MODES],
                           default="starttls")
    username = StringField(_l("User name"), render_kw={"autocomplete": "off", "maxlength": 254})
    password = PasswordField(_l("Password"), render_kw={"autocomplete": "new-password", "maxlength": 500})
    sender = StringField(_l("Send emails from"), render_kw={"placeholder": "hello@example.com", "maxlength": 254})

    def errors_from(self, errors: dict[str, str]) -> None:
        for name, message in errors.items():
            getattr(self, name).errors = [*getattr(self, name).errors, message]
