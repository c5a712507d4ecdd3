"""Deployments and StatefulSets own pods that start, get ready, roll, scale, and go with their namespace."""
import re

import pytest
from kubernetes.client.rest import ApiException

from tests.emulators.manifests import deployment, stateful_set


def apply(apps, manifest):
    call = apps.patch_namespaced_deployment if manifest["kind"] == "Deployment" \
        else apps.patch_namespaced_stateful_set
    return call(manifest["metadata"]["name"], manifest["metadata"]["namespace"], manifest, field_manager="portal",
                force=True, _content_type="application/apply-patch+yaml")


def instance_pods(core, namespace, instance):
    return core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={instance}").items


def test_pods_go_pending_running_ready_on_the_clock(core, apps, namespace, clock):
    apply(apps, deployment("blog", namespace, replicas=2))
    pods = instance_pods(core, namespace, "blog")
    assert len(pods) == 2
    for pod in pods:
        assert re.fullmatch(r"blog-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}",
                            pod.metadata.name)
        assert pod.metadata.owner_references[0].kind == "Deployment"
        assert pod.metadata.owner_references[0].name == "blog"
        assert pod.metadata.labels["pod-template-hash"] in pod.metadata.name
        assert pod.status.phase == "Pending"
        assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
        assert pod.status.host_ip and pod.status.pod_ip and pod.status.start_time
    assert len({p.spec.node_name for p in pods}) == 2  # round robin over the nodes

    clock.advance(1.0)
    pod = instance_pods(core, namespace, "blog")[0]
    container = pod.status.container_statuses[0]
    assert pod.status.phase == "Running"
    assert container.state.running.started_at and container.started and not container.ready
    ready = {c.type: c.status for c in pod.status.conditions}
    assert ready == {"PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "False",
                     "ContainersReady": "False", "PodScheduled": "True"}
    assert apps.read_namespaced_deployment("blog", namespace).status.ready_replicas is None

    clock.advance(1.0)
    pods = instance_pods(core, namespace, "blog")
    assert all(p.status.container_statuses[0].ready for p in pods)
    assert all({c.type: c.status for c in p.status.conditions}["Ready"] == "True" for p in pods)
    status = apps.read_namespaced_deployment("blog", namespace).status
    assert (status.replicas, status.ready_replicas, status.available_replicas, status.updated_replicas) == \
           (2, 2, 2, 2)
    assert status.observed_generation == 1
    assert {c.type: c.reason for c in status.conditions}["Progressing"] == "NewReplicaSetAvailable"


