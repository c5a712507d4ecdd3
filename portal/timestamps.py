"""Time in the portal: the one clock it reads (tests travel in time with it) and the one timestamp column type."""
from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

_clock: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    return _clock() if _clock is not None else datetime.now(timezone.utc)


def clock_set(clock: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests travel in time with it); None restores the real one."""
    global _clock
    _clock = clock


class UtcDateTime(TypeDecorator):
    """Every timestamp column: written as UTC, read back as an aware UTC datetime on every database.

    PostgreSQL's timestamptz answers in the session's zone and SQLite's text keeps no zone at all (its
    CURRENT_TIMESTAMP default is UTC), so both are normalised here rather than wherever a value is compared.
    """
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            # A naive moment has no meaning to store: PostgreSQL would read it in the session's zone.
            raise ValueError(f"timestamp columns take aware datetimes, not {value!r}")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: stored as UTC
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def month_start(moment: datetime, months_back: int = 0) -> datetime:
    """The first instant of the month `months_back` months before the one `moment` falls in (negative: later)."""
    index = moment.year * 12 + moment.month - 1 - months_back
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
