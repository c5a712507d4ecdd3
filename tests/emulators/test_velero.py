"""The emulated Velero, through the official client's CustomObjectsApi: phases, schedules on the cluster clock, the
snapshot a restore puts back into a mapped namespace, faults, and the API group missing when Velero is absent."""
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from portal.provisioning import velero

VELERO_NS = "velero"


@pytest.fixture
def custom(api_client):
    return client.CustomObjectsApi(api_client)


def _phase(custom, plural: str, name: str) -> dict:
    return custom.get_namespaced_custom_object("velero.io", "v1", VELERO_NS, plural, name)


@pytest.fixture
def instance(core, apps, namespace):
    """One instance's objects, labelled as the portal labels them, with its settings in a ConfigMap."""
    labels = {"app.kubernetes.io/managed-by": "portal", "portal/subscription": "5",
              "app.kubernetes.io/instance": "wordpress-5"}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "wordpress-5-settings", "labels": labels},
                                                  "data": {"settings": '{"debug": false}'}})
    core.create_namespaced_secret(namespace, {"metadata": {"name": "wordpress-5-secrets", "labels": labels},
                                              "stringData": {"db_password": "s3cret"}})
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "wordpress-5-db-data", "labels": labels},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    pod_labels = {**labels, "app.kubernetes.io/component": "app"}
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "wordpress-5-app", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/component": "app",
                                                             "app.kubernetes.io/instance": "wordpress-5"}},
                 "template": {"metadata": {"labels": pod_labels},
                              "spec": {"containers": [{"name": "app", "image": "wordpress:6.8.3"}]}}}})
    # Another customer's instance in the same namespace: never part of this instance's backup.
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "other", "labels": {"portal/subscription": "9"}},
                                                  "data": {"x": "y"}})
    return namespace


def _backup(name: str, namespace: str) -> dict:
    return velero.backup_manifest(name=name, velero_namespace=VELERO_NS, namespace=namespace, subscription_id=5,
                                  retention_days=7, labels={"portal/subscription": "5"})


def test_backup_goes_through_its_phases_and_records_what_it_copied(custom, instance, clock, cluster):
    custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups", _backup("b1", instance))
    assert _phase(custom, "backups", "b1")["status"]["phase"] == "New"
    clock.advance(1.5)
    status = _phase(custom, "backups", "b1")["status"]
    assert status["phase"] == "InProgress" and status["startTimestamp"]
    clock.advance(4)
    status = _phase(custom, "backups", "b1")["status"]
    assert status["phase"] == "Completed"
    assert status["progress"] == {"totalItems": 4, "itemsBackedUp": 4}  # the other instance's ConfigMap left out
    assert status["completionTimestamp"] and status["expiration"] > status["completionTimestamp"]
    volumes = custom.list_namespaced_custom_object("velero.io", "v1", VELERO_NS, "podvolumebackups",
                                                   label_selector="velero.io/backup-name=b1")["items"]
    assert len(volumes) == 1 and volumes[0]["status"]["progress"]["bytesDone"] > 0


def test_a_backup_fault_fails_it_with_a_reason(custom, instance, clock, cluster):
    cluster.backup_fails(1, reason="hook failed: mysqldump exited 2")
    custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups", _backup("b1", instance))
    clock.advance(6)
    status = _phase(custom, "backups", "b1")["status"]
    assert status["phase"] == "Failed" and status["failureReason"] == "hook failed: mysqldump exited 2"
    custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups", _backup("b2", instance))
    clock.advance(6)
    assert _phase(custom, "backups", "b2")["status"]["phase"] == "Completed"  # the fault was for one backup


def test_a_schedule_makes_labelled_backups_at_its_cron_times(custom, instance, clock, cluster):
    schedule = velero.schedule_manifest(name="wordpress-5", velero_namespace=VELERO_NS, namespace=instance,
                                        subscription_id=5, cron="*/10 * * * *", retention_days=7,
                                        labels={"portal/subscription": "5"})
    custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "schedules", schedule)
    assert custom.list_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups")["items"] == []
    clock.advance(25 * 60)
    made = custom.list_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups",
                                                label_selector="velero.io/schedule-name=wordpress-5")["items"]
    assert len(made) in (2, 3)  # every ten minutes of the 25 that passed
    clock.advance(6)  # a cron time may have fallen in the last seconds (cron follows wall time): let it finish
    phases = {b["metadata"]["name"]: b["status"]["phase"] for b in custom.list_namespaced_custom_object(
        "velero.io", "v1", VELERO_NS, "backups")["items"]}
    assert [phases[b["metadata"]["name"]] for b in made] == ["Completed"] * len(made)
    assert all(b["spec"]["ttl"] == "168h0m0s" for b in made)
    assert _phase(custom, "schedules", "wordpress-5")["status"]["lastBackup"]


