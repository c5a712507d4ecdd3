"""Cluster nodes as last observed."""
from datetime import datetime

from sqlalchemy import JSON, Boolean, String, func
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timestamps import UtcDateTime


class Node(db.Model):
    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
    unschedulable: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    capacity: Mapped[dict] = mapped_column(JSON, default=dict)
    allocatable: Mapped[dict] = mapped_column(JSON, default=dict)
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now(), onupdate=func.now())
