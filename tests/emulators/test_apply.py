"""Writes: server-side apply (create, update, twice = no change), merge patches, and admission like a real server;
the patches the portal never sends (strategic merge, JSON patch) are refused."""
import base64
import json
import urllib.request

import jsonschema
import kubernetes_validate
import pytest
from kubernetes.client.rest import ApiException

from portal.provisioning.cluster import ClusterError
from tests.emulators.manifests import deployment, pod


def test_apply_creates_then_updates_and_twice_changes_nothing(gateway, apps, namespace):
    created = gateway.apply(deployment("blog", namespace))["metadata"]
    assert created["generation"] == 1
    assert created["managedFields"][0]["manager"] == "portal"
    assert created["managedFields"][0]["operation"] == "Apply"

    again = gateway.apply(deployment("blog", namespace))["metadata"]
    assert (again["resourceVersion"], again["generation"]) == (created["resourceVersion"], 1)
    assert again["uid"] == created["uid"]

    changed = gateway.apply(deployment("blog", namespace, image="ghost:5.97"))["metadata"]
    assert changed["generation"] == 2
    assert int(changed["resourceVersion"]) > int(created["resourceVersion"])
    assert changed["creationTimestamp"] == created["creationTimestamp"]
    live = apps.read_namespaced_deployment("blog", namespace)
    assert live.spec.template.spec.containers[0].image == "ghost:5.97"
    assert live.status.observed_generation == 2


def test_typed_client_apply(apps, namespace):
    body = deployment("shop", namespace, image="wordpress:6.7-apache", app="wordpress")
    first = apps.patch_namespaced_deployment("shop", namespace, body, field_manager="portal", force=True,
                                             _content_type="application/apply-patch+yaml")
    second = apps.patch_namespaced_deployment("shop", namespace, body, field_manager="portal", force=True,
                                              _content_type="application/apply-patch+yaml")
    assert first.metadata.resource_version == second.metadata.resource_version
    assert first.spec.replicas == 1 and first.spec.strategy.type == "RollingUpdate"


def test_apply_drops_what_the_manager_no_longer_applies(gateway, namespace):
    manifest = deployment("blog", namespace)
    manifest["metadata"]["labels"]["tier"] = "web"
    gateway.apply(manifest)
    del manifest["metadata"]["labels"]["tier"]
    assert "tier" not in gateway.apply(manifest)["metadata"]["labels"]


def test_apply_of_yaml_text(cluster, namespace):
    text = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {namespace}\n"
            f"data:\n  SITE_URL: https://blog.localtest.me\n")
    request = urllib.request.Request(f"{cluster.url}/api/v1/namespaces/{namespace}/configmaps/settings"
                                     f"?fieldManager=portal", data=text.encode(), method="PATCH",
                                     headers={"Content-Type": "application/apply-patch+yaml"})
    response = urllib.request.urlopen(request)
    assert response.status == 201
    assert json.loads(response.read())["data"] == {"SITE_URL": "https://blog.localtest.me"}


def test_apply_needs_a_field_manager(cluster, namespace):
    request = urllib.request.Request(f"{cluster.url}/apis/apps/v1/namespaces/{namespace}/deployments/blog",
                                     data=json.dumps(deployment("blog", namespace)).encode(), method="PATCH",
                                     headers={"Content-Type": "application/apply-patch+yaml"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request)
    assert error.value.code == 400
    assert "fieldManager" in json.loads(error.value.read())["message"]


def test_invalid_manifest_is_422_with_the_path(gateway, apps, namespace):
    manifest = deployment("blog", namespace)
    manifest["spec"]["replica"] = 2
    with pytest.raises(ClusterError) as error:
        gateway.apply(manifest)
    assert (error.value.status, error.value.reason) == (422, "Invalid")
    assert "spec.replica" in error.value.message and "was unexpected" in error.value.message
    with pytest.raises(ApiException) as error:  # the same apply through the typed client, for the whole answer
        apps.patch_namespaced_deployment("blog", namespace, manifest, field_manager="portal", force=True,
                                         _content_type="application/apply-patch+yaml")
    assert json.loads(error.value.body)["details"]["causes"][0]["field"] == "spec.replica"


def test_missing_required_fields_are_422(gateway, namespace):
    with pytest.raises(ClusterError) as error:  # the gateway sends dicts unchecked
        gateway.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": namespace},
                       "spec": {"containers": [{"image": "x"}]}})
    assert error.value.status == 422 and "'name' is a required property" in error.value.message


@pytest.mark.parametrize("name", ["Blog_1", "-blog", "b" * 254])
def test_names_must_be_dns_1123(core, namespace, name):
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name}})
    assert error.value.status == 422
    assert "metadata.name" in json.loads(error.value.body)["message"]


def test_namespace_names_must_be_labels(core):
    with pytest.raises(ApiException) as error:
        core.create_namespace({"metadata": {"name": "customer.7"}})
    assert error.value.status == 422 and "RFC 1123 label" in error.value.body


def test_label_values_are_checked(core, namespace):
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "x", "labels": {"portal/sub": "a" * 64}}})
    assert error.value.status == 422


def test_selector_must_match_template(gateway, namespace):
    manifest = deployment("blog", namespace)
    manifest["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/instance": "other"}
    with pytest.raises(ClusterError) as error:
        gateway.apply(manifest)
    assert error.value.status == 422 and "selector" in error.value.message


