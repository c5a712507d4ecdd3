"""docker/entrypoint.sh run for real, as the image runs it: against a fresh database, with the venv on PATH.

One test on purpose: each step needs the one before (xdist would spread separate tests over workers).
"""
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from tests.helpers import DATABASE, free_port, postgres_database
from tests.ops.manifests import ENTRYPOINT, ROOT


@pytest.fixture
def database_url(tmp_path):
    """An empty database of this test's own: PostgreSQL in the PostgreSQL suite, else a SQLite file."""
    if DATABASE == "sqlite":
        yield f"sqlite:///{tmp_path / 'ops.db'}"
        return
    with postgres_database(f"portal_ops_{os.getpid()}_{uuid.uuid4().hex[:6]}") as url:
        yield url


@pytest.fixture
def environment(database_url, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "FLASK_"))}
    # The image's ENV: its venv first on PATH; settings as a deployment gives them. The task queue is
    # the SQLite file (no REDIS_URL) so this consumer never sees the suite's Redis queues.
    env.pop("REDIS_URL", None)
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", DATABASE_URL=database_url,
               SECRET_KEY="ops-test-secret", PORTAL_INSTANCE_DIR=str(tmp_path / "instance"),
               MIGRATIONS_WAIT_SECONDS="0", WEB_CONCURRENCY="1", HUEY_WORKERS="1")
    return env


def entrypoint(env: dict, *args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([str(ENTRYPOINT), *args], env=env, cwd="/", capture_output=True, text=True, timeout=120,
                          **options)


def migration_heads() -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return set(ScriptDirectory.from_config(config).get_heads())


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen) -> tuple[int, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # what Docker and Kubernetes send
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"did not stop on SIGTERM:\n{output}") from None
    return process.returncode, output


def test_migrate_then_serve_and_consume(environment, database_url):
    # 1. Web and worker pods wait in `wait-migrations` while the schema is behind.
    waiting = entrypoint(environment, "wait-migrations")
    assert waiting.returncode == 1, waiting.stderr
    assert "run `migrate` first" in waiting.stderr

    # 2. `migrate` (the Job, the compose one-shot) brings the schema to the head and seeds the catalog.
    migrated = entrypoint(environment, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            assert set(conn.scalars(sa.text("SELECT version_num FROM alembic_version"))) == migration_heads()
            apps = set(conn.scalars(sa.text("SELECT slug FROM services")))
    finally:
        engine.dispose()
    assert apps == {path.stem for path in (ROOT / "service-templates").glob("*.yaml")}

    # 3. `web` serves (gunicorn) and `worker` consumes, together; `wait-migrations` now lets them start.
    port = free_port()
    web = subprocess.Popen([str(ENTRYPOINT), "web"], env={**environment, "BIND": f"127.0.0.1:{port}"}, cwd="/",
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    worker = subprocess.Popen([str(ENTRYPOINT), "worker", "--no-periodic"], env=environment, cwd="/",
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert entrypoint(environment, "wait-migrations").returncode == 0
        assert wait_for_http(f"http://127.0.0.1:{port}/login", web) == 200
    finally:
        web_status, web_log = stop(web)
        worker_status, worker_log = stop(worker)
    assert web_status == 0, web_log
    assert "Shutting down" in web_log
    assert "control socket" not in web_log  # nothing written under $HOME (read-only in the image)
    # SIGTERM is the consumer's graceful signal in the image: it drains and exits cleanly.
    assert worker_status == 0, worker_log
    assert "portal.worker.huey" in worker_log or "Huey consumer started" in worker_log, worker_log
    assert "Shutting down gracefully" in worker_log, worker_log