def test_restart_annotation_replaces_pods_with_new_names(core, apps, namespace, clock):
    apply(apps, deployment("blog", namespace))
    clock.advance(3)
    before = {p.metadata.name for p in instance_pods(core, namespace, "blog")}
    apps.patch_namespaced_deployment("blog", namespace, {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2025-11-25T18:00:00Z"}}}}}, _content_type="application/merge-patch+json")
    during = instance_pods(core, namespace, "blog")
    assert len(during) == 2  # the old pod serves until the new one is ready
    clock.advance(3)
    after = instance_pods(core, namespace, "blog")
    assert len(after) == 1 and after[0].metadata.name not in before
    assert after[0].metadata.annotations["kubectl.kubernetes.io/restartedAt"] == "2025-11-25T18:00:00Z"
    assert after[0].status.container_statuses[0].ready


def test_env_change_rolls_the_pods(core, apps, namespace, clock):
    apply(apps, deployment("blog", namespace, env={"url": "http://a"}))
    clock.advance(3)
    before = {p.metadata.name for p in instance_pods(core, namespace, "blog")}
    apply(apps, deployment("blog", namespace, env={"url": "http://b"}))
    clock.advance(3)
    after = instance_pods(core, namespace, "blog")
    assert len(after) == 1 and after[0].metadata.name not in before
    assert after[0].spec.containers[0].env[0].value == "http://b"


def test_recreate_strategy_removes_old_pods_at_once(core, apps, namespace, clock):
    manifest = deployment("blog", namespace)
    manifest["spec"]["strategy"] = {"type": "Recreate"}
    apply(apps, manifest)
    clock.advance(3)
    apply(apps, deployment("blog", namespace, image="ghost:6") | {"spec": {**manifest["spec"], "template": deployment(
        "blog", namespace, image="ghost:6")["spec"]["template"]}})
    assert [p.spec.containers[0].image for p in instance_pods(core, namespace, "blog")] == ["ghost:6"]


def test_scale_to_zero_and_back(core, apps, namespace, clock):
    apply(apps, deployment("blog", namespace, replicas=2))
    clock.advance(3)
    scale = apps.patch_namespaced_deployment_scale("blog", namespace, {"spec": {"replicas": 0}},
                                                   _content_type="application/merge-patch+json")
    assert scale.spec.replicas == 0 and scale.status.selector == "app.kubernetes.io/instance=blog"
    assert instance_pods(core, namespace, "blog") == []
    status = apps.read_namespaced_deployment("blog", namespace).status
    assert status.replicas is None and status.ready_replicas is None
    apps.replace_namespaced_deployment_scale("blog", namespace, {"spec": {"replicas": 1},
                                                                  "metadata": {"name": "blog"}})
    assert len(instance_pods(core, namespace, "blog")) == 1
    assert apps.read_namespaced_deployment_scale("blog", namespace).spec.replicas == 1


def test_scale_refuses_negative(apps, namespace):
    apply(apps, deployment("blog", namespace))
    with pytest.raises(ApiException) as error:
        apps.patch_namespaced_deployment_scale("blog", namespace, {"spec": {"replicas": -1}},
                                               _content_type="application/merge-patch+json")
    assert error.value.status == 422


def test_stateful_set_pods_are_numbered_and_ordered(core, apps, namespace, clock):
    apply(apps, stateful_set("db", namespace, replicas=3, storage="5Gi"))
    assert [p.metadata.name for p in instance_pods(core, namespace, "db")] == ["db-0"]  # OrderedReady
    for _ in range(3):
        clock.advance(2)
    pods = instance_pods(core, namespace, "db")
    assert [p.metadata.name for p in pods] == ["db-0", "db-1", "db-2"]
    assert pods[1].metadata.owner_references[0].kind == "StatefulSet"
    assert pods[1].spec.hostname == "db-1" and pods[1].spec.subdomain == "db"
    claims = {c.metadata.name: c for c in core.list_namespaced_persistent_volume_claim(namespace).items}
    assert set(claims) == {"data-db-0", "data-db-1", "data-db-2"}
    assert claims["data-db-0"].status.phase == "Bound"
    assert claims["data-db-0"].status.capacity["storage"] == "5Gi"
    status = apps.read_namespaced_stateful_set("db", namespace).status
    assert (status.replicas, status.ready_replicas, status.current_replicas) == (3, 3, 3)
    apps.patch_namespaced_stateful_set_scale("db", namespace, {"spec": {"replicas": 1}},
                                             _content_type="application/merge-patch+json")
    assert [p.metadata.name for p in instance_pods(core, namespace, "db")] == ["db-0"]
    assert len(core.list_namespaced_persistent_volume_claim(namespace).items) == 3  # claims are kept


def test_stateful_set_template_change_recreates_pods(core, apps, namespace, clock):
    apply(apps, stateful_set("db", namespace))
    clock.advance(2)
    uid = instance_pods(core, namespace, "db")[0].metadata.uid
    apply(apps, stateful_set("db", namespace, image="mysql:8.4"))
    pods = instance_pods(core, namespace, "db")
    assert [p.metadata.name for p in pods] == ["db-0"] and pods[0].metadata.uid != uid
    assert pods[0].spec.containers[0].image == "mysql:8.4"


def test_deleting_a_pod_makes_the_controller_replace_it(core, apps, namespace):
    apply(apps, deployment("blog", namespace))
    old = instance_pods(core, namespace, "blog")[0].metadata.name
    deleted = core.delete_namespaced_pod(old, namespace)
    assert deleted.metadata.deletion_timestamp is not None
    assert [p.metadata.name for p in instance_pods(core, namespace, "blog")] != [old]


def test_deleting_a_deployment_deletes_its_pods(core, apps, namespace):
    apply(apps, deployment("blog", namespace))
    status = apps.delete_namespaced_deployment("blog", namespace)
    assert status["status"] == "Success"
    assert instance_pods(core, namespace, "blog") == []


def test_delete_collection_by_label(core, apps, namespace):
    apply(apps, deployment("blog", namespace))
    apply(apps, deployment("shop", namespace, app="wordpress"))
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "blog", "labels": {"portal/subscription": "1"}}})
    apps.delete_collection_namespaced_deployment(namespace, label_selector="app.kubernetes.io/instance=blog")
    core.delete_collection_namespaced_config_map(namespace, label_selector="portal/subscription=1")
    assert [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items] == ["shop"]
    assert core.list_namespaced_config_map(namespace).items == []
    assert instance_pods(core, namespace, "blog") == []


