"""Backups end to end against the emulated cluster's Velero: the schedule's life with the instance, the database
hooks, "Back up now" and its daily limit, mirroring, one retry of a failed backup, retention, the 36-hour alert,
Velero absent, and restores that succeed (switch-over) or fail (the instance as it was)."""
import json
import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from portal.backups import services
from portal.backups.models import Backup, Restore
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.provisioning.cluster import cluster_for
from portal.provisioning.velero import schema_problems
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import InstanceEvent, InstanceStatus, Subscription
from tests.helpers import csrf_token_from, logged_in_client

VELERO = "velero"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def gateway(app):
    return cluster_for(app.config)


def velero_objects(app, kind: str, selector: str | None = None) -> list[dict]:
    return gateway(app).list_objects("velero.io/v1", kind, namespace=VELERO, selector=selector)


def as_written(item: dict, kind: str) -> dict:
    """A listed Velero object as the portal wrote it: list items carry no kind, and status is Velero's."""
    return {**{k: v for k, v in item.items() if k != "status"}, "apiVersion": "velero.io/v1", "kind": kind}


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def owner_client(app, subscription):
    return logged_in_client(app, subscription.user)


def post_from(client, page: str, path: str, **fields):
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **fields})


def back_up_now(app, client, subscription):
    page = f"/instances/{subscription.id}/backups"
    return post_from(client, page, page)


def completed_backup(app, subscription, kube_clock) -> Backup:
    """A backup taken now through the customer's button, completed in Velero and mirrored."""
    response = back_up_now(app, owner_client(app, subscription), subscription)
    assert response.status_code == 303
    kube_clock.advance(6)
    services.backups_sync()
    backup = db.session.scalars(select(Backup).where(Backup.subscription_id == subscription.id)
                                .order_by(Backup.id.desc())).first()
    assert backup.phase == "Completed", backup.failure_reason
    return backup


def test_a_schedule_is_made_with_the_instance_paused_while_suspended_and_removed_at_termination(app, running):
    subscription = running("wordpress", "pro")
    [schedule] = velero_objects(app, "Schedule", f"portal/subscription={subscription.id}")
    assert schema_problems(as_written(schedule, "Schedule")) == []
    spec = schedule["spec"]
    assert spec["schedule"] == f"{subscription.id % 60} 19 * * *"  # daily, spread by subscription
    assert spec["paused"] is False
    assert spec["template"]["ttl"] == "336h0m0s"  # the pro plan keeps 14 days
    assert spec["template"]["includedNamespaces"] == [subscription.namespace]
    assert spec["template"]["labelSelector"] == {"matchLabels": {"portal/subscription": str(subscription.id)}}
    assert spec["template"]["defaultVolumesToFsBackup"] is True
    # MySQL is dumped consistently before Velero copies its volume.
    database = gateway(app).get("apps/v1", "StatefulSet", subscription.namespace, f"wordpress-{subscription.id}-db")
    hooks = database["spec"]["template"]["metadata"]["annotations"]
    assert hooks["pre.hook.backup.velero.io/container"] == "db"
    command = json.loads(hooks["pre.hook.backup.velero.io/command"])
    assert command[:2] == ["/bin/sh", "-c"] and "mysqldump --single-transaction" in command[2]
    assert hooks["pre.hook.backup.velero.io/on-error"] == "Fail"

    subscriptions.subscription_suspend(subscription_id=subscription.id, reason="staff")
    [schedule] = velero_objects(app, "Schedule", f"portal/subscription={subscription.id}")
    assert schedule["spec"]["paused"] is True
    subscriptions.subscription_terminate(subscription_id=subscription.id)
    assert velero_objects(app, "Schedule", f"portal/subscription={subscription.id}") == []


def test_n8n_dumps_its_postgresql_and_the_schedule_follows_the_plan(app, running):
    subscription = running("n8n", "starter")
    [schedule] = velero_objects(app, "Schedule", f"portal/subscription={subscription.id}")
    assert schedule["spec"]["template"]["ttl"] == "168h0m0s"
    database = gateway(app).get("apps/v1", "StatefulSet", subscription.namespace, f"n8n-{subscription.id}-db")
    command = json.loads(database["spec"]["template"]["metadata"]["annotations"]["pre.hook.backup.velero.io/command"])
    assert "pg_dump" in command[2] and "-U n8n -d n8n" in command[2]


