"""Two real watcher processes (`python -m portal.watcher`) against the emulated cluster: one leads through the
Lease; SIGKILL it and the other takes the lease and keeps instances' status current within 15 s."""
import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.provisioning.cluster import cluster_for
from portal.provisioning.leader import lease_read
from portal.subscriptions.models import InstanceStatus, Subscription
from tests.helpers import wait_until

TAKEOVER_SECONDS = 15  # the bound, with the default lease timings (8 s lease, 6 s deadline, 2 s retry)


@pytest.fixture
def kube_options():
    return {"ready_delay": 0.5, "node_count": 3}  # the real clock: the processes see pods come up by themselves


@pytest.fixture
def app_config(cluster_config):
    return {**cluster_config, "KUBE_TIMEOUT_SECONDS": 10}


def _start(identity: str, app, database_url: str, kube, log_path):
    env = {**os.environ, "DATABASE_URL": database_url, "KUBE_MODE": "emulated", "KUBE_EMULATOR_URL": kube.url,
           "SECRET_KEY": "test-secret-key", "WATCHER_IDENTITY": identity, "FRONTEND_URL": "http://portal.test"}
    for key in ("WATCHER_LEASE_SECONDS", "WATCHER_RENEW_DEADLINE_SECONDS", "WATCHER_RETRY_SECONDS"):
        env.pop(key, None)  # the defaults are what the 15 s promise is about
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process below
    process = subprocess.Popen([sys.executable, "-m", "portal.watcher"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    return process, log


def _holder(app) -> str | None:
    record = lease_read(cluster_for(app.config), namespace=app.config["WATCHER_LEASE_NAMESPACE"],
                        name=app.config["WATCHER_LEASE_NAME"])
    return record.holder if record is not None and record.fresh(dt.datetime.now(dt.UTC)) else None


def _ready(sid: int):
    db.session.rollback()
    row = db.session.get(InstanceStatus, sid, populate_existing=True)
    return None if row is None else row.ready


def test_killing_the_leader_hands_the_status_to_the_other_replica_within_15_s(app, database_url, kube, paid,
                                                                              tmp_path):
    sid = paid("n8n")
    namespace = db.session.scalar(select(Subscription.namespace).where(Subscription.id == sid))
    replicas = {name: _start(name, app, database_url, kube, tmp_path / f"{name}.log")
                for name in ("watcher-a", "watcher-b")}
    try:
        leader = wait_until(lambda: _holder(app), timeout=60)
        assert leader in replicas
        wait_until(lambda: _ready(sid), timeout=60)  # the leader listed and recorded the instance up
        process, _ = replicas[leader]
        process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        process.wait(timeout=10)
        kube.never_ready(namespace, "")  # a change only a live watcher can record (the sweep does not run here)
        other = next(name for name in replicas if name != leader)
        wait_until(lambda: _holder(app) == other, timeout=60)
        wait_until(lambda: _ready(sid) is False, timeout=60)
        took = time.monotonic() - killed_at
        assert took <= TAKEOVER_SECONDS, f"the status was current again only {took:.1f} s after the kill"
        record = lease_read(cluster_for(app.config), namespace=app.config["WATCHER_LEASE_NAMESPACE"],
                            name=app.config["WATCHER_LEASE_NAME"])
        assert record.transitions >= 1 and record.holder == other
    finally:
        for process, log in replicas.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            log.close()
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in replicas}
    assert f"watcher {leader}: leading" in logs[leader] and f"watcher {other}: leading" in logs[other], logs