def test_restore_puts_the_objects_as_they_were_at_backup_time_into_the_mapped_namespace(custom, core, apps, instance,
                                                                                         clock, gateway):
    custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups", _backup("b1", instance))
    clock.advance(6)
    gateway.merge_patch("v1", "ConfigMap", instance, "wordpress-5-settings", {"data": {"settings": '{"debug": true}'}})
    restore = velero.restore_manifest(name="r1", velero_namespace=VELERO_NS, backup_name="b1",
                                      source_namespace=instance, target_namespace="customer-7-r1", subscription_id=5,
                                      labels={"portal/subscription": "5"})
    custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "restores", restore)
    clock.advance(1.5)
    assert _phase(custom, "restores", "r1")["status"]["phase"] == "InProgress"
    clock.advance(4)
    status = _phase(custom, "restores", "r1")["status"]
    assert status["phase"] == "Completed" and status["progress"]["itemsRestored"] == 4
    restored = core.read_namespaced_config_map("wordpress-5-settings", "customer-7-r1")
    assert restored.data == {"settings": '{"debug": false}'}  # the value at backup time
    assert restored.metadata.labels["velero.io/restore-name"] == "r1"
    assert core.read_namespaced_config_map("wordpress-5-settings", instance).data == {"settings": '{"debug": true}'}
    clock.advance(5)
    deployment = apps.read_namespaced_deployment("wordpress-5-app", "customer-7-r1")
    assert deployment.status.ready_replicas == 1  # its pods came up in the new namespace
    assert core.list_namespaced_config_map("customer-7-r1", label_selector="portal/subscription=9").items == []


def test_a_restore_fault_stops_half_way(custom, core, instance, clock, cluster):
    custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups", _backup("b1", instance))
    clock.advance(6)
    cluster.restore_fails(1)
    restore = velero.restore_manifest(name="r1", velero_namespace=VELERO_NS, backup_name="b1",
                                      source_namespace=instance, target_namespace="customer-7-r1", subscription_id=5,
                                      labels={})
    custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "restores", restore)
    clock.advance(6)
    status = _phase(custom, "restores", "r1")["status"]
    assert status["phase"] == "Failed" and "half-way" in status["failureReason"]
    assert status["progress"] == {"totalItems": 4, "itemsRestored": 2}
    assert core.read_namespace("customer-7-r1")  # the half-made namespace is left for the portal to clear


def test_restore_of_a_missing_backup_fails_validation(custom, instance, clock):
    restore = velero.restore_manifest(name="r1", velero_namespace=VELERO_NS, backup_name="nope",
                                      source_namespace=instance, target_namespace="x-r1", subscription_id=5, labels={})
    custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "restores", restore)
    clock.advance(2)
    status = _phase(custom, "restores", "r1")["status"]
    assert status["phase"] == "FailedValidation" and "not found" in status["validationErrors"][0]


def test_delete_backup_request_and_expiry_remove_backups(custom, instance, clock):
    custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups", _backup("b1", instance))
    custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups", _backup("b2", instance))
    clock.advance(6)
    custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "deletebackuprequests",
                                           velero.delete_backup_request_manifest(
                                               name="b1-delete", velero_namespace=VELERO_NS, backup_name="b1",
                                               labels={}))
    names = [b["metadata"]["name"] for b in
             custom.list_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups")["items"]]
    assert names == ["b2"]
    clock.advance(7 * 86400)
    assert custom.list_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups")["items"] == []


def test_without_velero_the_group_is_not_served(custom, instance, cluster, gateway):
    cluster.velero_installed(False)
    with pytest.raises(ApiException) as raised:
        custom.list_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups")
    assert raised.value.status == 404
    from portal.provisioning.cluster import VeleroAbsent
    with pytest.raises(VeleroAbsent, match="not installed"):
        gateway.velero_check(VELERO_NS)
    cluster.velero_installed(True)
    gateway.velero_check(VELERO_NS)


def test_the_api_refuses_a_velero_object_its_schema_refuses(custom, instance):
    bad = _backup("b1", instance)
    bad["spec"]["includedNamespaces"] = "not-a-list"
    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object("velero.io", "v1", VELERO_NS, "backups", bad)
    assert raised.value.status == 422
