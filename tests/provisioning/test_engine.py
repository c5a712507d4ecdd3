"""Provisioning and instance operations against the emulated cluster, through the real kubernetes client."""
import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from portal.extensions import db
from portal.instances.models import ResourceSample
from portal.instances.sweep import instances_sweep
from portal.notifications.models import Email
from portal.provisioning import services as provisioning
from portal.provisioning import tasks as provisioning_tasks
from portal.provisioning.cluster import cluster_for
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import InstanceEvent, InstanceStatus, Subscription


def gateway(app):
    return cluster_for(app.config)


def subscription(subscription_id) -> Subscription:
    db.session.expire_all()
    return db.session.get(Subscription, subscription_id)


def objects_of(app, namespace: str, subscription_id: int) -> dict[str, list[str]]:
    from portal.provisioning.cluster import INSTANCE_KINDS

    found = {}
    for api_version, kind in INSTANCE_KINDS:
        items = gateway(app).list_objects(api_version, kind, namespace=namespace,
                                          selector=f"portal/subscription={subscription_id}")
        if items:
            found[kind] = sorted(i["metadata"]["name"] for i in items)
    return found


def events(subscription_id: int) -> list[str]:
    return list(db.session.scalars(select(InstanceEvent.kind).where(InstanceEvent.subscription_id == subscription_id)
                                   .order_by(InstanceEvent.id)))


def pods_of(app, subscription_id: int) -> list[str]:
    """The instance's pods by uid (a StatefulSet's new pod keeps its name, not its uid)."""
    return sorted(p["metadata"]["uid"] for p in gateway(app).list_pods(f"portal/subscription={subscription_id}"))


@pytest.mark.parametrize("app_slug, kinds", [
    ("n8n", {"Deployment": ["n8n-{id}-app"], "StatefulSet": ["n8n-{id}-db"]}),
    ("ghost", {"Deployment": ["ghost-{id}-app"], "StatefulSet": ["ghost-{id}-db"]}),
    ("wordpress", {"Deployment": ["wordpress-{id}-app"], "StatefulSet": ["wordpress-{id}-db"]}),
])
def test_full_provision_of_each_app_reaches_active(app, kube, kube_clock, paid, app_slug, kinds):
    sid = paid(app_slug)
    sub = subscription(sid)
    assert sub.state == "provisioning" and sub.namespace.startswith("customer-")
    found = objects_of(app, sub.namespace, sid)
    for kind, names in kinds.items():
        assert found[kind] == [n.format(id=sid) for n in names]
    assert found["Ingress"] == [f"{app_slug}-{sid}"] and len(found["PersistentVolumeClaim"]) == 2
    assert events(sid)[:2] == ["created", "paid"]
    assert [e for e in events(sid) if e.startswith("step.")] == [
        "step.namespace", "step.secret", "step.volumes", "step.workloads", "step.network", "step.ingress"]
    namespace = gateway(app).get("v1", "Namespace", None, sub.namespace)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.31"

    result = instances_sweep()
    assert result.activated == [] and subscription(sid).state == "provisioning"
    kube_clock.advance(30)
    result = instances_sweep()
    assert result.activated == [sid]
    assert subscription(sid).state == "active"
    status = db.session.get(InstanceStatus, sid)
    assert status.ready and status.phase == "Running" and status.node_name
    assert {"step.scheduled", "step.started", "ready"} <= set(events(sid))
    ready_email = db.session.scalar(select(Email).where(Email.template == "instance_ready"))
    assert ready_email.recipient == "ana@example.com"
    assert f"https://{sub.subdomain}.localtest.me" in ready_email.context["url"]