def test_namespace_must_exist(gateway, core):
    with pytest.raises(ClusterError) as error:
        gateway.apply(deployment("blog", "nowhere"))
    assert error.value.status == 404 and 'namespaces "nowhere" not found' in error.value.message
    with pytest.raises(ApiException) as error:
        core.create_namespaced_secret("nowhere", {"metadata": {"name": "s"}})
    assert error.value.status == 404


def test_create_twice_is_409_already_exists(core, namespace):
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}})
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}})
    assert error.value.status == 409 and json.loads(error.value.body)["reason"] == "AlreadyExists"


def test_secret_string_data_becomes_data(gateway, core, namespace):
    manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "blog-secrets", "namespace": namespace},
                "stringData": {"DB_PASSWORD": "s3cret"}}
    first = gateway.apply(manifest)
    assert gateway.apply(manifest)["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    secret = core.read_namespaced_secret("blog-secrets", namespace)
    assert base64.b64decode(secret.data["DB_PASSWORD"]) == b"s3cret"
    assert secret.string_data is None and secret.type == "Opaque"


def test_service_gets_a_cluster_ip_that_stays(gateway, namespace):
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "blog", "namespace": namespace},
                "spec": {"selector": {"app.kubernetes.io/instance": "blog"}, "ports": [{"port": 80,
                                                                                          "targetPort": 2368}]}}
    first = gateway.apply(manifest)
    assert first["spec"]["clusterIP"].startswith("10.96.")
    second = gateway.apply(manifest)
    assert second["spec"]["clusterIP"] == first["spec"]["clusterIP"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_merge_patches_as_the_gateway_sends_them(gateway, apps, namespace):
    gateway.apply(deployment("blog", namespace, env={"url": "http://a"}))
    restarted = gateway.restart(namespace, "Deployment", "blog", "2025-11-25T18:00:00Z")
    assert restarted["spec"]["template"]["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/restartedAt": "2025-11-25T18:00:00Z"}
    assert restarted["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] == "blog"  # merged
    assert gateway.scale(namespace, "Deployment", "blog", 2)["spec"]["replicas"] == 2  # the scale subresource
    merged = apps.patch_namespaced_deployment("blog", namespace, {"metadata": {"labels": {"tier": "web"}}},
                                              _content_type="application/merge-patch+json")
    assert merged.metadata.labels["tier"] == "web" and merged.metadata.labels["app.kubernetes.io/name"] == "ghost"
    assert merged.spec.replicas == 2 and merged.metadata.generation == 3  # labels are not the spec


@pytest.mark.parametrize("content_type,body", [
    ("application/strategic-merge-patch+json", {"spec": {"replicas": 2}}),
    ("application/json-patch+json", [{"op": "replace", "path": "/spec/replicas", "value": 2}]),
])
def test_patches_the_portal_never_sends_are_refused(apps, gateway, namespace, content_type, body):
    gateway.apply(deployment("blog", namespace))
    for call in (apps.patch_namespaced_deployment, apps.patch_namespaced_deployment_scale):
        with pytest.raises(ApiException) as error:
            call("blog", namespace, body, _content_type=content_type)
        assert error.value.status == 415 and content_type not in json.loads(error.value.body)["message"]
    assert apps.read_namespaced_deployment("blog", namespace).spec.replicas == 1


def test_patch_cannot_make_an_object_invalid(apps, gateway, namespace):
    gateway.apply(deployment("blog", namespace))
    with pytest.raises(ApiException) as error:
        apps.patch_namespaced_deployment("blog", namespace, {"spec": {"replicas": "two"}},
                                         _content_type="application/merge-patch+json")
    assert error.value.status == 422


def test_replace_checks_resource_version(core, namespace):
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    created.data = {"a": "2"}
    updated = core.replace_namespaced_config_map("settings", namespace, created)
    assert updated.data == {"a": "2"}
    with pytest.raises(ApiException) as error:
        core.replace_namespaced_config_map("settings", namespace, created)  # stale resourceVersion
    assert error.value.status == 409


def test_everything_served_passes_the_real_schema(gateway, cluster, core, namespace, clock):
    gateway.apply(deployment("blog", namespace, limits={"cpu": "500m", "memory": "512Mi"}))
    core.create_namespaced_pod(namespace, pod("bare", namespace, {"a": "b"}))
    clock.advance(5)
    for path in (f"/api/v1/namespaces/{namespace}/pods", "/api/v1/nodes", f"/api/v1/namespaces/{namespace}",
                 f"/apis/apps/v1/namespaces/{namespace}/deployments/blog"):
        body = json.loads(urllib.request.urlopen(cluster.url + path).read())
        objects = body.get("items", [body])
        for obj in objects:
            if "kind" not in obj:
                obj = {**obj, "kind": body["kind"].removesuffix("List"), "apiVersion": body["apiVersion"]}
            kubernetes_validate.validate(obj, "1.34", strict=True)


@pytest.mark.parametrize("mutate", [lambda m: m["spec"].update(replica=2),
                                    lambda m: m["spec"].update(replicas="2"),
                                    lambda m: m["spec"]["template"]["spec"]["containers"][0].pop("name"),
                                    lambda m: None])
def test_compiled_schemas_judge_like_kubernetes_validate(mutate):
    from emulators.kube import admission

    manifest = deployment("blog", "customer-7")
    mutate(manifest)
    assert admission._schema_validator("Deployment", "apps/v1") is not None  # the fast path is in use
    try:
        kubernetes_validate.validate(manifest, "1.34", strict=True)
        expected = None
    except kubernetes_validate.ValidationError as error:
        expected = error.message
    try:
        admission._check_schema(manifest)
        found = None
    except jsonschema.ValidationError as error:
        found = error.message
    assert found == expected
