"""Injected faults: crash loops, pods never ready, failing image pulls, and failing API calls."""
import json

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.emulators.manifests import deployment


def launch(core, apps, namespace, name="blog", image="ghost:5.96"):
    apps.patch_namespaced_deployment(name, namespace, deployment(name, namespace, image=image),
                                     field_manager="portal", _content_type="application/apply-patch+yaml")


def the_pod(core, namespace, name="blog"):
    return core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={name}").items[0]


def test_crash_loop(cluster, core, apps, namespace, clock):
    cluster.crash_loop(namespace, "blog-")
    launch(core, apps, namespace)
    clock.advance(1 + 2 + 1)  # started at 1s, crashed at 3s, restarted at once
    status = the_pod(core, namespace).status
    container = status.container_statuses[0]
    assert status.phase == "Running" and not container.ready and container.restart_count == 1
    assert container.last_state.terminated.exit_code == 1
    clock.advance(2)  # the second run crashed: back-off
    container = the_pod(core, namespace).status.container_statuses[0]
    assert container.state.waiting.reason == "CrashLoopBackOff"
    assert "back-off 10s restarting failed container=web" in container.state.waiting.message
    clock.advance(120)
    container = the_pod(core, namespace).status.container_statuses[0]
    assert container.restart_count >= 4 and not container.ready
    assert container.last_state.terminated.reason == "Error"
    assert {c.type: c.status for c in the_pod(core, namespace).status.conditions}["Ready"] == "False"
    assert apps.read_namespaced_deployment("blog", namespace).status.ready_replicas is None


def test_crash_loop_logs_end_with_the_error_and_previous_shows_the_run_before(cluster, core, apps, namespace,
                                                                               clock):
    cluster.crash_loop(namespace, "db")
    launch(core, apps, namespace, name="db", image="postgres:16")
    clock.advance(40)
    name = the_pod(core, namespace, "db").metadata.name
    current = core.read_namespaced_pod_log(name, namespace)
    previous = core.read_namespaced_pod_log(name, namespace, previous=True)
    assert "FATAL" in current.splitlines()[-2] and "FATAL" in previous.splitlines()[-2]
    assert current != previous


def test_reset_faults_keeps_the_restart_count_and_recovers(cluster, core, apps, namespace, clock):
    cluster.crash_loop(namespace, "blog")
    launch(core, apps, namespace)
    clock.advance(20)
    restarts = the_pod(core, namespace).status.container_statuses[0].restart_count
    cluster.reset_faults()
    clock.advance(2)
    container = the_pod(core, namespace).status.container_statuses[0]
    assert container.ready and container.restart_count >= restarts
    assert container.last_state.terminated.exit_code == 1
    previous = core.read_namespaced_pod_log(the_pod(core, namespace).metadata.name, namespace, previous=True)
    assert "ERROR" in previous


def test_never_ready(cluster, core, apps, namespace, clock):
    cluster.never_ready(namespace, "blog")
    launch(core, apps, namespace)
    clock.advance(60)
    pod = the_pod(core, namespace)
    assert pod.status.phase == "Running"
    assert pod.status.container_statuses[0].state.running and not pod.status.container_statuses[0].ready
    assert pod.status.container_statuses[0].restart_count == 0
    status = apps.read_namespaced_deployment("blog", namespace).status
    assert status.ready_replicas is None and status.unavailable_replicas == 1


def test_image_pull_fails(cluster, core, apps, namespace, clock):
    cluster.image_pull_fails(namespace, "blog")
    launch(core, apps, namespace, image="ghost:does-not-exist")
    assert the_pod(core, namespace).status.container_statuses[0].state.waiting.reason == "ErrImagePull"
    clock.advance(5)
    pod = the_pod(core, namespace)
    waiting = pod.status.container_statuses[0].state.waiting
    assert pod.status.phase == "Pending"
    assert waiting.reason == "ImagePullBackOff" and "ghost:does-not-exist" in waiting.message
    with pytest.raises(ApiException) as error:
        core.read_namespaced_pod_log(pod.metadata.name, namespace)
    assert "trying and failing to pull image" in error.value.body
    clock.advance(600)
    progressing = {c.type: c for c in apps.read_namespaced_deployment("blog", namespace).status.conditions}
    assert progressing["Progressing"].reason == "ProgressDeadlineExceeded"