def test_applying_twice_changes_nothing_and_keeps_the_secrets(app, kube, kube_clock, paid):
    sid = paid("wordpress")
    sub = subscription(sid)
    before_secret = gateway(app).read_secret(sub.namespace, f"wordpress-{sid}-secrets")
    before = gateway(app).get("apps/v1", "Deployment", sub.namespace, f"wordpress-{sid}-app")
    assert provisioning_tasks.provision_instance(sid) is not None  # the same task, run a second time
    after = gateway(app).get("apps/v1", "Deployment", sub.namespace, f"wordpress-{sid}-app")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert gateway(app).read_secret(sub.namespace, f"wordpress-{sid}-secrets") == before_secret
    assert len(before_secret["auth_key"]) == 64


def test_restart_makes_new_pods(app, kube, kube_clock, paid):
    sid = paid("ghost")
    kube_clock.advance(30)
    instances_sweep()
    old = pods_of(app, sid)
    provisioning.instance_restart(subscription_id=sid)
    new = pods_of(app, sid)
    assert len(new) == len(old) == 2 and not set(new) & set(old)
    assert "restart" in events(sid)


def test_suspend_then_resume(app, kube, kube_clock, paid):
    sid = paid("n8n")
    kube_clock.advance(30)
    instances_sweep()
    namespace = subscription(sid).namespace
    subscriptions.subscription_suspend(subscription_id=sid, reason="non_payment")
    assert pods_of(app, sid) == []
    assert "Ingress" not in objects_of(app, namespace, sid)
    assert "PersistentVolumeClaim" in objects_of(app, namespace, sid)  # data kept
    subscriptions.subscription_resume(subscription_id=sid)
    assert subscription(sid).state == "provisioning" and subscription(sid).suspension_reason is None
    assert "Ingress" in objects_of(app, namespace, sid)
    kube_clock.advance(30)
    assert instances_sweep().activated == [sid]


def test_terminate_leaves_nothing_and_the_namespace_goes_with_the_last_instance(app, kube, kube_clock, paid):
    first, second = paid("n8n"), paid("ghost")
    namespace = subscription(first).namespace
    assert subscription(second).namespace == namespace
    subscriptions.subscription_terminate(subscription_id=first)
    assert objects_of(app, namespace, first) == {}
    assert pods_of(app, first) == []
    assert objects_of(app, namespace, second)  # the other instance is untouched
    quota = gateway(app).get("v1", "ResourceQuota", namespace, "portal-quota")
    assert quota["spec"]["hard"]["limits.cpu"] == "500m"  # shrunk to the remaining plan
    subscriptions.subscription_terminate(subscription_id=second)
    gone = gateway(app).get("v1", "Namespace", None, namespace)
    assert gone is None or gone["metadata"].get("deletionTimestamp")  # deleted, or Terminating
    assert objects_of(app, namespace, second) == {}


def test_crash_loop_is_flagged_by_the_sweep(app, kube, kube_clock, paid):
    sid = paid("n8n")
    kube_clock.advance(30)
    instances_sweep()
    kube.crash_loop(subscription(sid).namespace, f"n8n-{sid}-app")
    kube_clock.advance(60)
    instances_sweep()
    status = db.session.get(InstanceStatus, sid)
    assert not status.ready
    assert status.last_error == "The app keeps crashing and restarting."
    assert status.components["app"]["problem"] == status.last_error
    assert {"health.problem", "health.degraded"} <= set(events(sid))


def test_the_sweep_lists_pods_once_however_many_instances(app, kube, kube_clock, paid):
    for i in range(4):
        paid("ghost", email=f"user{i}@example.com")
    kube_clock.advance(30)
    kube.requests.clear()
    result = instances_sweep()
    assert result.instances == 4 and len(result.activated) == 4
    pod_lists = [r for r in kube.requests if r[0] == "GET" and r[1].startswith("/api/v1/") and r[1].endswith("/pods")]
    assert [(r[0], r[1]) for r in pod_lists] == [("GET", "/api/v1/pods")]
    assert db.session.scalar(select(func.count(ResourceSample.id))) == 4  # usage from the metrics API


def test_an_unchanged_sweep_writes_nothing(app, kube, kube_clock, paid):
    paid("ghost")
    kube_clock.advance(30)
    instances_sweep()
    assert instances_sweep().changed == 0


