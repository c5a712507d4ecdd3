"""Runs of periodic jobs (when, how it ended, what it did) and tasks that failed."""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db, one_of
from portal.timestamps import UtcDateTime

OUTCOMES = ("running", "ok", "failed", "skipped")


class JobRun(db.Model):
    __tablename__ = "job_runs"
    __table_args__ = (CheckConstraint(one_of("outcome", OUTCOMES), name="outcome_known"),
                      Index("ix_job_runs_name_started_at", "name", "started_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class TaskFailure(db.Model):
    """A task that raised: which, with what, and the error, for the staff jobs page."""
    __tablename__ = "task_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(100))
    task_id: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    retries_left: Mapped[int] = mapped_column(Integer, default=0)
    failed_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
