"""Fixtures for the emulated cluster: a fake clock, a started cluster, real `kubernetes` clients on it, and the
portal's cluster gateway on it (what the emulator exists to serve)."""
import pytest
from kubernetes import client

from emulators.kube import EmulatedCluster
from portal.provisioning.cluster import Cluster
from tests.helpers import FakeClock


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def cluster(clock):
    cluster = EmulatedCluster(ready_delay=2.0, node_count=3, clock=clock, timeout_sleep=2.0).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def api_client(cluster):
    with client.ApiClient(client.Configuration(host=cluster.url)) as api:
        yield api


@pytest.fixture
def core(api_client):
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client):
    return client.AppsV1Api(api_client)


@pytest.fixture
def networking(api_client):
    return client.NetworkingV1Api(api_client)


@pytest.fixture
def gateway(api_client):
    """The portal's gateway (server-side apply, merge patches), as the portal calls the cluster."""
    return Cluster(api_client)


@pytest.fixture
def namespace(core):
    """A customer namespace, as the portal makes them."""
    core.create_namespace({"metadata": {"name": "customer-7", "labels": {"app.kubernetes.io/managed-by": "portal"}}})
    return "customer-7"
