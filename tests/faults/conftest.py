"""Fault fixtures: a Redis server of the test's own that can be restarted, and the portal's real processes
(the Huey consumer, the flask CLI) started against the test database, that Redis and the emulated cluster."""
import os
import signal
import subprocess
import time

import pytest
import redis
from huey import RedisExpireHuey

from tests.helpers import BIN, ROOT, free_port, wait_until


@pytest.fixture
def app_config(cluster_config):
    return cluster_config


@pytest.fixture
def kube_options():
    # Real processes wait in real time: the cluster runs on the real clock.
    return {"ready_delay": 0.3, "node_count": 2, "timeout_sleep": 8.0}


class RedisServer:
    """redis-server on a free loopback port, keeping nothing on disk: a restart loses every key, as in production
    without persistence."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port).ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def private_redis():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def process_env(app, kube, private_redis, smtp_server):
    """What the portal's own processes need to share this test's database, Redis, cluster and SMTP server."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PORTAL_TEST")}
    env.update({"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": private_redis.url,
                "SECRET_KEY": app.config["SECRET_KEY"], "KUBE_MODE": "emulated", "KUBE_EMULATOR_URL": kube.url,
                "KUBE_TIMEOUT_SECONDS": "20", "PROVISION_RETRY_BASE_SECONDS": "0.3", "PROVISION_LOCK_SECONDS": "2",
                "PROVISION_STALE_MINUTES": "0", "OUTBOX_REQUEUE_MINUTES": "0", "WATCH_INTERVAL_SECONDS": "0.3",
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": str(smtp_server.port), "MAIL_USE_TLS": "0", "FRONTEND_URL": "http://portal.test",
                "FLASK_APP": "wsgi.py", "RATELIMIT_ENABLED": "0"})
    return env


class Consumers:
    def __init__(self, env: dict):
        self.env, self.running = env, []

    def start(self, periodic: bool = False, graceful_term: bool = False) -> subprocess.Popen:
        """A consumer process; with `periodic` its scheduler runs too, and with `graceful_term` SIGTERM lets
        running tasks finish (as docker/entrypoint.sh starts it)."""
        options = ([] if periodic else ["--no-periodic"]) + (["--graceful-signal", "TERM"] if graceful_term else [])
        process = subprocess.Popen([str(BIN / "huey_consumer"), "portal.worker.huey", "-w", "2", "-k", "thread",
                                    *options], cwd=ROOT, env=self.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.running.append(process)
        return process

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until nothing is queued or scheduled in their Redis, then stop every consumer gracefully.

        Each task taken has then finished and no other can start: what a test counts afterwards (emails
        sent, jobs run) is final, so "exactly once" is proven without sleeping for a while.
        """
        queue = RedisExpireHuey("portal", url=self.env["REDIS_URL"])
        wait_until(lambda: queue.pending_count() == 0 and queue.scheduled_count() == 0, timeout=timeout,
                   interval=0.1)
        running = [process for process in self.running if process.poll() is None]
        self.stop_all()
        assert [process.returncode for process in running] == [0] * len(running)  # stopped, not killed mid-task

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def consumers(process_env):
    pool = Consumers(process_env)
    yield pool
    pool.stop_all()


@pytest.fixture
def flask_cli(process_env):
    """Run `flask <args>` as an operator would, against this test's services; returns its output."""
    def run(*args: str) -> str:
        done = subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=process_env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout
    return run
