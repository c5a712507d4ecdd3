"""Huey wiring: the queue backend chosen from the app's config, and the consumer entry module at work."""
import os
import signal
import subprocess
import sys
import time

import pytest
from huey.storage import RedisExpireStorage, SqliteStorage
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.notifications import services
from portal.notifications.models import Email
from portal.tasks import huey
from portal.unit_of_work import atomic


def test_importing_the_tasks_module_reads_no_environment():
    """Huey is configured by create_app from the app's config; importing portal.tasks alone chooses nothing."""
    code = ("import os, portal.tasks as t; os.environ['REDIS_URL'] = 'redis://127.0.0.1:6379/15'; "
            "print(type(t.huey.storage).__name__)")
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "UnconfiguredStorage"


def test_a_queue_used_before_create_app_refuses_with_a_clear_error():
    from portal.tasks import QueueNotConfigured, UnconfiguredStorage

    storage = UnconfiguredStorage("portal")
    with pytest.raises(QueueNotConfigured, match="create_app"):
        storage.enqueue(b"task")
    with pytest.raises(QueueNotConfigured):
        storage.queue_size()


def test_redis_when_the_config_has_a_redis_url_else_sqlite_at_the_configured_path(database_url, tmp_path):
    # Immediate mode (the tests' default) keeps tasks in memory; the configured storage shows outside it.
    huey.immediate = False
    try:
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": None,
                    "HUEY_SQLITE_PATH": str(tmp_path / "queue" / "huey.db")})
        assert isinstance(huey.storage, SqliteStorage) and (tmp_path / "queue" / "huey.db").exists()
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": "redis://127.0.0.1:6379/15"})
        assert isinstance(huey.storage, RedisExpireStorage)
        assert huey.storage.conn.connection_pool.connection_kwargs["db"] == 15
    finally:
        create_app({"SQLALCHEMY_DATABASE_URI": database_url})  # the storage of the tests' own config again
        huey.immediate = True


def test_every_domain_task_is_registered(app):
    names = {name.rsplit(".", 1)[-1] for name in huey._registry._registry}
    assert {"email_send", "outbox_sweep"} <= names


@pytest.fixture
def app_config(smtp_server):
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False}


def test_the_consumer_process_runs_tasks_in_an_app_context(app, database_url, smtp_server):
    """`huey_consumer portal.worker.huey`, as `make run` starts it, delivers a queued email."""
    huey.immediate = False
    huey.flush()
    env = {**os.environ, "DATABASE_URL": database_url, "MAIL_SERVER": "127.0.0.1",
           "MAIL_PORT": str(smtp_server.port), "MAIL_USE_TLS": "0", "SECRET_KEY": "test-secret-key",
           "FRONTEND_URL": "http://portal.test"}
    consumer = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "huey_consumer"),
                                 "portal.worker.huey", "-w", "1", "-k", "thread", "--no-periodic"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with atomic():  # its delivery is enqueued for the consumer when this commits
            services.email_queue(template="welcome", recipient="ana@example.com", key="worker-test",
                                 context={"name": "Ana", "link": "http://portal.test/"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not smtp_server.messages:
            time.sleep(0.1)
        assert [m["Subject"] for m in smtp_server.messages] == ["Welcome to Portal"]
        db.session.rollback()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and db.session.scalar(select(Email.state)) != "sent":
            time.sleep(0.1)
            db.session.rollback()
        assert db.session.scalar(select(Email.state)) == "sent"
    finally:
        consumer.send_signal(signal.SIGINT)
        output = consumer.communicate(timeout=20)[0]
        huey.flush()
        huey.immediate = True
    assert "Traceback" not in output, output
