"""The one clock the portal reads, so tests can travel in time."""
from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
