"""Reading the outbox on the customer's side (the emails kept for one account), and who hears staff alerts."""
from flask import current_app
from sqlalchemy import select

from portal.accounts.models import User
from portal.extensions import db
from portal.notifications.models import Email


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


def staff_members() -> list[User]:
    """The staff who receive staff email: every staff account that is not disabled."""
    return list(db.session.scalars(select(User).where(User.is_staff.is_(True), User.disabled.is_(False))))


def staff_alert_recipients() -> dict[str, int | None]:
    """Every active staff member's address (with their user id), and STAFF_ALERT_EMAIL when set."""
    recipients = {u.email: u.id for u in staff_members()}
    if current_app.config.get("STAFF_ALERT_EMAIL"):
        recipients.setdefault(current_app.config["STAFF_ALERT_EMAIL"], None)
    return recipients
