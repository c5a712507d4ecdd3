"""What the sweep measured of an instance: its resource samples (its status and timeline are the subscription's)."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timestamps import UtcDateTime


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
