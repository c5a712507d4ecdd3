"""Account forms; the rules that need the database live in accounts.services."""
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from portal.forms import PortalForm


def _at_most(characters: int) -> Length:
    # Shorter than WTForms' own "Field cannot be longer than N characters."
    return Length(max=characters, message=_l("Use at most %(max)d characters."))


class SignupForm(PortalForm):
    name = StringField(_l("Full name"), validators=[DataRequired(_l("Please tell us your name.")), _at_most(120)])
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Please enter your email.")), _at_most(254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Please choose a password."))])


class LoginForm(PortalForm):
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Please enter your email."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Please enter your password."))])
    remember = BooleanField(_l("Keep me logged in on this device"))


class ForgotPasswordForm(PortalForm):
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Please enter your email.")), _at_most(254)])


class ResetPasswordForm(PortalForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(_l("Please choose a password."))])
    confirm = PasswordField(_l("Repeat new password"),
                            validators=[DataRequired(_l("Please repeat the password.")),
                                        EqualTo("password", _l("The two passwords do not match."))])


class ProfileForm(PortalForm):
    name = StringField(_l("Full name"), validators=[DataRequired(_l("Please tell us your name.")), _at_most(120)])
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Please enter your email.")), _at_most(254)])


class TimezoneForm(PortalForm):
    # Choices come from accounts.services.timezone_names(); the service checks the value again.
    timezone = SelectField(_l("Time zone"), validate_choice=False,
                           validators=[DataRequired(_l("Pick a time zone."))])


class PasswordChangeForm(PortalForm):
    current_password = PasswordField(_l("Current password"),
                                     validators=[DataRequired(_l("Please enter your current password."))])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(_l("Please choose a new password."))])
    confirm = PasswordField(_l("Repeat new password"),
                            validators=[DataRequired(_l("Please repeat the new password.")),
                                        EqualTo("new_password", _l("The two passwords do not match."))])


# Each language named in itself, so a reader who cannot read the current one still finds theirs.
LANGUAGE_NAMES = (("id", "Bahasa Indonesia"), ("en", "English"))


class LocaleForm(PortalForm):
    locale = SelectField(_l("Language"),
                         choices=[SelectChoice(code, name, render_kw={"lang": code}) for code, name in LANGUAGE_NAMES],
                         validators=[DataRequired(_l("Pick a language."))])
    # Where to go back to afterwards: a local path only (the view checks it).
    next = HiddenField()


def form_error(form: PortalForm, error) -> None:
    """Show a service's AccountError on the field it names, or on the form as a whole."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)
