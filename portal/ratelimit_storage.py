"""Rate-limit counters in a SQLite file (`sqlite:///path` for Flask-Limiter): shared by every web worker on one
machine when there is no Redis, as on the embedded default (memory:// counts per process, so two workers let
twice the limit through)."""
import os
import sqlite3
import threading
import time
import urllib.parse

from limits.storage import Storage

_SCHEMA = "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL)"
# One statement, so two processes counting at once both count: a lapsed window starts again at `amount`.
_INCREMENT = """
INSERT INTO counters (key, count, expires_at) VALUES (:key, :amount, :now + :expiry)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN expires_at <= :now THEN excluded.count ELSE count + excluded.count END,
    expires_at = CASE WHEN expires_at <= :now THEN excluded.expires_at ELSE expires_at END
RETURNING count
"""


class SqliteStorage(Storage):
    """A `limits` storage for the fixed-window strategy (Flask-Limiter's default), on a SQLite file in WAL mode."""

    STORAGE_SCHEME = ["sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = urllib.parse.urlparse(uri).path
        if not self.path or self.path == "/":
            raise ValueError("sqlite:// rate-limit storage needs a file: sqlite:////path/to/ratelimits.db")
        self._local = threading.local()

    @property
    def base_exceptions(self):
        return sqlite3.Error

    def _db(self) -> sqlite3.Connection:
        # One connection per thread and per process (gunicorn forks workers; sqlite3 connections stay in theirs).
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
            self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        row = self._db().execute(_INCREMENT, {"key": key, "amount": amount, "now": now, "expiry": expiry}).fetchone()
        if now % 64 < 1:  # now and then, forget windows long over so the file stays small
            self._db().execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
        return row[0]

    def get(self, key: str) -> int:
        row = self._db().execute("SELECT count FROM counters WHERE key = ? AND expires_at > ?",
                                 (key, time.time())).fetchone()
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._db().execute("SELECT expires_at FROM counters WHERE key = ? AND expires_at > ?",
                                 (key, time.time())).fetchone()
        return row[0] if row else time.time()

    def check(self) -> bool:
        try:
            self._db().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        return self._db().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._db().execute("DELETE FROM counters WHERE key = ?", (key,))
