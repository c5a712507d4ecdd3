"""Writes: server-side apply (create, update, twice = no change), patches, and admission like a real server."""
import base64
import json
import urllib.request

import jsonschema
import kubernetes_validate
import pytest
from kubernetes.client.rest import ApiException

from tests.emulators.manifests import deployment, pod


def apply(dynamic, manifest):
    resource = dynamic.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
    return resource.server_side_apply(body=manifest, field_manager="portal", force_conflicts=True)


def test_apply_creates_then_updates_and_twice_changes_nothing(dynamic, apps, namespace):
    created = apply(dynamic, deployment("blog", namespace))
    assert created.metadata.generation == 1
    assert created.metadata.managedFields[0].manager == "portal"
    assert created.metadata.managedFields[0].operation == "Apply"

    again = apply(dynamic, deployment("blog", namespace))
    assert (again.metadata.resourceVersion, again.metadata.generation) == \
           (created.metadata.resourceVersion, 1)
    assert again.metadata.uid == created.metadata.uid

    changed = apply(dynamic, deployment("blog", namespace, image="ghost:5.97"))
    assert changed.metadata.generation == 2
    assert int(changed.metadata.resourceVersion) > int(created.metadata.resourceVersion)
    assert changed.metadata.creationTimestamp == created.metadata.creationTimestamp
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


def test_apply_drops_what_the_manager_no_longer_applies(dynamic, namespace):
    manifest = deployment("blog", namespace)
    manifest["metadata"]["labels"]["tier"] = "web"
    apply(dynamic, manifest)
    del manifest["metadata"]["labels"]["tier"]
    assert "tier" not in apply(dynamic, manifest).metadata.labels


def test_apply_of_yaml_text(cluster, namespace):
    text = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {namespace}\n"
            f"data:\n  SITE_URL: https://blog.localtest.me\n")
    request = urllib.request.Request(f"{cluster.url}/api/v1/namespaces/{namespace}/configmaps/settings"
                                     f"?fieldManager=portal", data=text.encode(), method="PATCH",
                                     headers={"Content-Type": "application/apply-patch+yaml"})
    response = urllib.request.urlopen(request)
    assert response.status == 201
    assert json.loads(response.read())["data"] == {"SITE_URL": "https://blog.localtest.me"}


def test_apply_needs_a_field_manager(dynamic, cluster, namespace):
    request = urllib.request.Request(f"{cluster.url}/apis/apps/v1/namespaces/{namespace}/deployments/blog",
                                     data=json.dumps(deployment("blog", namespace)).encode(), method="PATCH",
                                     headers={"Content-Type": "application/apply-patch+yaml"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request)
    assert error.value.code == 400
    assert "fieldManager" in json.loads(error.value.read())["message"]


def test_invalid_manifest_is_422_with_the_path(dynamic, namespace):
    manifest = deployment("blog", namespace)
    manifest["spec"]["replica"] = 2
    with pytest.raises(ApiException) as error:
        apply(dynamic, manifest)
    body = json.loads(error.value.body)
    assert error.value.status == 422
    assert body["reason"] == "Invalid"
    assert "spec.replica" in body["message"] and "was unexpected" in body["message"]
    assert body["details"]["causes"][0]["field"] == "spec.replica"


def test_missing_required_fields_are_422(dynamic, namespace):
    pods = dynamic.resources.get(api_version="v1", kind="Pod")
    with pytest.raises(ApiException) as error:  # the dynamic client sends it unchecked, as the portal would
        pods.create(namespace=namespace, body={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare"},
                                               "spec": {"containers": [{"image": "x"}]}})
    assert error.value.status == 422 and "'name' is a required property" in error.value.body


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


def test_selector_must_match_template(dynamic, namespace):
    manifest = deployment("blog", namespace)
    manifest["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/instance": "other"}
    with pytest.raises(ApiException) as error:
        apply(dynamic, manifest)
    assert error.value.status == 422 and "selector" in error.value.body


def test_namespace_must_exist(dynamic, core):
    with pytest.raises(ApiException) as error:
        apply(dynamic, deployment("blog", "nowhere"))
    assert error.value.status == 404 and 'namespaces \\"nowhere\\" not found' in error.value.body
    with pytest.raises(ApiException) as error:
        core.create_namespaced_secret("nowhere", {"metadata": {"name": "s"}})
    assert error.value.status == 404


def test_create_twice_is_409_already_exists(core, namespace):
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}})
    with pytest.raises(ApiException) as error:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}})
    assert error.value.status == 409 and json.loads(error.value.body)["reason"] == "AlreadyExists"


