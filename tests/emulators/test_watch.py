"""Watch streams through the official client's `kubernetes.watch.Watch`: resourceVersions from one counter,
events after a version, selectors, bookmarks, timeouts, 410 Gone past the window, and Leases with optimistic
concurrency (what leader election relies on)."""
import json
import threading

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.emulators.manifests import deployment, labels, pod


def _events(core, namespace, resource_version, until, timeout=10, **kwargs):
    """Events of a namespaced pod watch from `resource_version` until `until(events)` holds (or the timeout)."""
    seen = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_pod, namespace, resource_version=resource_version,
                               timeout_seconds=timeout, **kwargs):
        seen.append(event)
        if until(seen):
            stream.stop()
    return seen


def test_every_object_carries_a_version_from_one_increasing_counter(core, apps, namespace):
    first = core.create_namespaced_pod(namespace, pod("one", namespace, labels("ghost", "one")))
    made = apps.create_namespaced_deployment(namespace, deployment("blog", namespace))
    listed = core.list_namespaced_pod(namespace)
    versions = [int(first.metadata.resource_version), int(made.metadata.resource_version)]
    assert versions[0] < versions[1]
    assert int(listed.metadata.resource_version) >= max(int(p.metadata.resource_version) for p in listed.items)


def test_watch_from_a_list_sees_added_modified_deleted_in_order(core, namespace, clock):
    start = core.list_namespaced_pod(namespace).metadata.resource_version
    core.create_namespaced_pod(namespace, pod("web-1", namespace, labels("ghost", "web-1")))
    clock.advance(5)  # the pod becomes ready by itself: a status change the watch must show
    core.delete_namespaced_pod("web-1", namespace)
    events = _events(core, namespace, start, lambda seen: seen[-1]["type"] == "DELETED")
    kinds = [e["type"] for e in events]
    assert kinds[0] == "ADDED" and kinds[-1] == "DELETED" and "MODIFIED" in kinds
    versions = [int(e["raw_object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert all(v > int(start) for v in versions)
    ready = [e for e in events if e["type"] == "MODIFIED" and all(
        c["ready"] for c in e["raw_object"]["status"].get("containerStatuses") or [{"ready": False}])]
    assert ready, "the pod turning ready was sent as a MODIFIED event"


def test_a_change_made_while_watching_arrives(core, namespace, clock):
    start = core.list_namespaced_pod(namespace).metadata.resource_version
    timer = threading.Timer(0.3, lambda: core.create_namespaced_pod(namespace, pod("late", namespace,
                                                                                  labels("ghost", "late"))))
    timer.start()
    try:
        events = _events(core, namespace, start, lambda seen: True)
    finally:
        timer.join()
    assert [(e["type"], e["raw_object"]["metadata"]["name"]) for e in events] == [("ADDED", "late")]


def test_label_selector_and_namespace_limit_the_events(core, namespace):
    core.create_namespace({"metadata": {"name": "other"}})
    start = core.list_pod_for_all_namespaces().metadata.resource_version
    core.create_namespaced_pod(namespace, pod("stray", namespace, {"app": "other"}))
    core.create_namespaced_pod("other", pod("elsewhere", "other", labels("ghost", "elsewhere")))
    core.create_namespaced_pod(namespace, pod("mine", namespace, labels("ghost", "mine")))
    events = _events(core, namespace, start, lambda seen: True, label_selector="app.kubernetes.io/managed-by=portal")
    assert [e["raw_object"]["metadata"]["name"] for e in events] == ["mine"]


def test_without_a_version_the_watch_starts_with_the_current_objects(core, namespace):
    core.create_namespaced_pod(namespace, pod("there", namespace, labels("ghost", "there")))
    events = _events(core, namespace, None, lambda seen: True)
    assert [(e["type"], e["raw_object"]["metadata"]["name"]) for e in events] == [("ADDED", "there")]


def test_a_version_older_than_the_window_is_gone(cluster, core, namespace):
    start = core.list_namespaced_pod(namespace).metadata.resource_version
    cluster.watch_window = 2
    for name in ("a", "b", "c", "d"):
        core.create_namespaced_pod(namespace, pod(name, namespace, labels("ghost", name)))
    with pytest.raises(ApiException) as gone:
        _events(core, namespace, start, lambda seen: True)
    assert gone.value.status == 410 and "too old resource version" in gone.value.reason
    # Re-listing gives a version inside the window again: the watch works from there.
    fresh = core.list_namespaced_pod(namespace).metadata.resource_version
    core.create_namespaced_pod(namespace, pod("e", namespace, labels("ghost", "e")))
    assert [e["raw_object"]["metadata"]["name"] for e in _events(core, namespace, fresh, lambda seen: True)] == ["e"]


def test_the_raw_answer_is_an_error_event_with_a_410_status(cluster, api_client, core, namespace):
    start = core.list_namespaced_pod(namespace).metadata.resource_version
    cluster.watch_window = 0
    core.create_namespaced_pod(namespace, pod("a", namespace, labels("ghost", "a")))
    response = core.list_namespaced_pod(namespace, watch=True, resource_version=start, timeout_seconds=5,
                                        _preload_content=False)
    assert response.status == 200

    event = json.loads(response.data.decode().strip())
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"


def test_bookmarks_carry_the_newest_version_and_the_stream_ends_at_its_timeout(cluster, core, namespace):
    cluster.bookmark_interval = 0.2
    start = core.list_namespaced_pod(namespace).metadata.resource_version
    core.create_namespace({"metadata": {"name": "elsewhere"}})
    core.create_namespaced_pod("elsewhere", pod("x", "elsewhere", labels("ghost", "x")))
    newest = core.list_pod_for_all_namespaces().metadata.resource_version
    events = _events(core, namespace, start, lambda seen: seen[-1]["type"] == "BOOKMARK", timeout=5,
                     allow_watch_bookmarks=True)
    assert events[-1]["raw_object"]["metadata"]["resourceVersion"] == newest
    # With nothing to send, the stream closes by itself at timeoutSeconds.
    assert _events(core, namespace, newest, lambda seen: False, timeout=1) == []


def test_watching_an_unsupported_kind_is_a_clear_400(core, namespace):
    with pytest.raises(ApiException) as refused:
        core.list_namespaced_secret(namespace, watch=True, timeout_seconds=1, _preload_content=False)
    assert refused.value.status == 400 and "not supported" in str(refused.value.body)


def _lease(name, namespace, holder, version=None, renewed="2026-01-01T00:00:00.000000Z"):
    metadata = {"name": name, "namespace": namespace}
    if version:
        metadata["resourceVersion"] = version
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 10,
                     "acquireTime": "2026-01-01T00:00:00.000000Z", "renewTime": renewed,
                     "leaseTransitions": 0}}


def test_leases_are_created_read_and_updated_with_optimistic_concurrency(api_client, namespace):
    leases = client.CoordinationV1Api(api_client)
    made = leases.create_namespaced_lease(namespace, _lease("watcher", namespace, "a"))
    with pytest.raises(ApiException) as taken:
        leases.create_namespaced_lease(namespace, _lease("watcher", namespace, "b"))
    assert taken.value.status == 409
    read = leases.read_namespaced_lease("watcher", namespace)
    assert read.spec.holder_identity == "a"
    renewed = leases.replace_namespaced_lease("watcher", namespace,
                                              _lease("watcher", namespace, "a", made.metadata.resource_version,
                                                     "2026-01-01T00:00:02.000000Z"))
    assert int(renewed.metadata.resource_version) > int(made.metadata.resource_version)
    # A second candidate that read the lease before the renewal loses the race: 409 Conflict.
    with pytest.raises(ApiException) as stale:
        leases.replace_namespaced_lease("watcher", namespace,
                                        _lease("watcher", namespace, "b", made.metadata.resource_version))
    assert stale.value.status == 409
    assert leases.read_namespaced_lease("watcher", namespace).spec.holder_identity == "a"