def test_faults_match_by_namespace_and_prefix(cluster, core, apps, namespace, clock):
    cluster.crash_loop("someone-else", "blog")
    cluster.never_ready(namespace, "shop")
    launch(core, apps, namespace)
    clock.advance(3)
    assert the_pod(core, namespace).status.container_statuses[0].ready


@pytest.mark.parametrize("status,reason", [(500, "InternalError"), (409, "Conflict")])
def test_fail_next(cluster, core, namespace, status, reason):
    cluster.fail_next(2, status=status, method="GET", path_contains="/pods")
    core.list_namespace()  # does not match: goes through
    for _ in range(2):
        with pytest.raises(ApiException) as error:
            core.list_namespaced_pod(namespace)
        body = json.loads(error.value.body)
        assert (error.value.status, body["kind"], body["reason"], body["code"]) == (status, "Status", reason, status)
    assert core.list_namespaced_pod(namespace).items == []


def test_failed_calls_change_nothing(cluster, core, namespace):
    cluster.fail_next(1, status=500, method="POST")
    with pytest.raises(ApiException):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}})
    assert core.list_namespaced_config_map(namespace).items == []


def test_timeout(cluster, namespace):
    cluster.timeout_sleep = 1.0
    configuration = client.Configuration(host=cluster.url)
    configuration.retries = 0  # urllib3 would otherwise retry a timed-out GET (and get through)
    with client.ApiClient(configuration) as api:
        core = client.CoreV1Api(api)
        cluster.fail_next(1, status="timeout", path_contains="/pods")
        with pytest.raises((urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.MaxRetryError)) as error:
            core.list_namespaced_pod(namespace, _request_timeout=0.3)
        assert "Read timed out" in str(error.value)
        assert core.list_namespaced_pod(namespace, _request_timeout=0.3).items == []


def test_urllib3_retries_a_timed_out_get_by_default(cluster, core, namespace):
    cluster.timeout_sleep = 1.0
    cluster.fail_next(1, status="timeout", path_contains="/pods")
    cluster.requests.clear()
    assert core.list_namespaced_pod(namespace, _request_timeout=0.3).items == []
    assert [r.path for r in cluster.requests].count(f"/api/v1/namespaces/{namespace}/pods") == 2


def test_timeout_answers_504_to_a_patient_client(cluster, core, namespace):
    cluster.timeout_sleep = 0.2
    cluster.fail_next(1, status="timeout")
    with pytest.raises(ApiException) as error:
        core.list_namespaced_pod(namespace)
    assert error.value.status == 504 and json.loads(error.value.body)["reason"] == "Timeout"


def test_fail_next_rejects_unknown_statuses(cluster):
    with pytest.raises(ValueError):
        cluster.fail_next(1, status=418)


def test_a_fault_set_on_a_ready_pod_takes_effect(cluster, core, apps, namespace, clock):
    launch(core, apps, namespace)
    clock.advance(3)
    assert the_pod(core, namespace).status.container_statuses[0].ready
    cluster.crash_loop(namespace, "blog")
    container = the_pod(core, namespace).status.container_statuses[0]
    assert not container.ready and container.restart_count == 0
    clock.advance(30)
    assert the_pod(core, namespace).status.container_statuses[0].restart_count >= 2


def test_image_pull_recovers_after_reset(cluster, core, apps, namespace, clock):
    cluster.image_pull_fails(namespace, "blog")
    launch(core, apps, namespace)
    clock.advance(10)
    cluster.reset_faults()
    assert the_pod(core, namespace).status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    clock.advance(2)
    assert the_pod(core, namespace).status.container_statuses[0].ready
