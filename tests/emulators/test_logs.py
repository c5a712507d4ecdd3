"""Synthetic logs: per app, growing with the clock, deterministic, with the kubelet's log options."""
import re
import urllib.request

import pytest
from kubernetes.client.rest import ApiException

from tests.emulators.manifests import deployment, pod


def running_pod(core, apps, namespace, clock, image, name="app"):
    apps.patch_namespaced_deployment(name, namespace, deployment(name, namespace, image=image),
                                     field_manager="portal", _content_type="application/apply-patch+yaml")
    clock.advance(2)
    return core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={name}").items[0]


@pytest.mark.parametrize("image,words", [
    ("n8nio/n8n:1.70.3", "Editor is now accessible via"),
    ("ghost:5.96", "Ghost is running in production"),
    ("wordpress:6.7-apache", "resuming normal operations"),
    ("mysql:8.0", "ready for connections"),
    ("postgres:16", "database system is ready to accept connections"),
    ("registry.example.com/team/api:2.1", "Listening on 0.0.0.0:8080"),
])
def test_logs_depend_on_the_image(core, apps, namespace, clock, image, words):
    name = running_pod(core, apps, namespace, clock, image).metadata.name
    assert words in core.read_namespaced_pod_log(name, namespace)


def test_logs_grow_with_the_clock_and_are_deterministic(core, apps, namespace, clock):
    name = running_pod(core, apps, namespace, clock, "ghost:5.96").metadata.name
    first = core.read_namespaced_pod_log(name, namespace)
    assert first == core.read_namespaced_pod_log(name, namespace)
    clock.advance(10)
    later = core.read_namespaced_pod_log(name, namespace)
    assert later.startswith(first)
    assert later.count("\n") - first.count("\n") == 20  # two lines a second for ghost


def test_tail_lines_and_timestamps(core, apps, namespace, clock):
    name = running_pod(core, apps, namespace, clock, "n8nio/n8n").metadata.name
    clock.advance(30)
    full = core.read_namespaced_pod_log(name, namespace).splitlines()
    tail = core.read_namespaced_pod_log(name, namespace, tail_lines=3).splitlines()
    assert tail == full[-3:]
    stamped = core.read_namespaced_pod_log(name, namespace, tail_lines=3, timestamps=True).splitlines()
    for line, plain in zip(stamped, tail, strict=False):
        stamp, _, text = line.partition(" ")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp) and text == plain
    assert core.read_namespaced_pod_log(name, namespace, tail_lines=0) == ""


def test_since_seconds_and_since_time(cluster, core, apps, namespace, clock):
    name = running_pod(core, apps, namespace, clock, "ghost").metadata.name
    clock.advance(60)
    recent = core.read_namespaced_pod_log(name, namespace, since_seconds=5, timestamps=True).splitlines()
    assert len(recent) == 10
    cut = recent[4].split(" ")[0]
    # The generated client has no sinceTime parameter; the API (and kubectl --since-time) has.
    url = f"{cluster.url}/api/v1/namespaces/{namespace}/pods/{name}/log?timestamps=true&sinceTime={cut}"
    response = urllib.request.urlopen(url)
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.read().decode().splitlines() == recent[4:]


def test_log_errors_like_the_kubelet(core, apps, namespace, clock):
    apps.patch_namespaced_deployment("app", namespace, deployment("app", namespace), field_manager="portal",
                                     _content_type="application/apply-patch+yaml")
    name = core.list_namespaced_pod(namespace).items[0].metadata.name
    with pytest.raises(ApiException) as error:
        core.read_namespaced_pod_log(name, namespace)
    assert error.value.status == 400 and "is waiting to start: ContainerCreating" in error.value.body
    clock.advance(2)
    with pytest.raises(ApiException) as error:
        core.read_namespaced_pod_log(name, namespace, previous=True)
    assert error.value.status == 400 and "previous terminated container" in error.value.body
    with pytest.raises(ApiException) as error:
        core.read_namespaced_pod_log(name, namespace, container="sidecar")
    assert error.value.status == 400
    with pytest.raises(ApiException) as error:
        core.read_namespaced_pod_log("nope", namespace)
    assert error.value.status == 404


def test_two_containers_need_a_container_name(core, namespace, clock):
    manifest = pod("two", namespace, {"a": "b"})
    manifest["spec"]["containers"].append({"name": "db", "image": "postgres:16"})
    core.create_namespaced_pod(namespace, manifest)
    clock.advance(2)
    with pytest.raises(ApiException) as error:
        core.read_namespaced_pod_log("two", namespace)
    assert "a container name must be specified" in error.value.body and "[web db]" in error.value.body
    assert "PostgreSQL" in core.read_namespaced_pod_log("two", namespace, container="db")


def test_long_logs_are_cheap_to_tail(core, apps, namespace, clock):
    name = running_pod(core, apps, namespace, clock, "wordpress").metadata.name
    clock.advance(30 * 24 * 3600)  # a month of access logs
    assert len(core.read_namespaced_pod_log(name, namespace, tail_lines=5).splitlines()) == 5
    assert len(core.read_namespaced_pod_log(name, namespace).splitlines()) == 10_000  # rotated


def test_printed_lines_come_last_and_a_second_call_replaces_them(cluster, core, apps, namespace, clock):
    name = running_pod(core, apps, namespace, clock, "ghost:5.96", name="blog").metadata.name
    own = core.read_namespaced_pod_log(name, namespace)
    cluster.print_log(namespace, "blog", ["<b>hello</b> & {{ 7*7 }}", "second"])
    assert core.read_namespaced_pod_log(name, namespace) == own + "<b>hello</b> & {{ 7*7 }}\nsecond\n"
    stamped = core.read_namespaced_pod_log(name, namespace, timestamps=True, tail_lines=2).splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["<b>hello</b> & {{ 7*7 }}", "second"]
    assert stamped[0].split(" ", 1)[0] == cluster.state.clock.stamp_nano(cluster.state.now())  # printed now
    cluster.print_log(namespace, "blog", ["only this"])
    assert core.read_namespaced_pod_log(name, namespace, tail_lines=1) == "only this\n"
    clock.advance(5)  # the app prints on after them: the printed lines keep their moment
    assert core.read_namespaced_pod_log(name, namespace, since_seconds=4).count("only this") == 0
    cluster.reset_faults()
    assert "only this" not in core.read_namespaced_pod_log(name, namespace)


def test_printed_lines_over_the_http_controls(cluster, core, apps, namespace, clock):
    import json

    name = running_pod(core, apps, namespace, clock, "ghost:5.96", name="blog").metadata.name
    request = urllib.request.Request(f"{cluster.url}/_emulator/faults", method="POST",
                                     data=json.dumps({"fault": "print_log", "namespace": namespace,
                                                      "namePrefix": "blog", "lines": ["from a script"]}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 201
    assert core.read_namespaced_pod_log(name, namespace, tail_lines=1) == "from a script\n"
