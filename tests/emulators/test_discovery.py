"""Discovery: what the official client asks before anything else, answered honestly as an emulator."""
import json
import urllib.request

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

KINDS = [("v1", "Namespace"), ("v1", "Node"), ("v1", "Pod"), ("v1", "Secret"), ("v1", "ConfigMap"),
         ("v1", "PersistentVolumeClaim"), ("v1", "Service"), ("v1", "ResourceQuota"), ("v1", "LimitRange"),
         ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("networking.k8s.io/v1", "Ingress"),
         ("networking.k8s.io/v1", "NetworkPolicy"), ("metrics.k8s.io/v1beta1", "PodMetrics"),
         ("metrics.k8s.io/v1beta1", "NodeMetrics")]


def test_version_says_it_is_an_emulator(api_client):
    info = client.VersionApi(api_client).get_code()
    assert info.git_version == "v1.34.0-portal-emulator"
    assert (info.major, info.minor) == ("1", "34")
    assert "emulator" in info.platform


@pytest.mark.parametrize("api_version,kind", KINDS)
def test_dynamic_client_finds_every_kind(dynamic, api_version, kind):
    resource = dynamic.resources.get(api_version=api_version, kind=kind)
    assert resource.kind == kind
    assert resource.group_version == api_version


def test_dynamic_client_construction_asks_version_and_groups_then_versions_lazily(cluster, api_client, tmp_path):
    cluster.requests.clear()
    dynamic = DynamicClient(api_client, cache_file=str(tmp_path / "cache.json"))
    assert [r.path for r in cluster.requests] == ["/version", "/apis"]
    dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    assert "/apis/apps/v1" in [r.path for r in cluster.requests]


def test_subresources_are_discovered(dynamic):
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    assert set(deployments.subresources) == {"status", "scale"}
    assert deployments.subresources["scale"].kind == "Scale"
    pods = dynamic.resources.get(api_version="v1", kind="Pod")
    assert "log" in pods.subresources
    assert not dynamic.resources.get(api_version="v1", kind="Node").namespaced


def test_resource_list_documents(cluster):
    body = json.loads(urllib.request.urlopen(f"{cluster.url}/apis/apps/v1").read())
    names = {r["name"]: r for r in body["resources"]}
    assert {"deployments", "deployments/scale", "deployments/status", "statefulsets/scale"} <= set(names)
    assert names["deployments"]["singularName"] == "deployment"
    assert "patch" in names["deployments"]["verbs"]
    groups = json.loads(urllib.request.urlopen(f"{cluster.url}/apis").read())
    assert {g["name"] for g in groups["groups"]} == {"apps", "networking.k8s.io", "metrics.k8s.io"}


def test_unknown_paths_are_a_status_404(cluster):
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{cluster.url}/apis/batch/v1/jobs")
    body = json.loads(error.value.read())
    assert (error.value.code, body["kind"], body["reason"]) == (404, "Status", "NotFound")
