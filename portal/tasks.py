"""The one Huey instance, its queue chosen by create_app from the app's config (Redis, else a SQLite file)."""
import functools
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, has_app_context
from huey import Huey
from huey.api import PeriodicTask
from huey.exceptions import CancelExecution
from huey.storage import BaseStorage, MemoryStorage, RedisExpireStorage, SqliteStorage
from redis.exceptions import RedisError

from portal.request_context import request_id_var


class QueueNotConfigured(RuntimeError):
    """A task was queued (or the queue read) before create_app chose where the queue lives."""


class UnconfiguredStorage(BaseStorage):
    """The queue before create_app chose one: every use fails with QueueNotConfigured instead of queueing
    somewhere no consumer reads."""

    def _refuse(self, *args, **kwargs):
        raise QueueNotConfigured("the task queue is chosen by create_app(); create the app before queueing")

    enqueue = dequeue = queue_size = enqueued_items = flush_queue = _refuse
    add_to_schedule = read_schedule = scheduled_items = schedule_size = flush_schedule = _refuse
    put_data = peek_data = pop_data = has_data_for_key = put_if_empty = _refuse
    result_store_size = result_items = flush_results = _refuse


# What enqueueing raises when the queue's store is out of reach (Redis down; the SQLite file locked or gone).
QUEUE_UNAVAILABLE = (RedisError, sqlite3.Error)

# Tasks register on this object at import; where they are queued is decided by `huey_configure`.
huey = Huey("portal", storage_class=UnconfiguredStorage, store_intermediate_errors=False)


def huey_configure(config: Mapping) -> None:
    """Point the queue at REDIS_URL, else at the SQLite file HUEY_SQLITE_PATH (the single consumer of `make run`).
    Immediate mode (tests) keeps its in-memory queue and uses this one once it is switched off."""
    if config.get("REDIS_URL"):
        # The "expire" flavour: locks and results lapse on their own (a lock whose holder was killed must).
        huey.storage_class, huey.storage_kwargs = RedisExpireStorage, {"url": config["REDIS_URL"]}
    else:
        path = Path(config["HUEY_SQLITE_PATH"])
        path.parent.mkdir(parents=True, exist_ok=True)
        huey.storage_class, huey.storage_kwargs = SqliteStorage, {"filename": str(path)}
    huey.storage = huey.create_storage()

_app: Flask | None = None


def lock(name: str, *, seconds: int):
    """A named lock (huey.lock_task) that lapses after `seconds` where the queue can expire keys (Redis):
    a worker killed while holding it (SIGKILL, out of memory, a lost node) cannot block that work forever.
    The SQLite queue of `make run` has a single consumer and keeps plain locks."""
    expiring = isinstance(huey.storage, (RedisExpireStorage, MemoryStorage))
    return huey.lock_task(name, ttl=seconds if expiring else None)


@huey.pre_execute()
def once_per_schedule(task) -> None:
    """Every consumer runs Huey's scheduler, so each enqueues every periodic task at its minute; the first
    to start one claims that minute in Redis and the others' copies are cancelled: once per schedule,
    however many consumers run."""
    if isinstance(task, PeriodicTask) and isinstance(huey.storage, RedisExpireStorage):
        minute = datetime.now(UTC).strftime("%Y%m%d%H%M")
        if not huey.put_if_empty(f"schedule:{task.name}:{minute}", "1", ttl=3600):
            raise CancelExecution()


def bind_app(app: Flask) -> None:
    """Remember the app whose context each task runs in (set by create_app)."""
    global _app
    _app = app


def in_app_context(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        if has_app_context():  # immediate mode inside a request or a test
            return fn(*args, **kwargs)
        if _app is None:
            raise RuntimeError("no app bound: start the consumer through portal.worker")
        with _app.app_context():
            return fn(*args, **kwargs)

    return run


def _with_request_id(fn):
    """Run under the request id of whoever enqueued the task, so its log lines join that request's."""
    @functools.wraps(fn)
    def run(*args, _request_id: str | None = None, **kwargs):
        token = request_id_var.set(_request_id or request_id_var.get())
        try:
            return fn(*args, **kwargs)
        finally:
            request_id_var.reset(token)
    return run


class TracedTask:
    """A Huey task that passes the current request id along when enqueued (now or scheduled)."""

    def __init__(self, wrapper):
        self._wrapper = wrapper
        functools.update_wrapper(self, wrapper.func, updated=())

    def __getattr__(self, name):
        return getattr(self._wrapper, name)

    @staticmethod
    def _traced(kwargs: dict | None) -> dict:
        return {**(kwargs or {}), "_request_id": request_id_var.get()}

    def __call__(self, *args, **kwargs):
        return self._wrapper(*args, **self._traced(kwargs))

    def schedule(self, args=None, kwargs=None, **options):
        return self._wrapper.schedule(args, self._traced(kwargs), **options)

    def call_local(self, *args, **kwargs):
        return self._wrapper.call_local(*args, **kwargs)


def task(**options):
    """huey.task, with the call wrapped in a fresh app context per run and the request id carried along."""
    def decorator(fn):
        return TracedTask(huey.task(**options)(in_app_context(_with_request_id(fn))))
    return decorator


def periodic_task(validate_datetime, **options):
    """huey.periodic_task, with the call wrapped in a fresh app context per run."""
    def decorator(fn):
        return huey.periodic_task(validate_datetime, **options)(in_app_context(fn))
    return decorator
