"""deploy/: every manifest passes the strict Kubernetes schema, and the pieces fit together safely."""

import kubernetes_validate
import pytest
import yaml

from tests.ops.manifests import (
    DEPLOY,
    ENTRYPOINT_VARIABLES,
    config_variables,
    deploy_documents,
    deploy_files,
    dockerfile_stages,
    one,
    pod_templates,
)

SCHEMA_VERSION = "1.34"


@pytest.mark.parametrize("path", deploy_files(), ids=lambda path: path.name)
def test_every_manifest_passes_the_strict_schema(path):
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert documents, f"{path.name} holds no manifest"
    for document in documents:
        try:
            kubernetes_validate.validate(document, SCHEMA_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{path.name} {document['kind']}/{document['metadata']['name']}: "
                        f"{'.'.join(str(p) for p in error.path)}: {error.message}")


def test_kustomization_lists_every_manifest_and_only_them():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(path.name for path in deploy_files())
    assert [image["name"] for image in kustomization["images"]] == ["portal"]


def test_everything_lives_in_the_portal_namespace():
    namespace = one("Namespace")["metadata"]["name"]
    for document in deploy_documents():
        if document["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert document["metadata"].get("namespace") == namespace, document["metadata"]["name"]
    assert one("Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("name,pod", pod_templates(), ids=[name for name, _ in pod_templates()])
def test_pods_are_locked_down(name, pod):
    user = next(argument for instruction, argument in dockerfile_stages()[-1]["instructions"]
                if instruction == "USER").split(":")[0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == user  # the image's own unprivileged user
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod.get("initContainers", []) + pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, (container["name"], kind)
        # A read-only root needs somewhere to write temporary files (the kubernetes client, gunicorn).
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert {"/tmp", "/app/instance"} <= mounts, container["name"]
        assert container["image"] == "portal"
        assert [ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]] == \
            ["portal-config", "portal-secrets"]
    assert pod["serviceAccountName"] == one("ServiceAccount")["metadata"]["name"]


def test_the_watcher_runs_as_two_replicas_one_at_a_time_replaced():
    watcher = one("Deployment", "portal-watcher")
    assert watcher["spec"]["replicas"] == 2  # one leads through the Lease, the other stands by
    assert watcher["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 1


def test_only_web_worker_and_watcher_carry_a_cluster_token():
    assert one("ServiceAccount")["automountServiceAccountToken"] is False
    tokens = {name: pod.get("automountServiceAccountToken", False) for name, pod in pod_templates()}
    assert tokens == {"portal-web": True, "portal-worker": True, "portal-watcher": True, "portal-migrate": False}


def test_web_is_replicated_probed_and_protected_from_disruption():
    web = one("Deployment", "portal-web")
    assert web["spec"]["replicas"] >= 2
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["web"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8000}
    assert (container["readinessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["port"]) == \
        ("/readyz", "http")
    assert (container["livenessProbe"]["httpGet"]["path"], container["livenessProbe"]["httpGet"]["port"]) == \
        ("/healthz", "http")
    budget = one("PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == web["spec"]["selector"]["matchLabels"]
    assert budget["spec"]["minAvailable"] < web["spec"]["replicas"]  # a drain can always proceed


def test_service_and_ingress_lead_to_the_web_pods():
    web = one("Deployment", "portal-web")
    labels = web["spec"]["template"]["metadata"]["labels"]
    service = one("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    backend = one("Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": service["spec"]["ports"][0]["name"]}}
    worker = one("Deployment", "portal-worker")
    assert not service["spec"]["selector"].items() <= worker["spec"]["template"]["metadata"]["labels"].items()


def test_each_role_runs_its_entrypoint_command_and_waits_for_migrations():
    roles = {name: pod["containers"][0]["args"] for name, pod in pod_templates()}
    assert roles == {"portal-web": ["web"], "portal-worker": ["worker"], "portal-watcher": ["watcher"],
                     "portal-migrate": ["migrate"]}
    job = one("Job", "portal-migrate")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    for name in ("portal-web", "portal-worker", "portal-watcher"):
        init = one("Deployment", name)["spec"]["template"]["spec"]["initContainers"]
        assert [container["args"] for container in init] == [["wait-migrations"]]


def test_settings_are_ones_the_portal_reads_and_the_secret_is_a_template():
    known = config_variables() | ENTRYPOINT_VARIABLES
    config_map, secret = one("ConfigMap", "portal-config"), one("Secret", "portal-secrets")
    for key in list(config_map["data"]) + list(secret["stringData"]):
        assert key in known, f"{key} is read by nothing"
    assert not set(config_map["data"]) & set(secret["stringData"])
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "MIDTRANS_SERVER_KEY"} <= set(secret["stringData"])
    assert all("REPLACE_ME" in value for value in secret["stringData"].values())
    assert config_map["data"]["KUBE_MODE"] == "incluster"
    assert config_map["data"]["PROXY_HOPS"] == "1"  # the ingress controller: client addresses for rate limits
