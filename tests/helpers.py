"""Small helpers the tests share (fixtures live in conftest.py)."""
import re
import time
from contextlib import contextmanager

STRONG_PASSWORD = "correct horse battery staple"


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def message_parts(message) -> tuple[str, str]:
    """The text and HTML parts of an email received by the SMTP server."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


class FakeClock:
    """A clock the test moves by hand: the emulated cluster's pods become ready, logs grow, only when told."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_for_email(smtp_server, subject: str, timeout: float = 15.0):
    """The first message with this subject that the SMTP server received, waiting for it to arrive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in smtp_server.messages:
            if message["Subject"] == subject:
                return message
        time.sleep(0.05)
    raise AssertionError(f"no email with subject {subject!r}")


@contextmanager
def database_activity():
    """The SQL statements run and commits made while the block runs: {"statements": [...], "commits": n}."""
    from sqlalchemy import event

    from portal.extensions import db

    seen = {"statements": [], "commits": 0}

    def statement(conn, cursor, text, parameters, context, executemany):
        seen["statements"].append(text)

    def commit(conn):
        seen["commits"] += 1

    event.listen(db.engine, "before_cursor_execute", statement)
    event.listen(db.engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
        event.remove(db.engine, "commit", commit)
