"""Huey wiring: the queue backend chosen from the environment, and the consumer entry module at work."""
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.notifications import services
from portal.notifications.models import Email
from portal.tasks import huey
from portal.unit_of_work import atomic


def _huey_class(env: dict) -> str:
    code = "import portal.tasks as t; print(type(t.huey).__name__)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_redis_when_redis_url_is_set_else_sqlite_under_instance(tmp_path):
    base = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    base["PORTAL_INSTANCE_DIR"] = str(tmp_path)
    assert _huey_class(base) == "SqliteHuey"
    assert (tmp_path / "huey.db").exists()
    assert _huey_class({**base, "REDIS_URL": "redis://127.0.0.1:6379/15"}) == "RedisExpireHuey"


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
