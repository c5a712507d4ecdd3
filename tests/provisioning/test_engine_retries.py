"""Provisioning under cluster faults, with a real Huey consumer doing the retries and the watching."""
import time

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.provisioning.cluster import cluster_for
from portal.subscriptions.models import InstanceEvent, Subscription


@pytest.fixture
def kube_options():
    # The consumer's watch chain waits in real time, so the cluster runs on the real clock.
    return {"ready_delay": 0.5, "node_count": 2, "timeout_sleep": 2.5}


@pytest.fixture
def provisioning_config():
    return {"KUBE_TIMEOUT_SECONDS": 1, "PROVISION_RETRY_BASE_SECONDS": 0.3, "PROVISION_MAX_ATTEMPTS": 5,
            "WATCH_INTERVAL_SECONDS": 0.3}




def wait_for_state(subscription_id: int, states: set[str], timeout: float = 30.0) -> Subscription:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        subscription = db.session.get(Subscription, subscription_id)
        if subscription.state in states:
            return subscription
        time.sleep(0.1)
    raise AssertionError(f"subscription stayed {subscription.state}, wanted {states}")


def event_kinds(subscription_id: int) -> list[str]:
    return list(db.session.scalars(select(InstanceEvent.kind).where(InstanceEvent.subscription_id == subscription_id)))


def test_errors_and_timeouts_at_several_steps_converge_to_active(app, kube, consumer, paid):
    kube.fail_next(2, status=500, path_contains="/persistentvolumeclaims/")
    kube.fail_next(1, status="timeout", path_contains="/deployments/")
    kube.fail_next(1, status=409, path_contains="/ingresses/")
    sid = paid("ghost")
    subscription = wait_for_state(sid, {"active", "provisioning_failed"})
    assert subscription.state == "active", subscription.state_note
    assert event_kinds(sid).count("retry") == 4  # two 500s, a timeout and a conflict
    deployments = cluster_for(app.config).list_objects("apps/v1", "Deployment", namespace=subscription.namespace)
    assert [d["metadata"]["name"] for d in deployments] == [f"ghost-{sid}-app"]  # nothing duplicated


def test_a_cluster_that_stays_down_ends_in_provisioning_failed(app, kube, consumer, paid, make_user):
    make_user(email="boss@example.com", staff=True)
    kube.fail_next(100, status=500, path_contains="/secrets")
    sid = paid("n8n")
    subscription = wait_for_state(sid, {"provisioning_failed", "active"})
    assert subscription.state == "provisioning_failed"
    assert subscription.state_note.startswith("InternalError:")
    assert event_kinds(sid).count("retry") == 4  # attempts 2 to 5, then it gave up