def test_a_rejected_manifest_fails_provisioning_with_the_reason(app, kube, paid, make_user):
    make_user(email="boss@example.com", staff=True)
    kube.fail_next(1, status=422, path_contains="/deployments/")
    sid = paid("n8n")
    sub = subscription(sid)
    assert sub.state == "provisioning_failed"
    assert "Invalid" in sub.state_note
    assert "failed" in events(sid)
    alert = db.session.scalar(select(Email).where(Email.template == "staff_alert"))
    assert alert.recipient == "boss@example.com" and f"#{sid}" in alert.context["title"]


def test_node_not_ready_alerts_staff_once(app, kube, make_user):
    make_user(email="boss@example.com", staff=True)
    assert provisioning.nodes_sync() == []
    node = gateway(app).list_nodes()[0]["metadata"]["name"]
    kube.set_node_ready(node, False)
    assert provisioning.nodes_sync() == [f"{node} is NotReady"]
    assert provisioning.nodes_sync() == []
    alerts = list(db.session.scalars(select(Email.context).where(Email.template == "staff_alert")))
    assert [a["title"] for a in alerts] == [f"Node {node} is NotReady"]
    kube.set_node_ready(node, True)
    assert provisioning.nodes_sync() == [f"{node} is Ready again"]


def test_cluster_check_command_and_health_page(app, kube, client, make_user, login):
    result = app.test_cli_runner().invoke(args=["cluster-check"])
    assert result.exit_code == 0, result.output
    assert "emulator" in result.output and "ok  list pods" in result.output
    login(make_user(email="boss@example.com", staff=True))
    page = client.get("/admin/cluster").get_data(as_text=True)
    assert "Healthy" in page and "Emulated cluster" in page


def test_cluster_check_reports_an_unreachable_cluster(app, kube):
    from tests.helpers import refused_port

    with refused_port() as port:
        app.config["KUBE_EMULATOR_URL"] = f"http://127.0.0.1:{port}"
        result = app.test_cli_runner().invoke(args=["cluster-check"])
    assert result.exit_code != 0 and "Cannot use the cluster" in result.output


def test_changed_settings_are_applied_to_the_running_instance(app, kube, kube_clock, paid):
    from portal.catalog.parameters import SettingsInvalid

    sid = paid("n8n")
    kube_clock.advance(30)
    instances_sweep()
    old_pods = pods_of(app, sid)
    with pytest.raises(SettingsInvalid):
        subscriptions.subscription_settings_update(subscription_id=sid, settings={"timezone": "Nowhere/Land"})
    assert subscription(sid).settings["timezone"] == "Asia/Jakarta"
    subscriptions.subscription_settings_update(subscription_id=sid, settings={"timezone": "Asia/Jayapura"})
    deployment = gateway(app).get("apps/v1", "Deployment", subscription(sid).namespace, f"n8n-{sid}-app")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GENERIC_TIMEZONE"] == "Asia/Jayapura"
    assert pods_of(app, sid) != old_pods  # the app's pod template changed: a new pod
    assert subscription(sid).state == "active"  # rolled out on the running instance, not set up again
    kube_clock.advance(30)
    assert instances_sweep().rolling_out == 0 and "rollout.done" in events(sid)


def test_logs_through_the_gateway(app, kube, kube_clock, paid):
    sid = paid("ghost")
    kube_clock.advance(60)
    namespace = subscription(sid).namespace
    pod = next(p for p in gateway(app).list_pods(f"portal/subscription={sid}")
               if p["metadata"]["labels"]["app.kubernetes.io/component"] == "app")
    name = pod["metadata"]["name"]
    full = gateway(app).read_log(namespace, name, container="app")
    tail = gateway(app).read_log(namespace, name, container="app", tail_lines=3, timestamps=True)
    assert len(full.splitlines()) > 3 and len(tail.splitlines()) == 3
    assert tail.splitlines()[-1].endswith(full.splitlines()[-1])
    assert tail[:4].isdigit()  # an RFC 3339 timestamp leads each line
    from portal.provisioning.cluster import ManifestRejected

    with pytest.raises(ManifestRejected):  # no previous container: the API says so with a 400
        gateway(app).read_log(namespace, name, container="app", previous=True)