def test_namespace_deletion_cascades_after_a_short_terminating_phase(core, apps, namespace, clock):
    apply(apps, deployment("blog", namespace))
    core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}, "string_data": {"a": "b"}})
    core.delete_namespace(namespace, propagation_policy="Foreground")
    assert core.read_namespace(namespace).status.phase == "Terminating"
    assert apps.list_namespaced_deployment(namespace).items == []
    assert core.list_namespaced_pod(namespace).items == [] and core.list_namespaced_secret(namespace).items == []
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "late"}})
    assert error.value.status == 403 and "being terminated" in error.value.body
    with pytest.raises(ApiException) as error:
        core.delete_namespace(namespace)  # a retried termination meets the real server's answer
    assert error.value.status == 409 and "ensuring all content is removed" in error.value.body
    clock.advance(1.0)
    with pytest.raises(ApiException) as error:
        core.read_namespace(namespace)
    assert error.value.status == 404
    core.create_namespace({"metadata": {"name": namespace}})  # the name is free again


def test_quota_needs_limits_and_limit_range_supplies_them(core, apps, namespace):
    core.create_namespaced_resource_quota(namespace, {"metadata": {"name": "plan"}, "spec": {"hard": {
        "limits.cpu": "1", "limits.memory": "1Gi", "pods": "4"}}})
    apply(apps, deployment("blog", namespace))
    assert instance_pods(core, namespace, "blog") == []
    failure = {c.type: c for c in apps.read_namespaced_deployment("blog", namespace).status.conditions}
    assert failure["ReplicaFailure"].reason == "FailedCreate"
    assert "must specify limits.cpu" in failure["ReplicaFailure"].message
    core.create_namespaced_limit_range(namespace, {"metadata": {"name": "defaults"}, "spec": {"limits": [
        {"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}}]}})
    pods = instance_pods(core, namespace, "blog")
    assert pods[0].spec.containers[0].resources.limits == {"cpu": "500m", "memory": "256Mi"}
    quota = core.read_namespaced_resource_quota("plan", namespace)
    assert quota.status.used == {"limits.cpu": "500m", "limits.memory": "256Mi", "pods": "1"}
    apps.patch_namespaced_deployment_scale("blog", namespace, {"spec": {"replicas": 3}},
                                           _content_type="application/merge-patch+json")
    assert len(instance_pods(core, namespace, "blog")) == 2  # a third would exceed limits.cpu=1
    conditions = {c.type: c for c in apps.read_namespaced_deployment("blog", namespace).status.conditions}
    assert "exceeded quota: plan" in conditions["ReplicaFailure"].message
