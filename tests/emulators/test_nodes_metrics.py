"""Nodes (readiness, cordoning, heartbeats) and the metrics API."""
import pytest
from kubernetes import client

from emulators.kube import quantities
from tests.emulators.manifests import deployment


def launch(apps, namespace, name="blog", replicas=1, limits=None, image="ghost:5.96"):
    apps.patch_namespaced_deployment(name, namespace, deployment(name, namespace, replicas=replicas, limits=limits,
                                                                 image=image),
                                     field_manager="portal", _content_type="application/apply-patch+yaml")


def test_nodes_look_like_nodes(core):
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == ["emulated-node-1", "emulated-node-2", "emulated-node-3"]
    node = nodes[0]
    assert node.status.capacity == {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi",
                                    "hugepages-2Mi": "0"}
    assert node.status.allocatable["pods"] == "110"
    assert {c.type: c.status for c in node.status.conditions} == \
           {"MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False", "Ready": "True"}
    assert {a.type for a in node.status.addresses} == {"InternalIP", "Hostname"}
    assert "emulator" in node.status.node_info.os_image
    assert node.status.node_info.kubelet_version == "v1.34.0-portal-emulator"


def test_heartbeats_move_with_the_clock(core, clock):
    def heartbeat():
        ready = next(c for c in core.read_node("emulated-node-1").status.conditions if c.type == "Ready")
        return ready.last_heartbeat_time
    before = heartbeat()
    clock.advance(30)
    assert (heartbeat() - before).total_seconds() >= 20


def test_node_not_ready(cluster, core, apps, namespace, clock):
    launch(apps, namespace, replicas=3)
    clock.advance(3)
    cluster.set_node_ready("emulated-node-2", False)
    node = core.read_node("emulated-node-2")
    ready = next(c for c in node.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "KubeletNotReady")
    assert {t.key for t in node.spec.taints} == {"node.kubernetes.io/not-ready"}
    pods = {p.spec.node_name: p for p in core.list_namespaced_pod(namespace).items}
    assert not pods["emulated-node-2"].status.container_statuses[0].ready
    assert pods["emulated-node-1"].status.container_statuses[0].ready
    assert apps.read_namespaced_deployment("blog", namespace).status.ready_replicas == 2
    launch(apps, namespace, name="shop", replicas=4)
    nodes = [p.spec.node_name for p in core.list_namespaced_pod(
        namespace, label_selector="app.kubernetes.io/instance=shop").items]
    assert "emulated-node-2" not in nodes
    cluster.set_node_ready("emulated-node-2", True)
    clock.advance(0.1)
    assert apps.read_namespaced_deployment("blog", namespace).status.ready_replicas == 3


def test_cordon_by_patch(core, apps, namespace):
    core.patch_node("emulated-node-1", {"spec": {"unschedulable": True}}, _content_type="application/merge-patch+json")
    node = core.read_node("emulated-node-1")
    assert node.spec.unschedulable and node.spec.taints[0].key == "node.kubernetes.io/unschedulable"
    assert [n.metadata.name for n in core.list_node(field_selector="spec.unschedulable=true").items] == \
           ["emulated-node-1"]
    launch(apps, namespace, replicas=4)
    assert "emulated-node-1" not in {p.spec.node_name for p in core.list_namespaced_pod(namespace).items}
    core.patch_node("emulated-node-1", {"spec": {"unschedulable": None}}, _content_type="application/merge-patch+json")
    assert core.read_node("emulated-node-1").spec.taints is None


def test_nothing_schedulable_leaves_pods_pending(cluster, core, apps, namespace, clock):
    for name in ("emulated-node-1", "emulated-node-2", "emulated-node-3"):
        cluster.set_node_ready(name, False)
    launch(apps, namespace)
    pod = core.list_namespaced_pod(namespace).items[0]
    assert pod.spec.node_name is None and pod.status.phase == "Pending"
    assert pod.status.conditions[0].reason == "Unschedulable"
    cluster.set_node_ready("emulated-node-3", True)
    clock.advance(2)
    pod = core.list_namespaced_pod(namespace).items[0]
    assert pod.spec.node_name == "emulated-node-3" and pod.status.container_statuses[0].ready


def test_pod_metrics(api_client, apps, namespace, clock):
    custom = client.CustomObjectsApi(api_client)
    launch(apps, namespace, replicas=2, limits={"cpu": "10m", "memory": "64Mi"})
    launch(apps, namespace, name="flow", image="n8nio/n8n")
    assert custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods")["items"] == []  # not running
    clock.advance(2)
    listed = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods",
                                                  label_selector="app.kubernetes.io/instance=blog")
    assert listed["kind"] == "PodMetricsList" and len(listed["items"]) == 2
    for item in listed["items"]:
        usage = item["containers"][0]["usage"]
        assert usage["cpu"].endswith("n") and usage["memory"].endswith("Ki")
        assert 0 < quantities.parse(usage["cpu"]) <= 0.010
        assert 0 < quantities.parse(usage["memory"]) <= 64 * 2**20
    every = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods")["items"]
    flow = next(m for m in every if m["metadata"]["name"].startswith("flow-"))
    assert quantities.parse(flow["containers"][0]["usage"]["memory"]) > 100 * 2**20  # n8n is heavier
    one = custom.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods",
                                              flow["metadata"]["name"])
    assert one["containers"] == flow["containers"]
    nodes = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")["items"]
    assert len(nodes) == 3 and all(n["usage"]["cpu"].endswith("n") for n in nodes)


def test_usage_drifts_over_time(api_client, apps, namespace, clock):
    custom = client.CustomObjectsApi(api_client)
    launch(apps, namespace)
    clock.advance(2)
    samples = set()
    for _ in range(5):
        clock.advance(30)
        item = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods")["items"][0]
        samples.add(item["containers"][0]["usage"]["cpu"])
    assert len(samples) > 1


@pytest.mark.parametrize("text,value", [("250m", 0.25), ("2", 2), ("1234567n", 0.001234567), ("128Mi", 2**27),
                                        ("1G", 1e9), ("1e3", 1000), ("0.5", 0.5)])
def test_quantities(text, value):
    assert quantities.parse(text) == pytest.approx(value)
