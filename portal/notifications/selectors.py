"""Reading the outbox on the customer's side (the emails kept for one account), who hears staff alerts, and the
zone an email's times are written in."""
from collections.abc import Callable

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import Email
from portal.rendering import DEFAULT_CUSTOMER_ZONE

# Accounts sits above the outbox (it queues email), so the outbox cannot import its users: create_app hands in
# accounts' answers about them (accounts_connect), as the tasks modules hand unit_of_work their follow-up handlers.
_accounts: dict[str, Callable] = {}


def accounts_connect(*, staff_members: Callable[[], list], user_zone: Callable[[int], str | None],
                     user_locale: Callable[[int], str | None]) -> None:
    """Who the active staff are (objects with .email and .id), a user's own zone and language (None: not chosen)."""
    _accounts.update(staff_members=staff_members, user_zone=user_zone, user_locale=user_locale)


def _accounts_answer(question: str) -> Callable:
    if question not in _accounts:
        raise RuntimeError("the outbox reads users through accounts_connect, which create_app() calls")
    return _accounts[question]


def kept_email_of(*, user_id: int, email_id: int) -> Email | None:
    """One email of this account's, or None when it is someone else's (or does not exist)."""
    return db.session.scalar(select(Email).where(Email.id == email_id, Email.user_id == user_id))


def latest_kept_email_id(*, user_id: int, templates: tuple[str, ...]) -> int | None:
    """The newest email of these templates queued for this account."""
    return db.session.scalar(select(Email.id).where(Email.user_id == user_id, Email.template.in_(templates))
                             .order_by(Email.id.desc()).limit(1))


def kept_email(*, email_id: int) -> Email | None:
    return db.session.get(Email, email_id)


def latest_kept_email_id_to(*, recipient: str, templates: tuple[str, ...]) -> int | None:
    """The newest email of these templates queued for this address (whoever's account it is)."""
    return db.session.scalar(select(Email.id).where(Email.recipient == recipient, Email.template.in_(templates))
                             .order_by(Email.id.desc()).limit(1))


def staff_alert_recipients() -> dict[str, int | None]:
    """Every active staff member's address (with their user id), and STAFF_ALERT_EMAIL when set."""
    recipients = {u.email: u.id for u in _accounts_answer("staff_members")()}
    if current_app.config.get("STAFF_ALERT_EMAIL"):
        recipients.setdefault(current_app.config["STAFF_ALERT_EMAIL"], None)
    return recipients


def recipient_zone(user_id: int | None) -> str:
    """The zone an email's times are written in: the recipient's own, else UTC for staff, else the customers'
    default."""
    zone = _accounts_answer("user_zone")(user_id) if user_id else None
    return zone or current_app.config.get("DEFAULT_TIMEZONE") or DEFAULT_CUSTOMER_ZONE


# Staff emails (alerts, the monthly revenue summary) are written in English whatever the reader's language: an
# alert's title and message come from the code as English (stored in the email's context), and a half-translated
# alert reads worse than an English one.
STAFF_EMAIL_LOCALE = "en"
STAFF_TEMPLATES = ("staff_alert", "revenue_summary")


def recipient_locale(user_id: int | None, template: str) -> str:
    """The language an email is written in: the recipient's profile choice, else the portal's default; staff
    emails in English."""
    if template in STAFF_TEMPLATES:
        return STAFF_EMAIL_LOCALE
    locale = _accounts_answer("user_locale")(user_id) if user_id else None
    return locale or current_app.config["DEFAULT_LOCALE"]
