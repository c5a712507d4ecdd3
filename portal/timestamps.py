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
