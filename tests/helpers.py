"""Small helpers the tests share (fixtures live in conftest.py and the plugins in tests/fixtures/)."""
import inspect
import os
import re
import socket
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from portal.tasks import huey

ROOT = Path(__file__).resolve().parents[1]  # the checkout
BIN = Path(sys.executable).parent  # the virtualenv's scripts: flask, huey_consumer, gunicorn
STRONG_PASSWORD = "correct horse battery staple"
DATABASE = os.environ.get("PORTAL_TEST_DATABASE", "postgresql")
PG_ADMIN_URL = os.environ.get("PORTAL_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def logged_in_client(app, user, password: str = STRONG_PASSWORD):
    """A browser of its own, logged in as `user` through the real form."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"email": user.email, "password": password,
                                           "csrf_token": csrf_token_from(page)})
    assert response.status_code == 303, response.status_code
    return client


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


@contextmanager
def postgres_database(name: str):
    """An empty PostgreSQL database of that name for the block (its URL), dropped afterwards."""
    admin = sa.create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
def tasks_held():
    """Tasks enqueued in the block wait in the real queue instead of running inline (the tests' immediate mode);
    yields the queue, so a test can read what was enqueued (`queued_tasks`). The queue is emptied afterwards."""
    huey.immediate = False
    huey.flush()
    try:
        yield huey
    finally:
        huey.flush()
        huey.immediate = True


def queued_tasks(queue) -> list[tuple[str, tuple]]:
    """(task name, arguments) of everything waiting in the queue, oldest first."""
    return [(task.name.rsplit(".", 1)[-1], tuple(task.args)) for task in queue.pending()]


@contextmanager
def methods_called(cls):
    """The names of `cls`'s public methods called while the block runs (in any thread), observed through the
    interpreter's profiling hook: the methods themselves run unchanged."""
    codes = {function.__code__: name for name, function in inspect.getmembers(cls, inspect.isfunction)
             if not name.startswith("_")}
    called: set[str] = set()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            called.add(codes[frame.f_code])

    previous = sys.getprofile()
    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        yield called
    finally:
        sys.setprofile(previous)
        threading.setprofile(None)


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


def act(client, sid: int, action: str, **fields):
    """A staff action on a subscription, posted from its admin page (with that page's CSRF token)."""
    page = client.get(f"/admin/subscriptions/{sid}").get_data(as_text=True)
    return client.post(f"/admin/subscriptions/{sid}/{action}", data={"csrf_token": csrf_token_from(page), **fields})


def post_form(client, page_path: str, path: str, **fields):
    """POST `fields` to `path` with the CSRF token of the page a staff member would click from."""
    token = csrf_token_from(client.get(page_path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **fields})


def wait_until(condition, timeout: float = 30.0, interval: float = 0.2):
    """Poll `condition` until it is truthy (returning its value); for state that real processes change."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"gave up waiting after {timeout} s")


def guard_against_policy_violations(page) -> list[str]:
    """Collect what Chromium reports as blocked by the Content-Security-Policy (it logs each to the console)."""
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    return violations


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
