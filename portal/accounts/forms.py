"""Account forms; the rules that need the database live in accounts.services."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class SignupForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired("Please tell us your name."), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired("Please enter your email."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Please choose a password.")])


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Please enter your email.")])
    password = PasswordField("Password", validators=[DataRequired("Please enter your password.")])
    remember = BooleanField("Keep me logged in on this device")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Please enter your email."), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired("Please choose a password.")])
    confirm = PasswordField("Repeat new password",
                            validators=[DataRequired("Please repeat the password."),
                                        EqualTo("password", "The two passwords do not match.")])


class ProfileForm(FlaskForm):
    name = StringField("Full name", validators=[DataRequired("Please tell us your name."), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired("Please enter your email."), Length(max=254)])


class TimezoneForm(FlaskForm):
    # Choices come from accounts.services.timezone_names(); the service checks the value again.
    timezone = SelectField("Time zone", validate_choice=False,
                           validators=[DataRequired("Pick a time zone.")])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password",
                                     validators=[DataRequired("Please enter your current password.")])
    new_password = PasswordField("New password", validators=[DataRequired("Please choose a new password.")])
    confirm = PasswordField("Repeat new password",
                            validators=[DataRequired("Please repeat the new password."),
                                        EqualTo("new_password", "The two passwords do not match.")])


def form_error(form: FlaskForm, error) -> None:
    """Show a service's AccountError on the field it names, or on the form as a whole."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)
