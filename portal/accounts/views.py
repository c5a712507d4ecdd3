"""Sign-up, log-in, email verification, password reset and the profile pages."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from portal.accounts import forms, services
from portal.extensions import limiter, login_manager
from portal.i18n import LOCALE_COOKIE
from portal.notifications.views import CONFIRMATION, SIGNUP_MAIL, kept_mail_grant, kept_mail_notice
from portal.rendering import DEFAULT_CUSTOMER_ZONE, client_ip, redirect_after_post, render_page

blueprint = Blueprint("accounts", __name__)


def _auth_limit():
    return current_app.config["AUTH_RATE_LIMIT"]


@login_manager.user_loader
def load_user(session_id: str):
    return services.user_for_session(session_id)


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so a crafted ?next= cannot send someone elsewhere after log-in."""
    # Browsers read "/\host" as "//host": a backslash or control character anywhere disqualifies.
    if (target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc
            and "\\" not in target and target.isprintable()):
        return target
    return url_for("home.index")


def _start_session(user, remember: bool = False) -> None:
    # A fresh session on log-in: nothing an attacker planted before survives (no fixation).
    session.clear()
    login_user(user, remember=remember)


@blueprint.route("/signup", methods=["GET", "POST"])
@limiter.limit(_auth_limit, methods=["POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = forms.SignupForm()
    if form.validate_on_submit():
        try:
            services.user_register(name=form.name.data, email=form.email.data, password=form.password.data,
                                   ip=client_ip(), locale=str(get_locale()))
        except services.AccountError as error:
            forms.form_error(form, error)
        else:
            # The same answer whether the address was new or already had an account (its owner gets a notice).
            sent_to = services.email_normalise(form.email.data)
            return render_page("accounts/signup.html", block="form", form=form, sent_to=sent_to,
                               kept_link=kept_mail_grant(recipient=sent_to, templates=SIGNUP_MAIL))
    status = 422 if form.is_submitted() else 200
    return render_page("accounts/signup.html", block="form", status=status, form=form, sent_to=None,
                       kept_link=None)


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(_auth_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = forms.LoginForm()
    if form.validate_on_submit():
        try:
            user = services.user_authenticate(email=form.email.data, password=form.password.data, ip=client_ip())
        except services.AccountError as error:
            forms.form_error(form, error)
        else:
            _start_session(user, remember=form.remember.data)
            return redirect_after_post(_safe_next(request.args.get("next")))
    status = 422 if form.is_submitted() else 200
    return render_page("accounts/login.html", block="form", status=status, form=form)


@blueprint.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        # Ended on the server: the session and remember-me cookies of this log-in stop working, even if copied.
        services.session_end(session_id=current_user.get_id(), ip=client_ip())
    # Cleared first: logout_user then leaves its note to delete the remember-me cookie (clearing after it erased
    # that note, and the browser kept the cookie).
    session.clear()
    logout_user()
    flash(_("You have been logged out."), "info")
    return redirect_after_post(url_for("accounts.login"))


@blueprint.route("/verify/<token>")
def verify_email(token: str):
    try:
        user = services.user_verify_email(token=token)
    except services.InvalidToken as error:
        return render_page("accounts/token_invalid.html", status=400, message=error.message,
                           resend=current_user.is_authenticated)
    flash(_("Thank you — %(email)s is confirmed.", email=user.email), "success")
    return redirect(url_for("home.index" if current_user.is_authenticated else "accounts.login"))


@blueprint.route("/verify/resend", methods=["POST"])
@login_required
@limiter.limit(_auth_limit)
def resend_verification():
    services.email_verification_resend(user_id=current_user.id)
    flash(kept_mail_notice(
        user_id=current_user.id, templates=CONFIRMATION,
        sent=_("We sent a new confirmation link to %(email)s.", email=current_user.email),
        kept=_("This local try-out has no mail server, so the portal kept the new confirmation link for "
               "%(email)s instead of sending it.", email=current_user.email)), "info")
    return redirect_after_post(url_for("accounts.profile"))


@blueprint.route("/forgot", methods=["GET", "POST"])
@limiter.limit(_auth_limit, methods=["POST"])
def forgot_password():
    form = forms.ForgotPasswordForm()
    if form.validate_on_submit():
        services.password_reset_request(email=form.email.data, ip=client_ip())
        # The same answer whether or not the address has an account.
        return render_page("accounts/forgot.html", block="form", form=form, sent_to=form.email.data)
    status = 422 if form.is_submitted() else 200
    return render_page("accounts/forgot.html", block="form", status=status, form=form, sent_to=None)


@blueprint.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_auth_limit, methods=["POST"])
def reset_password(token: str):
    try:
        services.password_reset_user(token=token)
    except services.InvalidToken as error:
        return render_page("accounts/token_invalid.html", status=400, message=error.message, resend=False,
                           offer_reset=True)
    form = forms.ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = services.password_reset(token=token, new_password=form.password.data, ip=client_ip())
        except services.AccountError as error:
            forms.form_error(form, error)
        else:
            _start_session(user)
            flash(_("Your password has been changed and you are logged in."), "success")
            return redirect_after_post(url_for("home.index"))
    status = 422 if form.is_submitted() else 200
    return render_page("accounts/reset.html", block="form", status=status, form=form, token=token)


@blueprint.route("/account", methods=["GET", "POST"])
@login_required
@limiter.limit(_auth_limit, methods=["POST"])
def profile():
    form = forms.ProfileForm(obj=current_user)
    password_form = forms.PasswordChangeForm(formdata=None)
    if form.validate_on_submit():
        pending = current_user.pending_email
        try:
            user = services.profile_update(user_id=current_user.id, name=form.name.data,
                                           email=form.email.data, ip=client_ip())
        except services.AccountError as error:
            forms.form_error(form, error)
        else:
            if user.pending_email and user.pending_email != pending:
                flash(kept_mail_notice(
                    user_id=user.id, templates=CONFIRMATION,
                    sent=_("Saved. We sent a link to %(email)s: your address changes once you follow it.",
                           email=user.pending_email),
                    kept=_("Saved. This local try-out has no mail server, so the portal kept the link for "
                           "%(email)s instead of sending it: your address changes once you follow it.",
                           email=user.pending_email)),
                      "success")
            else:
                flash(_("Your profile has been saved."), "success")
            return redirect_after_post(url_for("accounts.profile"))
    status = 422 if form.is_submitted() else 200
    return render_page("accounts/profile.html", block="profile_form", status=status,
                       form=form, password_form=password_form, timezone_form=_timezone_form(formdata=None),
                       locale_form=_locale_form())


@blueprint.route("/account/password", methods=["POST"])
@login_required
@limiter.limit(_auth_limit)
def change_password():
    form = forms.ProfileForm(obj=current_user, formdata=None)
    password_form = forms.PasswordChangeForm()
    if password_form.validate_on_submit():
        try:
            user = services.password_change(user_id=current_user.id,
                                            current_password=password_form.current_password.data,
                                            new_password=password_form.new_password.data, ip=client_ip())
        except services.AccountError as error:
            forms.form_error(password_form, error)
        else:
            # Every session ended with the old password; this one carries on in the new session the service opened.
            _start_session(user)
            flash(_("Your password has been changed. Other devices have been logged out."), "success")
            return redirect_after_post(url_for("accounts.profile"))
    return render_page("accounts/profile.html", block="password_form", status=422,
                       form=form, password_form=password_form, timezone_form=_timezone_form(formdata=None),
                       locale_form=_locale_form())


def _timezone_form(**kwargs) -> forms.TimezoneForm:
    form = forms.TimezoneForm(**kwargs)
    form.timezone.choices = services.timezone_names()
    if not form.is_submitted() or kwargs.get("formdata", True) is None:
        form.timezone.data = (current_user.timezone or current_app.config.get("DEFAULT_TIMEZONE")
                               or DEFAULT_CUSTOMER_ZONE)
    return form


@blueprint.route("/account/timezone", methods=["POST"])
@login_required
def change_timezone():
    form = _timezone_form()
    if form.validate_on_submit():
        try:
            services.user_set_timezone(user_id=current_user.id, zone=form.timezone.data, ip=client_ip())
        except services.AccountError as error:
            forms.form_error(form, error)
        else:
            flash(_("Times are now shown in %(zone)s.", zone=form.timezone.data), "success")
            return redirect_after_post(url_for("accounts.profile"))
    return render_page("accounts/profile.html", block="timezone_form", status=422,
                       form=forms.ProfileForm(obj=current_user, formdata=None),
                       password_form=forms.PasswordChangeForm(formdata=None), timezone_form=form,
                       locale_form=_locale_form())


def _locale_form(**kwargs) -> forms.LocaleForm:
    form = forms.LocaleForm(formdata=None, **kwargs)
    form.locale.data = current_user.locale or str(get_locale())
    form.next.data = url_for("accounts.profile")
    return form


# A guest's language choice is remembered this long (a signed-in customer's is saved in the profile too).
LOCALE_COOKIE_SECONDS = 365 * 24 * 3600


@blueprint.route("/language", methods=["POST"])
def change_language():
    """The footer switcher and the profile's language card: a cookie for everyone, the profile for a customer;
    then back to the page the reader came from (a local path only)."""
    form = forms.LocaleForm()
    target = _safe_next(form.next.data)
    if not form.validate_on_submit():
        flash(_("Pick a language from the list."), "error")
        return redirect(target, code=303)
    locale = form.locale.data
    if current_user.is_authenticated:
        services.user_set_locale(user_id=current_user.id, locale=locale, ip=client_ip())
        with force_locale(locale):
            flash(_("Pages and emails are now in English.") if locale == "en"
                  else _("Pages and emails are now in Indonesian."), "success")
    response = redirect(target, code=303)
    response.set_cookie(LOCALE_COOKIE, locale, max_age=LOCALE_COOKIE_SECONDS, samesite="Lax",
                        secure=request.is_secure, httponly=True)
    return response
