"""The user account and its log-in sessions."""
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db, substring_index
from portal.timestamps import UtcDateTime


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),
                      substring_index("ix_users_email_trgm", "email"),
                      substring_index("ix_users_name_trgm", "name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    email_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # An address the user asked to change to: it replaces `email` only once its link is followed.
    pending_email: Mapped[str | None] = mapped_column(String(254))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # No longer read: log-in sessions live in user_sessions. Kept while raw inserts (bench seed, tests) name it.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The per-account throttle on failed log-ins: failures since the window began, and the lock they led to.
    login_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    login_failures_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    login_locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)

    # The log-in session this object was loaded for (not a column): its key goes into the cookies.
    # IANA name the person reads times in; None means the portal's default (rendering.display_zone).
    timezone: Mapped[str | None] = mapped_column(String(64))
    # The language ("id" or "en") pages and emails are in; None means the browser's, else the default.
    locale: Mapped[str | None] = mapped_column(String(8))

    # The log-in session this object was loaded for (not a column): its key goes into the cookies.
    session_key = None

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and remember-me cookies: this user and this session's key."""
        return f"{self.id}:{self.session_key}"

    @property
    def is_active(self) -> bool:
        return not self.disabled

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class UserSession(db.Model):
    """One log-in on one device: the cookies carry its key; log-out ends it, a password change or disable
    ends all of the user's."""
    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the key in the cookie: a copy of the table opens no session.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
