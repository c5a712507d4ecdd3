"""Small helpers the tests share (fixtures live in conftest.py)."""
import re
import socket
import threading
import time
import uuid
from contextlib import contextmanager

from portal.tasks import huey

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
def refused_port():
    """A loopback port where connections are refused for the block: bound but not listening.

    A port merely found free (and closed again) can be taken meanwhile by a server of another test process
    (an emulator binding port 0 under xdist), which would then receive this test's traffic.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


_meetings: dict[str, threading.Barrier] = {}


@huey.task()
def every_worker_meets(key: str) -> None:
    """A marker task: the worker that takes it waits here for the others (see wait_for_queue_idle)."""
    meeting = _meetings.get(key)
    if meeting is not None:  # a marker left over from another test's consumer meets nobody
        meeting.wait(timeout=60)


def wait_for_queue_idle(consumer, timeout: float = 30.0) -> None:
    """Return once a real consumer has nothing queued or scheduled and each of its workers has finished its task.

    Every worker takes a marker task and meets the others (and this thread) inside it: a worker still busy
    (a retry, a second send) arrives only when that task is done. Nothing queued or scheduled after such a
    meeting means no follow-up work is left, so a test may then assert that something did NOT happen.
    """
    assert not huey.immediate, "needs a running consumer (the consumer fixture)"
    deadline = time.monotonic() + timeout
    while True:
        key = uuid.uuid4().hex
        meeting = _meetings[key] = threading.Barrier(consumer.workers + 1)
        try:
            for _ in range(consumer.workers):
                every_worker_meets(key)
            meeting.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except threading.BrokenBarrierError:
            raise AssertionError(f"the consumer's workers were still busy after {timeout} s") from None
        finally:
            _meetings.pop(key, None)
        if huey.pending_count() == 0 and huey.scheduled_count() == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"work still queued or scheduled after {timeout} s: "
                                 f"{huey.pending_count()} queued, {huey.scheduled_count()} scheduled")
        time.sleep(0.05)  # a scheduled task is due later: let the consumer's scheduler move it, then meet again


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


def without_csrf_tokens(body: str) -> str:
    """A page with its CSRF tokens blanked: each is signed with the second it was made, so two answers a
    second apart differ there and nowhere else."""
    body = re.sub(r'(name="csrf_token" (?:type="hidden" )?value=")[^"]+', r"\1TOKEN", body)
    body = re.sub(r'(name="csrf-token" content=")[^"]+', r"\1TOKEN", body)
    return re.sub(r'("X-CSRFToken": ")[^"]+', r"\1TOKEN", body)


@contextmanager
def tasks_held():
    """Huey keeps what is enqueued (on the configured queue) instead of running it at once; yields a function
    that lists the pending tasks as (name, args), so a test sees exactly what was enqueued and when."""
    huey.immediate = False
    huey.flush()
    try:
        yield lambda: sorted((task.name.rsplit(".", 1)[-1], tuple(task.args)) for task in huey.pending())
    finally:
        huey.flush()
        huey.immediate = True


@contextmanager
def refused_inserts(table: str, when: str = "1 = 1"):
    """A real fault half-way through a use case: for the block, the database refuses to insert into `table` the
    rows for which `when` (SQL over NEW) holds, through a trigger dropped afterwards."""
    from sqlalchemy import text

    from portal.extensions import db

    db.session.commit()  # the test's own reads end here: creating a trigger waits for every open transaction
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("CREATE OR REPLACE FUNCTION test_refuse_insert() RETURNS trigger AS "
                                    "$$ BEGIN RAISE EXCEPTION 'insert refused by the test'; END $$ LANGUAGE plpgsql"))
            connection.execute(text(f"CREATE TRIGGER test_refuse BEFORE INSERT ON {table} FOR EACH ROW "
                                    f"WHEN ({when}) EXECUTE FUNCTION test_refuse_insert()"))
        else:
            connection.execute(text(f"CREATE TRIGGER test_refuse BEFORE INSERT ON {table} FOR EACH ROW WHEN {when} "
                                    "BEGIN SELECT RAISE(ABORT, 'insert refused by the test'); END"))
    try:
        yield
    finally:
        db.session.rollback()
        with db.engine.begin() as connection:
            on_table = f" ON {table}" if connection.dialect.name == "postgresql" else ""
            connection.execute(text(f"DROP TRIGGER IF EXISTS test_refuse{on_table}"))
