"""Every timestamp column reads back as an aware UTC datetime and is written as UTC, on both databases."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.jobs.models import JobRun
from portal.timestamps import UtcDateTime

pytestmark = pytest.mark.smoke

JAKARTA = timezone(timedelta(hours=7))


def _is_utc(moment) -> bool:
    return isinstance(moment, datetime) and moment.utcoffset() == timedelta(0)


def test_every_timestamp_column_uses_the_one_utc_type(app):
    columns = [column for table in db.metadata.sorted_tables for column in table.columns
               if isinstance(column.type, (sa.DateTime, UtcDateTime))]
    assert len(columns) >= 20  # the walk did reach the models
    wrong = [f"{column.table.name}.{column.name}" for column in columns if not isinstance(column.type, UtcDateTime)]
    assert wrong == []


def test_orm_round_trip_is_aware_utc_and_keeps_the_instant(app):
    started = datetime(2026, 11, 30, 16, 45, 12, 345678, tzinfo=JAKARTA)  # 09:45:12 UTC
    run = JobRun(name="probe", started_at=started)
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    db.session.expunge_all()
    loaded = db.session.get(JobRun, run_id)
    assert _is_utc(loaded.started_at)
    assert loaded.started_at == started
    assert loaded.started_at.hour == 9  # stored as UTC, not as Jakarta's wall clock
    assert loaded.finished_at is None


def test_server_default_now_reads_back_aware_utc(app):
    entry = AuditEntry(action="probe")
    db.session.add(entry)
    db.session.commit()
    entry_id = entry.id
    db.session.expunge_all()
    created = db.session.get(AuditEntry, entry_id).created_at
    assert _is_utc(created)
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=5)


def test_core_selects_and_aggregates_read_back_aware_utc(app):
    moments = [datetime(2026, 1, 1, 12, tzinfo=timezone.utc), datetime(2026, 1, 2, 3, tzinfo=JAKARTA)]
    with db.engine.begin() as conn:
        conn.execute(sa.insert(JobRun.__table__), [{"name": f"core-{i}", "started_at": m, "outcome": "ok",
                                                    "result": {}} for i, m in enumerate(moments)])
        rows = conn.execute(select(JobRun.started_at).order_by(JobRun.started_at)).scalars().all()
        newest = conn.execute(select(func.max(JobRun.started_at))).scalar()
        after = conn.execute(select(func.count()).select_from(JobRun)
                             .where(JobRun.started_at > datetime(2026, 1, 1, 19, 30, tzinfo=JAKARTA))).scalar()
    assert rows == sorted(moments) and all(_is_utc(row) for row in rows)
    assert _is_utc(newest) and newest == max(moments)
    assert after == 1  # the comparison is made in UTC: 19:30 in Jakarta is 12:30 UTC


def test_a_naive_timestamp_is_refused_rather_than_guessed(app):
    db.session.add(JobRun(name="naive", started_at=datetime(2026, 1, 1, 12)))
    with pytest.raises(sa.exc.StatementError, match="aware"):
        db.session.commit()
    db.session.rollback()
