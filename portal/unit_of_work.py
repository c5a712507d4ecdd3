"""One transaction per use case: the outermost use case commits once; its follow-up work runs after that commit.

A view, task or command calls a function decorated with `use_case`; the services it composes add and
flush, and a use case called inside another joins the outer transaction. Work that must wait for the
commit (enqueue a task, send an email) is recorded by name with `after_commit(name, **plain values)`;
the tasks modules subscribe the handlers that enqueue it (`follow_up_handler`), so a service never
imports another domain's tasks. A rollback drops what was recorded: nothing is enqueued for work that
was never written, and no worker ever reads a row before it is committed.
"""
import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import event

from portal.extensions import db, sqlite_write_lock

_HANDLERS: dict[str, list[Callable[..., Any]]] = {}
_DEPTH = "use_case_depth"
_RECORDED = "follow_ups_recorded"
_COMMITTED = "follow_ups_committed"


def follow_up_handler(name: str, handler: Callable[..., Any]) -> None:
    """Subscribe `handler(**arguments)` to the follow-up work recorded under `name` (idempotent)."""
    handlers = _HANDLERS.setdefault(name, [])
    if handler not in handlers:
        handlers.append(handler)


def after_commit(name: str, **arguments: Any) -> None:
    """Record work to start once the current use case has committed; the same work twice starts once."""
    session = db.session()
    if not session.info.get(_DEPTH):
        # Outside a use case nobody owns the commit: the work would run never, or before its rows exist.
        raise RuntimeError(f"follow-up {name!r} recorded outside a use case")
    if name not in _HANDLERS:
        raise LookupError(f"no handler subscribed to follow-up {name!r}")
    recorded = session.info.setdefault(_RECORDED, [])
    if (name, arguments) not in recorded:
        recorded.append((name, arguments))


@contextlib.contextmanager
def atomic(*, keep_on: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """The transaction of one use case. Outermost: commit at the end, roll back on an exception (but
    commit first for an exception in `keep_on`, one that reports an outcome worth keeping), then run
    the follow-ups. Nested: join the outer transaction, which decides."""
    session = db.session()
    if session.info.get(_DEPTH):
        session.info[_DEPTH] += 1
        try:
            yield
        finally:
            session.info[_DEPTH] -= 1
        return
    if session.in_transaction() and db.engine.dialect.name == "sqlite" and not (
            session.new or session.dirty or session.deleted):
        # A read before the use case (the view's current_user) began a plain transaction: end it, so the use case's
        # own starts with SQLite's write lock and reads what is current.
        session.commit()
    session.info[_DEPTH] = 1
    try:
        with sqlite_write_lock():
            yield
    except keep_on:
        _commit(session)
        raise
    except BaseException:
        session.info[_DEPTH] = 0
        session.rollback()
        raise
    _commit(session)


def use_case(fn: Callable | None = None, *, keep_on: tuple[type[BaseException], ...] = ()):
    """Decorate a service function as a use case (see `atomic`)."""
    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def run(*args, **kwargs):
            with atomic(keep_on=keep_on):
                return function(*args, **kwargs)
        return run
    return decorate(fn) if fn is not None else decorate


def _commit(session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info[_DEPTH] = 0
    _run_committed(session)


def _run_committed(session) -> None:
    # Taken off the session first: a handler running its task at once (Huey's immediate mode) commits
    # use cases of its own, whose follow-ups must not start these again.
    ready = session.info.pop(_COMMITTED, [])
    for name, arguments in ready:
        for handler in _HANDLERS[name]:
            handler(**arguments)


@event.listens_for(db.session, "after_commit")
def _committed(session) -> None:
    recorded = session.info.pop(_RECORDED, None)
    if recorded:
        session.info.setdefault(_COMMITTED, []).extend(recorded)


@event.listens_for(db.session, "after_rollback")
def _rolled_back(session) -> None:
    session.info.pop(_RECORDED, None)


@event.listens_for(db.session, "after_soft_rollback")
def _soft_rolled_back(session, previous_transaction) -> None:
    session.info.pop(_RECORDED, None)
