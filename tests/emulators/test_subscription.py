"""One subscription's cluster objects, as DESIGN.md lists them, applied and terminated the portal's way."""
import threading

from kubernetes.client.rest import ApiException

from tests.emulators.manifests import MANAGED, deployment, labels, stateful_set

NS = "customer-42"
LABELS = labels("wordpress", "shop", 42)


def meta(name: str) -> dict:
    return {"name": name, "namespace": NS, "labels": LABELS}


def subscription_objects() -> list[dict]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": {
            **MANAGED, "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted"}}},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta("plan"),
         "spec": {"hard": {"requests.cpu": "2", "limits.cpu": "2", "requests.memory": "2Gi",
                           "limits.memory": "2Gi", "requests.storage": "20Gi", "pods": "10"}}},
        {"apiVersion": "v1", "kind": "LimitRange", "metadata": meta("defaults"),
         "spec": {"limits": [{"type": "Container", "default": {"cpu": "250m", "memory": "256Mi"},
                              "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("default-deny"),
         "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [
             {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]},
             {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "shop"}}}]}]}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta("shop-secrets"),
         "stringData": {"WORDPRESS_DB_PASSWORD": "generated-password"}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta("shop-content"),
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}},
        deployment("shop", NS, image="wordpress:6.7-apache", app="wordpress") | {"metadata": meta("shop")},
        stateful_set("shop-db", NS, image="mysql:8.0", storage="5Gi") | {"metadata": meta("shop-db")},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta("shop"),
         "spec": {"selector": {"app.kubernetes.io/instance": "shop"}, "ports": [{"name": "http", "port": 80,
                                                                                 "targetPort": 80}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
         "metadata": {**meta("shop"), "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}},
         "spec": {"ingressClassName": "nginx",
                  "tls": [{"hosts": ["shop.localtest.me"], "secretName": "shop-tls"}],
                  "rules": [{"host": "shop.localtest.me", "http": {"paths": [{
                      "path": "/", "pathType": "Prefix",
                      "backend": {"service": {"name": "shop", "port": {"number": 80}}}}]}}]}},
    ]


def apply_all(gateway) -> dict:
    versions = {}
    for manifest in subscription_objects():
        applied = gateway.apply(manifest)
        versions[(manifest["kind"], manifest["metadata"]["name"])] = applied["metadata"]["resourceVersion"]
    return versions


def test_apply_twice_changes_nothing_for_every_kind(gateway, core, apps, clock):
    apply_all(gateway)  # quota usage moves while later objects are created: compare the next two rounds
    second = apply_all(gateway)
    assert apply_all(gateway) == second
    clock.advance(6)
    ready = {p.metadata.name: p.status.container_statuses[0].ready for p in core.list_namespaced_pod(NS).items}
    assert len(ready) == 2 and all(ready.values())
    pod = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/instance=shop").items[0]
    assert pod.spec.containers[0].resources.limits == {"cpu": "250m", "memory": "256Mi"}  # from the LimitRange
    used = core.read_namespaced_resource_quota("plan", NS).status.used
    assert used["pods"] == "2" and used["requests.storage"] == "10Gi" and used["limits.cpu"] == "500m"
    ingress = gateway.get("networking.k8s.io/v1", "Ingress", NS, "shop")
    assert ingress["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.0.0.1"


def test_terminate_by_label_then_namespace(gateway, core, apps):
    apply_all(gateway)
    kinds = [(manifest["apiVersion"], manifest["kind"]) for manifest in reversed(subscription_objects()[1:])]
    assert gateway.delete_by_label(NS, "portal/subscription=42", kinds=kinds) == 9
    assert core.list_namespaced_pod(NS).items == []
    leftovers = core.list_namespaced_persistent_volume_claim(NS).items
    assert [c.metadata.name for c in leftovers] == ["data-shop-db-0"]  # StatefulSet claims outlive it
    core.delete_namespace(NS)
    try:
        phase = core.read_namespace(NS).status.phase
    except ApiException as error:
        phase = error.status
    assert phase == "Terminating"


def test_concurrent_clients(cluster, gateway, core, apps):
    apply_all(gateway)
    errors = []

    def work(index):
        try:
            for step in range(10):
                core.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/managed-by=portal")
                gateway.restart(NS, "Deployment", "shop", f"{index}-{step}")
                core.create_namespaced_config_map(NS, {"metadata": {"name": f"c-{index}-{step}"}})
        except Exception as error:  # noqa: BLE001 - collected: a thread's exception would not fail the test
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(core.list_namespaced_config_map(NS).items) == 60
    assert apps.read_namespaced_deployment("shop", NS).metadata.generation == 61
