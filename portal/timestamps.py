"""The one clock the portal reads, so tests can travel in time."""
from collections.abc import Callable
from datetime import datetime, timezone

_clock: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    return _clock() if _clock is not None else datetime.now(timezone.utc)


def clock_set(clock: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests travel in time with it); None restores the real one."""
    global _clock
    _clock = clock


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored as UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def month_start(moment: datetime, months_back: int = 0) -> datetime:
    """The first instant of the month `months_back` months before the one `moment` falls in (negative: later)."""
    index = moment.year * 12 + moment.month - 1 - months_back
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