def test_scheduled_backups_are_mirrored_with_size_and_kept_until(app, running, kube_clock, travel):
    subscription = running("wordpress", "starter")
    kube_clock.advance(26 * 3600)  # the cron time passed at least once
    outcome = services.backups_sync()
    assert outcome["new"] >= 1
    backups = list(db.session.scalars(select(Backup).where(Backup.subscription_id == subscription.id)))
    assert backups and {b.origin for b in backups} == {"scheduled"}
    backup = backups[0]
    assert backup.phase == "Completed" and backup.size_bytes > 0
    assert round((backup.expires_at - backup.completed_at).total_seconds() / 86400) == 7
    page = owner_client(app, subscription).get(f"/instances/{subscription.id}/backups").get_data(as_text=True)
    assert page.count('data-testid="backup-row"') == len(backups) and "Completed" in page
    assert re.search(r"<td>\d+\.\d (MiB|GiB)</td>", page)  # the volumes' bytes, as Velero's node agent counted them


@pytest.mark.smoke
def test_back_up_now_is_limited_per_day(app, running, kube_clock, travel):
    app.config["BACKUP_MANUAL_PER_DAY"] = 2
    subscription = running("ghost", "starter")
    client = owner_client(app, subscription)
    for _ in range(2):
        assert back_up_now(app, client, subscription).status_code == 303
        travel.by(minutes=1)
    made = velero_objects(app, "Backup", f"portal/subscription={subscription.id}")
    assert len(made) == 2 and all(schema_problems(as_written(b, "Backup")) == [] for b in made)
    response = back_up_now(app, client, subscription)
    page = client.get(f"/instances/{subscription.id}/backups").get_data(as_text=True)
    assert "2 times a day" in page and "Back up now" not in page
    assert len(velero_objects(app, "Backup", f"portal/subscription={subscription.id}")) == 2
    assert response.status_code == 303
    travel.by(hours=24)
    assert "Back up now" in client.get(f"/instances/{subscription.id}/backups").get_data(as_text=True)


def test_a_failed_backup_is_retried_once_then_staff_are_alerted(app, running, kube, kube_clock, smtp_server,
                                                                make_user):
    make_user(email="ops@example.com", staff=True)
    subscription = running("wordpress", "starter")
    kube.backup_fails(2, reason="pre-backup hook failed: mysqldump: Got error 2002")
    back_up_now(app, owner_client(app, subscription), subscription)
    kube_clock.advance(6)
    services.backups_sync()
    backups = list(db.session.scalars(select(Backup).where(Backup.subscription_id == subscription.id)
                                      .order_by(Backup.id)))
    assert [(b.origin, b.phase, b.retried) for b in backups] == [("manual", "Failed", True), ("retry", "New", False)]
    assert "mysqldump" in backups[0].failure_reason
    kube_clock.advance(6)
    services.backups_sync()
    services.backups_sync()  # nothing more: a retry is not retried
    backups = list(db.session.scalars(select(Backup).where(Backup.subscription_id == subscription.id)
                                      .order_by(Backup.id)))
    assert [(b.origin, b.phase) for b in backups] == [("manual", "Failed"), ("retry", "Failed")]
    alerts = [m for m in smtp_server.messages if "Backup failed twice" in m["Subject"]]
    assert len(alerts) == 1 and alerts[0]["To"] == "ops@example.com"
    staff = logged_in_client(app, make_user(email="boss@example.com", staff=True))
    health = staff.get("/admin/backups").get_data(as_text=True)
    assert subscription.subdomain in health and "mysqldump" in health


def test_no_successful_backup_in_36_hours_alerts_staff_once_a_day(app, running, travel, smtp_server, make_user,
                                                                  kube):
    make_user(email="ops@example.com", staff=True)
    kube.velero_installed(False)  # nothing is backed up
    subscription = running("ghost", "starter")
    travel.by(hours=35)
    assert services.backups_health_check() == {"stale": 0}
    travel.by(hours=2)
    assert services.backups_health_check() == {"stale": 1}
    assert services.backups_health_check() == {"stale": 1}
    alerts = [m for m in smtp_server.messages if "No successful backup in 36 hours" in m["Subject"]]
    assert len(alerts) == 1 and f"#{subscription.id}" in alerts[0]["Subject"]
    staff = logged_in_client(app, make_user(email="boss@example.com", staff=True))
    page = staff.get("/admin/backups").get_data(as_text=True)
    assert 'data-testid="stale-count" class="text-danger">1<' in page and "never" in page


