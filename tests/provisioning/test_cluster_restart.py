"""The emulated cluster of `make run` outlives a restart: kept in a state file, it comes back with the objects
the portal applied, their resourceVersions and Ready pods, so a restarted portal finds nothing down."""
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from sqlalchemy import func, select

from emulators.kube import EmulatedCluster
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.notifications.models import Email
from portal.provisioning.cluster import cluster_for
from portal.subscriptions.models import InstanceEvent, InstanceStatus, Subscription
from tests.helpers import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEPT_KINDS = (("v1", "Namespace"), ("v1", "Secret"), ("v1", "Service"), ("v1", "PersistentVolumeClaim"),
              ("v1", "ResourceQuota"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
              ("networking.k8s.io/v1", "Ingress"), ("networking.k8s.io/v1", "NetworkPolicy"), ("v1", "Pod"))


class EmulatorProcess:
    """`python -m emulators.kube --state-file ...` on a fixed port, as the launcher runs it."""

    def __init__(self, state_file, port: int):
        self.state_file, self.port = state_file, port
        self.url = f"http://127.0.0.1:{port}"
        self.process = None

    def start(self) -> "EmulatorProcess":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulators.kube", "--port", str(self.port), "--ready-delay", "0.5",
             "--state-file", str(self.state_file)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        self.banner = [self.process.stdout.readline() for _ in range(3)]  # printed once it listens
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            assert self.process.wait(timeout=15) == 0
        self.process = None


@pytest.fixture
def kube(tmp_path):
    emulator = EmulatorProcess(tmp_path / "emulated-cluster.json", free_port()).start()
    yield emulator
    emulator.stop()


def _kept(gateway, namespace: str) -> dict:
    """Every object of the instance's namespace by kind and name, with its uid and resourceVersion."""
    kept = {}
    for api_version, kind in KEPT_KINDS:
        items = ([gateway.get("v1", "Namespace", None, namespace)] if kind == "Namespace"
                 else gateway.list_objects(api_version, kind, namespace=namespace))
        for item in items:
            kept[(kind, item["metadata"]["name"])] = (item["metadata"]["uid"], item["metadata"]["resourceVersion"])
    return kept


def _wait_until(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("the state was not reached in time")


def _ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def test_the_emulator_process_keeps_the_portals_objects_and_ready_pods_across_a_restart(app, kube, paid):
    sid = paid("ghost", subdomain="blog-ana")  # provisioned through the portal's own services
    subscription = db.session.get(Subscription, sid)
    gateway = cluster_for(app.config)

    def all_ready():
        pods = gateway.list_pods(f"portal/subscription={sid}")
        return pods if len(pods) == 2 and all(_ready(p) for p in pods) else None

    pods = _wait_until(all_ready)
    # The address's certificate too (cert-manager's TLS secret comes a moment after the pods): a snapshot taken
    # before it would miss an object made while the emulator restarts.
    _wait_until(lambda: all(gateway.read_secret(subscription.namespace, c["spec"]["secretName"]) is not None
                            for c in gateway.list_objects("cert-manager.io/v1", "Certificate",
                                                          namespace=subscription.namespace)))
    _wait_until(lambda: kube.state_file.exists())
    before = _kept(gateway, subscription.namespace)
    assert ("Ingress", f"ghost-{sid}") in before and len(pods) == 2

    kube.stop()
    with pytest.raises(OSError):  # really gone: nothing answers on its port
        urllib.request.urlopen(kube.url + "/version", timeout=2)
    kube.start()

    assert "restored" in kube.banner[2]
    after_pods = gateway.list_pods(f"portal/subscription={sid}")
    assert sorted(p["metadata"]["uid"] for p in after_pods) == sorted(p["metadata"]["uid"] for p in pods)
    assert all(_ready(p) for p in after_pods)  # Ready at once, not after a new ready delay
    assert _kept(gateway, subscription.namespace) == before
    assert gateway.read_secret(subscription.namespace, f"ghost-{sid}-secrets") is not None


@pytest.fixture
def state_file(tmp_path):
    return tmp_path / "cluster.json"


def test_a_portal_restarted_beside_the_kept_cluster_finds_nothing_down(app, kube_clock, paid, state_file):
    """The sweep after a restart of `make run`: no instance degraded, no event, no alert or email."""
    port = free_port()
    first = EmulatedCluster(ready_delay=5.0, clock=kube_clock, state_file=state_file).start(port=port)
    app.config["KUBE_EMULATOR_URL"] = first.url
    try:
        sid = paid("n8n", subdomain="ana-flows")
        kube_clock.advance(30)
        instances_sweep()
        assert db.session.get(Subscription, sid).state == "active"
        assert db.session.get(InstanceStatus, sid).ready
    finally:
        first.stop()  # saves what changed since the saving thread's last round
    emails = db.session.scalar(select(func.count()).select_from(Email))
    events = db.session.scalar(select(func.count()).select_from(InstanceEvent))

    second = EmulatedCluster(ready_delay=5.0, clock=kube_clock, state_file=state_file).start(port=port)
    try:
        assert second.restored
        result = instances_sweep()
    finally:
        second.stop()
    db.session.expire_all()
    assert result.changed == 0 and result.pods == 2
    assert db.session.get(InstanceStatus, sid).ready
    assert db.session.scalar(select(func.count()).select_from(InstanceEvent)) == events
    assert db.session.scalar(select(func.count()).select_from(Email)) == emails


def test_without_the_state_file_a_restart_looks_like_every_instance_went_down(app, kube_clock, paid):
    """What the state file prevents: an empty cluster after the restart reads as an outage."""
    port = free_port()
    first = EmulatedCluster(ready_delay=5.0, clock=kube_clock).start(port=port)
    app.config["KUBE_EMULATOR_URL"] = first.url
    try:
        sid = paid("n8n", subdomain="ana-flows")
        kube_clock.advance(30)
        instances_sweep()
    finally:
        first.stop()
    second = EmulatedCluster(ready_delay=5.0, clock=kube_clock).start(port=port)
    try:
        instances_sweep()
    finally:
        second.stop()
    assert db.session.scalar(select(func.count()).select_from(InstanceEvent)
                             .where(InstanceEvent.subscription_id == sid, InstanceEvent.kind == "health.degraded")) == 1


def test_reads_do_not_rewrite_the_state_file(state_file, kube_clock):
    from kubernetes import client

    cluster = EmulatedCluster(ready_delay=1.0, clock=kube_clock, state_file=state_file).start()
    try:
        with client.ApiClient(client.Configuration(host=cluster.url)) as api:
            core = client.CoreV1Api(api)
            core.create_namespace({"metadata": {"name": "customer-7"}})
            core.list_namespace()
            cluster.state_file.save()  # the write is saved (now, or a moment ago by the saving thread)...
            assert "customer-7" in state_file.read_text()
            for _ in range(5):
                core.list_namespace()
                core.list_pod_for_all_namespaces()
            assert cluster.state_file.save() is False  # ...and reading a settled cluster leaves the file alone
    finally:
        cluster.stop()
    assert "customer-7" in state_file.read_text()
    assert not [p for p in state_file.parent.iterdir() if p.name.startswith(".cluster.json.")]  # no temporary left


def test_an_unreadable_state_file_is_set_aside_and_the_cluster_starts_empty(state_file):
    state_file.write_text("{not json")
    cluster = EmulatedCluster(ready_delay=1.0, state_file=state_file)
    assert not cluster.restored and not state_file.exists()
    assert [p.read_text() for p in state_file.parent.glob("cluster.json.unreadable-*")] == ["{not json"]
    assert [n["metadata"]["name"] for n in cluster.objects("Node")] == [f"emulated-node-{i}" for i in (1, 2, 3)]
