"""Emails the portal kept instead of sending (no mail server on a local try-out), shown to their own account."""
from flask import Blueprint, abort, current_app, redirect, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from portal.notifications import mailer, selectors
from portal.notifications.services import email_parts
from portal.rendering import render_page

blueprint = Blueprint("mail", __name__, url_prefix="/mail")

CONFIRMATION = ("verify_email",)
# What a sign-up queues for its address: the confirmation for a new account, a notice to an existing one.
SIGNUP_MAIL = ("verify_email", "signup_existing")
# The kept emails this browser may read without being logged in as their owner (the ones its sign-up queued).
_GRANTED = "kept_emails"


def kept_mail_notice(*, user_id: int, templates: tuple[str, ...], sent: str, kept: str) -> str | Markup:
    """What to say after queuing an email: `sent` when a mail server delivers it; otherwise the truth (`kept`)
    with a link to read the newest such email, which only this account can open."""
    if mailer.mail_server_configured():
        return sent
    email_id = selectors.latest_kept_email_id(user_id=user_id, templates=templates)
    if email_id is None:
        return kept
    # Markup.format escapes both values: names and addresses in `kept` come from the customer.
    return Markup('{} <a class="alert-link" href="{}" data-testid="kept-mail-link">{}</a>').format(
        kept, url_for("mail.kept_email", email_id=email_id), _("Read the email"))


def kept_mail_grant(*, recipient: str, templates: tuple[str, ...]) -> str | None:
    """After a sign-up with no mail server: let this browser read the email just queued for `recipient`, and
    the link to it. Only on a local try-out (outbox only); with a mail server the inbox is the proof of ownership."""
    if mailer.mail_server_configured():
        return None
    email_id = selectors.latest_kept_email_id_to(recipient=recipient, templates=templates)
    if email_id is None:
        return None
    session[_GRANTED] = [*session.get(_GRANTED, [])[-9:], email_id]
    return url_for("mail.kept_email", email_id=email_id)


def _outbox_only() -> None:
    # With a mail server the email went to the inbox: nothing here may stand in for owning the address.
    if mailer.mail_server_configured():
        abort(404)


@blueprint.route("/<int:email_id>")
def kept_email(email_id: int):
    _outbox_only()
    if email_id in session.get(_GRANTED, []):
        email = selectors.kept_email(email_id=email_id) or abort(404)
    elif current_user.is_authenticated:
        email = selectors.kept_email_of(user_id=current_user.id, email_id=email_id) or abort(404)
    else:
        abort(404)
    if email.body_text is None:  # the worker has not rendered it yet
        subject, text, html = email_parts(email)
    else:
        subject, text, html = email.subject, email.body_text, email.body_html
    link = email.context.get("link") if isinstance(email.context, dict) else None
    return render_page("accounts/kept_email.html", email=email, subject=subject, text=text, html=html,
                       link=link if isinstance(link, str) and link.startswith(("https://", "http://")) else None)


@blueprint.route("/confirmation")
def latest_confirmation():
    """The newest confirmation email of this account (the unconfirmed banner links here)."""
    _outbox_only()  # before asking anyone to log in: with a mail server this page does not exist
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    email_id = selectors.latest_kept_email_id(user_id=current_user.id, templates=CONFIRMATION) or abort(404)
    return redirect(url_for("mail.kept_email", email_id=email_id))
