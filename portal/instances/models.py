"""What the cluster last told us about an instance: status, event log and resource samples."""
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db, one_of
from portal.timestamps import UtcDateTime

EVENT_LEVELS = ("info", "warning", "error")


class InstanceStatus(db.Model):
    __tablename__ = "instance_statuses"
    __table_args__ = (CheckConstraint("restart_count >= 0", name="restarts_non_negative"),)

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True)
    phase: Mapped[str] = mapped_column(String(32), default="Unknown")
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
    restart_count: Mapped[int] = mapped_column(Integer, default=0)
    node_name: Mapped[str | None] = mapped_column(String(253))
    last_error: Mapped[str | None] = mapped_column(Text)
    components: Mapped[dict] = mapped_column(JSON, default=dict)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
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
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now(), index=True)


class ResourceSample(db.Model):
    __tablename__ = "resource_samples"
    __table_args__ = (
        CheckConstraint("cpu_millicores >= 0 AND memory_mb >= 0", name="usage_non_negative"),
        Index("ix_resource_samples_subscription_taken", "subscription_id", "taken_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    cpu_millicores: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