def test_secret_string_data_becomes_data(dynamic, core, namespace):
    manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "blog-secrets", "namespace": namespace},
                "stringData": {"DB_PASSWORD": "s3cret"}}
    first = apply(dynamic, manifest)
    assert apply(dynamic, manifest).metadata.resourceVersion == first.metadata.resourceVersion
    secret = core.read_namespaced_secret("blog-secrets", namespace)
    assert base64.b64decode(secret.data["DB_PASSWORD"]) == b"s3cret"
    assert secret.string_data is None and secret.type == "Opaque"


def test_service_gets_a_cluster_ip_that_stays(dynamic, namespace):
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "blog", "namespace": namespace},
                "spec": {"selector": {"app.kubernetes.io/instance": "blog"}, "ports": [{"port": 80,
                                                                                          "targetPort": 2368}]}}
    first = apply(dynamic, manifest)
    assert first.spec.clusterIP.startswith("10.96.")
    second = apply(dynamic, manifest)
    assert second.spec.clusterIP == first.spec.clusterIP
    assert second.metadata.resourceVersion == first.metadata.resourceVersion


def test_merge_strategic_and_json_patches(dynamic, apps, namespace):
    apply(dynamic, deployment("blog", namespace, env={"url": "http://a"}))
    apps.patch_namespaced_deployment("blog", namespace, {"spec": {"replicas": 2}})  # strategic merge
    patched = apps.patch_namespaced_deployment("blog", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "env": [{"name": "url", "value": "http://b"}]}]}}}})
    container = patched.spec.template.spec.containers[0]
    assert (container.image, container.env[0].value) == ("ghost:5.96", "http://b")  # merged by name
    apps.patch_namespaced_deployment("blog", namespace, [{"op": "replace", "path": "/spec/replicas", "value": 3}])
    resource = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    merged = resource.patch(name="blog", namespace=namespace, body={"metadata": {"labels": {"tier": "web"}}},
                            content_type="application/merge-patch+json")
    assert merged.spec.replicas == 3 and merged.metadata.labels["tier"] == "web"
    assert merged.metadata.generation == 4


def test_patch_cannot_make_an_object_invalid(apps, dynamic, namespace):
    apply(dynamic, deployment("blog", namespace))
    with pytest.raises(ApiException) as error:
        apps.patch_namespaced_deployment("blog", namespace, {"spec": {"replicas": "two"}})
    assert error.value.status == 422


def test_replace_checks_resource_version(core, namespace):
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    created.data = {"a": "2"}
    updated = core.replace_namespaced_config_map("settings", namespace, created)
    assert updated.data == {"a": "2"}
    with pytest.raises(ApiException) as error:
        core.replace_namespaced_config_map("settings", namespace, created)  # stale resourceVersion
    assert error.value.status == 409


def test_everything_served_passes_the_real_schema(dynamic, core, namespace, clock):
    apply(dynamic, deployment("blog", namespace, limits={"cpu": "500m", "memory": "512Mi"}))
    core.create_namespaced_pod(namespace, pod("bare", namespace, {"a": "b"}))
    clock.advance(5)
    for path in (f"/api/v1/namespaces/{namespace}/pods", "/api/v1/nodes", f"/api/v1/namespaces/{namespace}",
                 f"/apis/apps/v1/namespaces/{namespace}/deployments/blog"):
        body = dynamic.request("GET", path).to_dict()
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
