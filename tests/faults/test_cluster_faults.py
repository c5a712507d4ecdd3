"""Cluster API faults at every provisioning step, with a real consumer doing the retries: a transient fault
(500, 409, timeout, connection refused) converges to active with every object exactly once and nothing
orphaned; a permanent one (422 invalid, 403 quota) ends in provisioning_failed with the API's reason."""
from collections import Counter

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.provisioning import services as provisioning
from portal.provisioning.cluster import INSTANCE_KINDS, cluster_for
from portal.subscriptions.models import InstanceEvent, Subscription
from tests.helpers import wait_until

# Every kind a WordPress instance's setup applies, in order (namespace objects, secret, volume, workloads,
# network, address): a fault is injected into each one's apply.
STEP_PATHS = ["/namespaces/", "/resourcequotas/", "/limitranges/", "/secrets/", "/persistentvolumeclaims/",
              "/deployments/", "/statefulsets/", "/services/", "/networkpolicies/", "/ingresses/"]


@pytest.fixture
def provisioning_config():
    return {"KUBE_TIMEOUT_SECONDS": 1, "PROVISION_RETRY_BASE_SECONDS": 0.01, "PROVISION_MAX_ATTEMPTS": 12,
            "WATCH_INTERVAL_SECONDS": 0.3}


@pytest.fixture
def kube_options():
    return {"ready_delay": 0.3, "node_count": 2, "timeout_sleep": 1.5}


def settled(subscription_id: int) -> Subscription | None:
    db.session.rollback()
    subscription = db.session.get(Subscription, subscription_id)
    return subscription if subscription.state in ("active", "provisioning_failed") else None


def object_counts(app, subscription: Subscription) -> Counter:
    found = Counter()
    for api_version, kind in INSTANCE_KINDS:
        for item in cluster_for(app.config).list_objects(api_version, kind, namespace=subscription.namespace,
                                                         selector=f"portal/subscription={subscription.id}"):
            found[(kind, item["metadata"]["name"])] += 1
    return found


@pytest.mark.parametrize("fault", [500, 409, "timeout"])
def test_a_transient_fault_at_every_step_still_converges(app, kube, consumer, paid, fault):
    for path in STEP_PATHS:
        kube.fail_next(1, status=fault, method="PATCH", path_contains=path)
    sid = paid("wordpress", subdomain=f"faulty-{fault}")
    subscription = wait_until(lambda: settled(sid), timeout=60)
    assert subscription.state == "active", subscription.state_note
    retries = db.session.scalars(select(InstanceEvent.kind).where(InstanceEvent.subscription_id == sid)).all()
    assert retries.count("retry") == len(STEP_PATHS)  # one fault met, and survived, at every step
    counts = object_counts(app, subscription)
    assert {kind for kind, _ in counts} >= {"Deployment", "StatefulSet", "Service", "Ingress", "Secret",
                                            "PersistentVolumeClaim", "NetworkPolicy"}
    assert set(counts.values()) == {1}  # nothing applied twice under another name
    assert provisioning.instances_reconcile()["orphans_deleted"] == 0


def test_connection_refused_while_the_api_server_is_down_converges_when_it_is_back(app, kube, consumer, paid):
    port = int(kube.url.rsplit(":", 1)[1])
    kube.stop()  # nothing listens: every call is refused
    sid = paid("n8n", subdomain="api-down")

    def retried() -> bool:
        db.session.rollback()
        return "retry" in db.session.scalars(select(InstanceEvent.kind).where(InstanceEvent.subscription_id == sid))

    # The server comes back once the portal has met the refused connection and said it will try again
    # (not after a fixed time, which a busy machine may spend before the first attempt).
    wait_until(retried, timeout=30, interval=0.05)
    kube.start(port=port)
    subscription = wait_until(lambda: settled(sid), timeout=60)
    assert subscription.state == "active", subscription.state_note
    assert set(object_counts(app, subscription).values()) == {1}


@pytest.mark.parametrize("fault, reason", [(422, "Invalid"), (403, "Forbidden")])
def test_a_permanent_fault_at_any_step_fails_with_the_reason(app, kube, paid, make_user, fault, reason):
    make_user(email="boss@example.com", staff=True)
    for index, path in enumerate(STEP_PATHS):
        kube.fail_next(1, status=fault, method="PATCH", path_contains=path)
        sid = paid("wordpress", subdomain=f"broken-{fault}-{index}", email=f"c{index}@example.com")
        subscription = db.session.get(Subscription, sid)
        assert subscription.state == "provisioning_failed", (path, subscription.state)
        assert reason in subscription.state_note, (path, subscription.state_note)
