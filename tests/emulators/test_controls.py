"""The `/_emulator` HTTP controls, and `python -m emulators.kube`."""
import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from kubernetes.client.rest import ApiException

from tests.emulators.manifests import deployment


def call(cluster, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{cluster.url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_summary(cluster):
    code, body = call(cluster, "GET", "/_emulator")
    assert code == 200 and body["emulator"] == "kubernetes"
    assert [n["name"] for n in body["nodes"]] == ["emulated-node-1", "emulated-node-2", "emulated-node-3"]
    assert body["settings"]["readyDelay"] == 2.0


def test_fail_next_over_http(cluster, core):
    code, _ = call(cluster, "POST", "/_emulator/faults", {"fault": "fail_next", "count": 1, "status": 500,
                                                          "method": "GET", "pathContains": "/namespaces"})
    assert code == 201
    with pytest.raises(ApiException) as error:
        core.list_namespace()
    assert error.value.status == 500
    core.list_namespace()


def test_pod_faults_over_http(cluster, core, apps, namespace, clock):
    code, faults = call(cluster, "POST", "/_emulator/faults", {"fault": "crash_loop", "namespace": namespace,
                                                               "namePrefix": "blog"})
    assert code == 201 and faults["pods"][0]["kind"] == "crash_loop"
    apps.patch_namespaced_deployment("blog", namespace, deployment("blog", namespace), field_manager="portal",
                                     _content_type="application/apply-patch+yaml")
    call(cluster, "POST", "/_emulator/clock", {"advance": 30})
    container = core.list_namespaced_pod(namespace).items[0].status.container_statuses[0]
    assert container.restart_count > 0
    code, _ = call(cluster, "DELETE", "/_emulator/faults")
    assert code == 200 and call(cluster, "GET", "/_emulator/faults")[1] == {"failNext": [], "pods": [],
                                                                                  "printed": []}
    for kind in ("never_ready", "image_pull_fails"):
        assert call(cluster, "POST", "/_emulator/faults", {"fault": kind, "namespace": "x", "namePrefix": ""})[0] == 201
    assert call(cluster, "POST", "/_emulator/faults", {"fault": "gremlins"})[0] == 400


def test_nodes_and_settings_over_http(cluster, core):
    assert call(cluster, "POST", "/_emulator/nodes/emulated-node-3", {"ready": False})[0] == 200
    ready = next(c for c in core.read_node("emulated-node-3").status.conditions if c.type == "Ready")
    assert ready.status == "False"
    assert call(cluster, "POST", "/_emulator/nodes/no-such-node", {"ready": False})[0] == 404
    code, settings = call(cluster, "PATCH", "/_emulator/settings", {"readyDelay": 0, "timeoutSleep": 1})
    assert code == 200 and settings["readyDelay"] == 0 and cluster.timeout_sleep == 1.0


def test_request_log_over_http(cluster, core):
    call(cluster, "DELETE", "/_emulator/requests")
    core.list_pod_for_all_namespaces(label_selector="a=b")
    _code, log = call(cluster, "GET", "/_emulator/requests")
    assert log == [{"method": "GET", "path": "/api/v1/pods", "query": "labelSelector=a=b"}]


def test_ready_delay_zero_makes_pods_ready_at_once(cluster, core, apps, namespace):
    cluster.ready_delay = 0
    apps.patch_namespaced_deployment("blog", namespace, deployment("blog", namespace), field_manager="portal",
                                     _content_type="application/apply-patch+yaml")
    assert apps.read_namespaced_deployment("blog", namespace).status.ready_replicas == 1


def test_module_runs_in_the_foreground():
    process = subprocess.Popen([sys.executable, "-m", "emulators.kube", "--port", "0", "--ready-delay", "3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        line = process.stdout.readline()
        url = line.split(" at ")[1].split()[0]
        version = json.loads(urllib.request.urlopen(f"{url}/version", timeout=5).read())
        assert version["gitVersion"] == "v1.34.0-portal-emulator"
        summary = json.loads(urllib.request.urlopen(f"{url}/_emulator", timeout=5).read())
        assert summary["settings"]["readyDelay"] == 3.0
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