def test_without_velero_the_instance_runs_and_backups_fail_with_a_clear_reason(app, running, kube, smtp_server,
                                                                               make_user):
    make_user(email="ops@example.com", staff=True)
    kube.velero_installed(False)
    subscription = running("wordpress", "starter")  # provisioning does not depend on Velero
    events = list(db.session.scalars(select(InstanceEvent.message).where(
        InstanceEvent.subscription_id == subscription.id, InstanceEvent.kind == "backups.unavailable")))
    assert events and "backup service is not available" in events[0]
    back_up_now(app, owner_client(app, subscription), subscription)
    backup = db.session.scalar(select(Backup).where(Backup.subscription_id == subscription.id))
    assert backup.phase == "Failed" and "Velero) is not installed" in backup.failure_reason
    assert services.backups_sync() == {"velero": "absent"}
    alerts = [m for m in smtp_server.messages if "Velero is not installed" in m["Subject"]]
    assert len(alerts) == 1  # once an hour, however often it is noticed
    assert "docs/operations.md" in alerts[0].get_body(preferencelist=("plain",)).get_content()
    page = owner_client(app, subscription).get(f"/instances/{subscription.id}/backups").get_data(as_text=True)
    assert "is not installed in the cluster" in page


def test_suspended_keeps_its_backups_and_termination_keeps_the_last_one_14_days(app, running, kube_clock, travel):
    subscription = running("ghost", "starter")
    first = completed_backup(app, subscription, kube_clock)
    travel.by(minutes=5)
    last = completed_backup(app, subscription, kube_clock)
    assert first.expires_at is not None
    subscriptions.subscription_suspend(subscription_id=subscription.id, reason="non_payment")
    services.backups_sync()
    assert fresh(Backup, first.id).expires_at is None and fresh(Backup, last.id).expires_at is None
    kube_clock.advance(30 * 86400)  # past the plan's 7 days: Velero keeps them (no expiration)
    travel.by(days=30)
    services.backups_sync()
    assert {b["metadata"]["name"] for b in velero_objects(app, "Backup")} == {first.name, last.name}
    subscriptions.subscription_terminate(subscription_id=subscription.id)
    terminated_at = fresh(Subscription, subscription.id).state_changed_at
    services.backups_sync()
    assert [b["metadata"]["name"] for b in velero_objects(app, "Backup")] == [last.name]
    requests = velero_objects(app, "DeleteBackupRequest")
    assert [r["spec"]["backupName"] for r in requests] == [first.name]
    assert schema_problems(as_written(requests[0], "DeleteBackupRequest")) == []
    kept = fresh(Backup, last.id)
    assert abs((kept.expires_at - terminated_at).total_seconds() - 14 * 86400) < 2
    assert fresh(Backup, first.id).deleted_at is not None
    # Velero deletes it once the 14 days are over; the portal notices.
    kube_clock.advance(15 * 86400)
    travel.by(days=15)
    services.backups_sync()
    assert velero_objects(app, "Backup") == [] and fresh(Backup, last.id).deleted_at is not None


def restore_through_the_page(app, subscription, backup, confirmation):
    client = owner_client(app, subscription)
    page = f"/instances/{subscription.id}/backups"
    return client, post_from(client, page, f"{page}/{backup.id}/restore", confirm=confirmation)


def advance_restore(restore_id, kube_clock, rounds: int = 10) -> str:
    outcome = "waiting"
    for _ in range(rounds):
        outcome = services.restore_advance(restore_id=restore_id)
        if outcome != "waiting":
            return outcome
        kube_clock.advance(3)
    return outcome


def failed_restore(app, subscription, kube, kube_clock) -> tuple:
    """A restore asked for through the owner's page that Velero fails half-way: the owner's client and the
    restore, failed."""
    backup = completed_backup(app, subscription, kube_clock)
    kube.restore_fails(1)
    client, _ = restore_through_the_page(app, subscription, backup, subscription.subdomain)
    restore = db.session.scalar(select(Restore))
    assert advance_restore(restore.id, kube_clock) == "failed"
    return client, fresh(Restore, restore.id)


