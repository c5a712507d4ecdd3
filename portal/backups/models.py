"""Backups as the portal mirrors them from Velero, and the customer's restore requests with their progress."""
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db, one_of
from portal.timestamps import UtcDateTime

# Velero's backup phases, plus the portal's own "Requested" (asked for, not yet in the cluster).
BACKUP_PHASES = ("Requested", "New", "Queued", "ReadyToStart", "FailedValidation", "InProgress",
                 "WaitingForPluginOperations", "WaitingForPluginOperationsPartiallyFailed", "Finalizing",
                 "FinalizingPartiallyFailed", "Completed", "PartiallyFailed", "Failed", "Deleting")
BACKUP_ORIGINS = ("scheduled", "manual", "retry")
RESTORE_STATES = ("requested", "restoring", "switching", "completed", "failed")


class Backup(db.Model):
    __tablename__ = "backups"
    __table_args__ = (
        CheckConstraint(one_of("phase", BACKUP_PHASES), name="phase_known"),
        CheckConstraint(one_of("origin", BACKUP_ORIGINS), name="origin_known"),
        CheckConstraint("size_bytes IS NULL OR size_bytes >= 0", name="size_non_negative"),
        Index("ix_backups_subscription_created", "subscription_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63), unique=True)  # the Velero Backup's name
    source_namespace: Mapped[str] = mapped_column(String(63))
    origin: Mapped[str] = mapped_column(String(16), default="scheduled")
    phase: Mapped[str] = mapped_column(String(48), default="Requested")
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # "kept until"; None: until termination
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    retry_of_id: Mapped[int | None] = mapped_column(ForeignKey("backups.id", ondelete="SET NULL"))
    retried: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # gone from Velero (expired or deleted)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())

    subscription = relationship("Subscription")


class Restore(db.Model):
    __tablename__ = "restores"
    __table_args__ = (
        CheckConstraint(one_of("state", RESTORE_STATES), name="state_known"),
        Index("ix_restores_subscription_created", "subscription_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    backup_id: Mapped[int] = mapped_column(ForeignKey("backups.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(63), unique=True)  # the Velero Restore's, once made
    source_namespace: Mapped[str] = mapped_column(String(63))  # where the instance ran when asked
    target_namespace: Mapped[str | None] = mapped_column(String(63))  # the fresh one it is restored into
    state: Mapped[str] = mapped_column(String(16), default="requested")
    reason: Mapped[str | None] = mapped_column(Text)  # why it failed, in English (staff, logs)
    reason_phrase: Mapped[dict | None] = mapped_column(JSON)  # the same, read in the reader's language
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    backup = relationship("Backup")
    subscription = relationship("Subscription")
