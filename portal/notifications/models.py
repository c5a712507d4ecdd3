"""The email outbox: every email the portal sends is first a row here."""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db, one_of, substring_index
from portal.timestamps import UtcDateTime

STATES = ("queued", "sent", "failed")


class Email(db.Model):
    __tablename__ = "emails"
    __table_args__ = (
        CheckConstraint(one_of("state", STATES), name="state_known"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_emails_state_created_at", "state", "created_at"),
        Index("ix_emails_template", "template"),
        substring_index("ix_emails_recipient_trgm", "recipient"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Makes "send this once" a database fact: a second enqueue with the same key is a no-op.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    recipient: Mapped[str] = mapped_column(String(254))
    template: Mapped[str] = mapped_column(String(64))
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(255))
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
