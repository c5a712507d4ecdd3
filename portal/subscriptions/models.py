"""A customer's subscription: one instance of a plan, with its life-cycle state, what the cluster last said of it
(status, rollout in progress) and its timeline of events."""
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db, one_of, substring_index
from portal.subscriptions.states import STATES, SUSPENSION_REASONS
from portal.timestamps import UtcDateTime

EVENT_LEVELS = ("info", "warning", "error")
# What the portal itself is rolling out on an instance (its pods are replaced on purpose, so not an outage).
ROLLOUT_KINDS = ("restart", "settings")


class Subscription(db.Model):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(one_of("state", STATES), name="state_known"),
        CheckConstraint(f"suspension_reason IS NULL OR {one_of('suspension_reason', SUSPENSION_REASONS)}",
                        name="suspension_reason_known"),
        Index("ix_subscriptions_state_period_end", "state", "current_period_end"),
        substring_index("ix_subscriptions_subdomain_trgm", "subdomain"),
        # An address belongs to one order that is not cancelled: a cancelled order lets it go (and gets it back
        # only while nobody else took it, when a late payment revives it).
        Index("uq_subscriptions_subdomain_held", "subdomain", unique=True,
              postgresql_where=text("state <> 'cancelled'"), sqlite_where=text("state <> 'cancelled'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="RESTRICT"), index=True)
    state: Mapped[str] = mapped_column(String(32), default="pending_payment")
    subdomain: Mapped[str] = mapped_column(String(63))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    current_period_end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    namespace: Mapped[str | None] = mapped_column(String(63))
    instance_name: Mapped[str | None] = mapped_column(String(63))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    suspension_reason: Mapped[str | None] = mapped_column(String(32))
    state_note: Mapped[str] = mapped_column(Text, default="")
    state_changed_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())

    user = relationship("User")
    plan = relationship("Plan")


class InstanceStatus(db.Model):
    __tablename__ = "instance_statuses"
    __table_args__ = (CheckConstraint("restart_count >= 0", name="restarts_non_negative"),
                      CheckConstraint(f"rollout IS NULL OR {one_of('rollout', ROLLOUT_KINDS)}", name="rollout_known"))

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True)
    phase: Mapped[str] = mapped_column(String(32), default="Unknown")
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
    restart_count: Mapped[int] = mapped_column(Integer, default=0)
    node_name: Mapped[str | None] = mapped_column(String(253))
    last_error: Mapped[str | None] = mapped_column(Text)
    components: Mapped[dict] = mapped_column(JSON, default=dict)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The rollout in progress (None: none), when the customer asked for it, and when the cluster was told.
    rollout: Mapped[str | None] = mapped_column(String(16))
    rollout_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rollout_applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now(), onupdate=func.now())


class InstanceEvent(db.Model):
    __tablename__ = "instance_events"
    __table_args__ = (
        CheckConstraint(one_of("level", EVENT_LEVELS), name="level_known"),
        Index("ix_instance_events_subscription_created", "subscription_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(48))
    level: Mapped[str] = mapped_column(String(16), default="info")
    message: Mapped[str] = mapped_column(Text, default="")  # in English (staff's logs, search)
    phrase: Mapped[dict | None] = mapped_column(JSON)  # the message and its values, read in the reader's language
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now(), index=True)


MAIL_TLS_MODES = ("none", "starttls", "tls")


class InstanceMailServer(db.Model):
    """The customer's own SMTP server for an instance's apps, when they named one; no row, or `own_server` off, is
    the business's relay. The password is not here: it lives only in the instance's Secret in the cluster, like
    every other credential of the instance, and is never read back into a page."""
    __tablename__ = "instance_mail_servers"
    __table_args__ = (CheckConstraint(one_of("tls_mode", MAIL_TLS_MODES), name="tls_mode_known"),
                      CheckConstraint("port BETWEEN 1 AND 65535", name="port_range"))

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True)
    own_server: Mapped[bool] = mapped_column(Boolean, default=False)
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    tls_mode: Mapped[str] = mapped_column(String(16))
    username: Mapped[str] = mapped_column(String(254), default="")
    sender: Mapped[str] = mapped_column(String(254))
    # Whether a password was stored in the Secret (the page says "set"; the value itself is never shown).
    password_set: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now(), onupdate=func.now())