def test_cordon_and_uncordon(app, kube):
    node = gateway(app).list_nodes()[0]["metadata"]["name"]
    gateway(app).cordon(node, True)
    assert gateway(app).get("v1", "Node", None, node)["spec"]["unschedulable"] is True
    provisioning.nodes_sync()
    from portal.provisioning.models import Node

    assert db.session.scalar(select(Node).where(Node.name == node)).unschedulable
    gateway(app).cordon(node, False)
    assert not gateway(app).get("v1", "Node", None, node)["spec"].get("unschedulable")


def test_quota_exceeded_fails_provisioning_with_the_reason(app, kube, paid):
    kube.fail_next(1, status=403, path_contains="/statefulsets/")
    sid = paid("ghost")
    sub = subscription(sid)
    assert sub.state == "provisioning_failed" and "exceeded quota" in sub.state_note


def test_work_on_one_instance_is_serialized(app, kube, paid):
    from portal.tasks import huey

    sid = paid("n8n")
    with huey.lock_task(f"instance-{sid}"):  # another worker is busy with this instance
        assert provisioning_tasks.restart_instance.call_local(sid) == "locked"
    assert "restart" not in events(sid)
    assert provisioning_tasks.restart_instance.call_local(sid) == "done"
    assert "restart" in events(sid)


def test_reconciliation_restores_a_deleted_deployment_and_removes_an_orphan(app, kube, kube_clock, paid):
    from portal.audit.models import AuditEntry
    from portal.provisioning.tasks import instances_reconcile

    keep, orphan = paid("ghost"), paid("n8n", email="gone@example.com")
    kube_clock.advance(30)
    instances_sweep()
    namespace = subscription(keep).namespace
    gateway(app).delete("apps/v1", "Deployment", namespace, f"ghost-{keep}-app")  # someone deleted it by hand
    gone = subscription(orphan)
    gone.state = "terminated"  # the database says terminated, but its objects stayed behind
    db.session.commit()
    result = instances_reconcile.call_local()
    assert result == {"reapplied": 1, "orphans_deleted": 1, "resumed": 0, "resuspended": 0, "unknown_kept": 0,
                      "schedules_applied": 0}
    assert gateway(app).get("apps/v1", "Deployment", namespace, f"ghost-{keep}-app") is not None
    assert objects_of(app, gone.namespace, orphan) == {}
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"cluster.reconciled", "cluster.orphan_deleted"} <= actions
    settled = instances_reconcile.call_local()
    assert (settled["reapplied"], settled["orphans_deleted"]) == (0, 0)  # settled


def test_reconciliation_leaves_instances_the_database_does_not_know_and_tells_staff(app, kube, kube_clock, paid,
                                                                                    make_user):
    """After restoring an older backup, instances bought since are unknown to the database: never deleted."""
    from portal.notifications.models import Email
    from portal.provisioning.tasks import instances_reconcile

    make_user(email="boss@example.com", staff=True)
    sid = paid("n8n", email="newer@example.com")
    namespace = subscription(sid).namespace
    with db.engine.begin() as connection:  # the restored database predates this subscription
        connection.execute(sa.text("DELETE FROM instance_events WHERE subscription_id = :id"), {"id": sid})
        connection.execute(sa.text("DELETE FROM instance_statuses WHERE subscription_id = :id"), {"id": sid})
        connection.execute(sa.text("DELETE FROM subscriptions WHERE id = :id"), {"id": sid})
    result = instances_reconcile.call_local()
    assert (result["orphans_deleted"], result["unknown_kept"]) == (0, 1)
    assert objects_of(app, namespace, sid) != {}  # still there
    alert = db.session.scalar(select(Email).where(Email.template == "staff_alert"))
    assert f"{namespace}/{sid}" in alert.context["message"]