@pytest.mark.smoke
def test_restore_brings_back_the_backup_in_a_fresh_namespace_then_switches_over(app, running, kube, kube_clock,
                                                                                 travel, smtp_server):
    subscription = running("wordpress", "starter", settings={"debug": False})
    old_namespace = subscription.namespace
    backup = completed_backup(app, subscription, kube_clock)
    subscriptions.subscription_settings_update(subscription_id=subscription.id,
                                               settings={"table_prefix": "wp_", "debug": True})
    assert fresh(Subscription, subscription.id).settings["debug"] is True
    client, response = restore_through_the_page(app, subscription, backup, "wrong-name")
    assert response.status_code == 303 and db.session.scalar(select(Restore.id)) is None
    assert f"Type {subscription.subdomain} to confirm" in client.get(
        f"/instances/{subscription.id}/backups").get_data(as_text=True)
    client, response = restore_through_the_page(app, subscription, backup, subscription.subdomain)
    restore = db.session.scalar(select(Restore))
    assert restore.state == "restoring"  # the follow-up ran: fresh namespace prepared, Velero asked
    [velero_restore] = velero_objects(app, "Restore")
    assert schema_problems(as_written(velero_restore, "Restore")) == []
    written = [{"apiVersion": "velero.io/v1", "kind": kind,
                "metadata": {k: item["metadata"][k] for k in ("name", "namespace", "labels")}, "spec": item["spec"]}
               for kind, item in (
        ("Schedule", velero_objects(app, "Schedule", f"portal/subscription={subscription.id}")[0]),
        ("Backup", velero_objects(app, "Backup", f"portal/subscription={subscription.id}")[0]),
        ("Restore", velero_restore))]
    ARTIFACTS.mkdir(exist_ok=True)  # what the portal wrote for one instance, for the operations guide and review
    (ARTIFACTS / "velero-objects.yaml").write_text(yaml.safe_dump_all(written, sort_keys=False))
    assert velero_restore["spec"]["namespaceMapping"] == {old_namespace: restore.target_namespace}
    assert fresh(Subscription, subscription.id).namespace == old_namespace  # nothing switched yet
    assert gateway(app).get("networking.k8s.io/v1", "Ingress", old_namespace, f"wordpress-{subscription.id}")
    # While the copy starts (here: crash-looping at first), the live instance is what its status shows.
    kube.crash_loop(restore.target_namespace, "")
    kube_clock.advance(30)
    assert gateway(app).list_objects("v1", "Pod", namespace=restore.target_namespace)
    instances_sweep()
    status = db.session.get(InstanceStatus, subscription.id)
    assert status.ready and status.phase == "Running" and status.restart_count == 0
    kube.reset_faults()
    assert advance_restore(restore.id, kube_clock) == "done"
    restore = fresh(Restore, restore.id)
    switched = fresh(Subscription, subscription.id)
    assert restore.state == "completed"
    assert switched.namespace == restore.target_namespace != old_namespace
    assert switched.settings["debug"] is False  # the backup's settings came back with its data
    ingress = gateway(app).get("networking.k8s.io/v1", "Ingress", switched.namespace, f"wordpress-{subscription.id}")
    assert ingress["spec"]["rules"][0]["host"].startswith(subscription.subdomain)
    kube_clock.advance(5)
    assert gateway(app).get("v1", "Namespace", None, old_namespace) is None  # the old copy is gone
    [schedule] = velero_objects(app, "Schedule", f"portal/subscription={subscription.id}")
    assert schedule["spec"]["template"]["includedNamespaces"] == [switched.namespace]
    deployment = gateway(app).get("apps/v1", "Deployment", switched.namespace, f"wordpress-{subscription.id}-app")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WORDPRESS_DEBUG"] == ""
    mail = [m for m in smtp_server.messages if "is back as it was" in m["Subject"]]
    assert len(mail) == 1 and mail[0]["To"] == subscription.user.email
    # The next backup is of the instance where it lives now.
    again = completed_backup(app, fresh(Subscription, subscription.id), kube_clock)
    assert again.source_namespace == switched.namespace


@pytest.mark.smoke
def test_a_restore_failing_half_way_leaves_the_instance_as_it_was_and_says_why(app, running, kube, kube_clock,
                                                                                smtp_server):
    subscription = running("ghost", "starter")
    namespace, settings = subscription.namespace, dict(subscription.settings)
    client, restore = failed_restore(app, subscription, kube, kube_clock)
    assert restore.state == "failed" and "half-way" in restore.reason
    after = fresh(Subscription, subscription.id)
    assert after.namespace == namespace and after.settings == settings and after.state == "active"
    assert gateway(app).get("networking.k8s.io/v1", "Ingress", namespace, f"ghost-{subscription.id}")
    kube_clock.advance(5)
    assert gateway(app).get("v1", "Namespace", None, restore.target_namespace) is None  # the half-made copy went
    page = client.get(f"/instances/{subscription.id}/backups").get_data(as_text=True)
    assert 'data-testid="restore-reason"' in page and "half-way" in page
    mail = [m for m in smtp_server.messages if m["Subject"].startswith("Restoring")]
    assert len(mail) == 1 and "half-way" in mail[0].get_body(preferencelist=("plain",)).get_content()


@pytest.mark.parametrize("phase", ["Failed"])
def test_only_a_completed_backup_of_a_running_instance_can_be_restored(app, running, kube, kube_clock, phase):
    subscription = running("ghost", "starter")
    kube.backup_fails(2, phase=phase)
    back_up_now(app, owner_client(app, subscription), subscription)
    kube_clock.advance(6)
    services.backups_sync()
    failed = db.session.scalar(select(Backup).where(Backup.origin == "manual"))
    with pytest.raises(services.BackupRefused, match="Only a completed backup"):
        services.restore_request(subscription_id=subscription.id, backup_id=failed.id,
                                 confirmation=subscription.subdomain, user_id=None)
    assert db.session.scalar(select(Restore.id)) is None
