"""What other domains read of the accounts: the staff who receive staff email, and the zone and language a user
reads in."""
from sqlalchemy import select

from portal.accounts.models import User
from portal.extensions import db


def staff_members() -> list[User]:
    """The staff who receive staff email: every staff account that is not disabled."""
    return list(db.session.scalars(select(User).where(User.is_staff.is_(True), User.disabled.is_(False))))


def user_zone(user_id: int) -> str | None:
    """The user's own zone, else UTC for staff; None for a customer who chose none (or no such user)."""
    user = db.session.get(User, user_id)
    if user is None:
        return None
    return user.timezone or ("UTC" if user.is_staff else None)


def user_locale(user_id: int) -> str | None:
    """The language the user chose in their profile; None when they chose none (or no such user)."""
    user = db.session.get(User, user_id)
    return user.locale if user is not None else None
