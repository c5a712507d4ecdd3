"""The Velero objects the portal writes, as data: valid against Velero's CRD schemas kept in the repository
(strictly: a misspelt field is an error), and the database hooks each catalog app gets."""
import json

import pytest

from portal.catalog.selectors import service_templates
from portal.provisioning import velero
from portal.provisioning.manifests import ClusterOptions, instance_manifests, instance_names

pytestmark = pytest.mark.smoke
LABELS = {"app.kubernetes.io/managed-by": "portal", "portal/subscription": "7"}


def builders():
    return [
        velero.schedule_manifest(name="ghost-7", velero_namespace="velero", namespace="customer-3", subscription_id=7,
                                 cron="7 19 * * *", retention_days=14, labels=LABELS),
        velero.backup_manifest(name="ghost-7-now-1", velero_namespace="velero", namespace="customer-3",
                               subscription_id=7, retention_days=7, labels=LABELS),
        velero.restore_manifest(name="ghost-7-restore-1", velero_namespace="velero", backup_name="ghost-7-now-1",
                                source_namespace="customer-3", target_namespace="customer-3-r1", subscription_id=7,
                                labels=LABELS),
        velero.delete_backup_request_manifest(name="ghost-7-now-1-delete", velero_namespace="velero",
                                              backup_name="ghost-7-now-1", labels=LABELS),
    ]


@pytest.mark.parametrize("manifest", builders(), ids=lambda m: m["kind"])
def test_every_velero_object_is_valid_against_its_crd_schema(manifest):
    assert velero.schema_problems(manifest) == []


def test_the_schema_check_is_strict_and_says_where():
    schedule = builders()[0]
    schedule["spec"]["template"]["ttll"] = "1h"  # misspelt: a real API server would drop it without a word
    schedule["spec"]["template"]["includedNamespaces"] = "customer-3"
    problems = velero.schema_problems(schedule)
    assert any(p.startswith("spec.template:") and "'ttll' was unexpected" in p for p in problems)
    assert any(p.startswith("spec.template.includedNamespaces:") for p in problems)
    restore = builders()[2]
    restore["spec"]["namespaceMapping"] = ["customer-3", "customer-3-r1"]
    assert any(p.startswith("spec.namespaceMapping:") for p in velero.schema_problems(restore))
    with pytest.raises(velero.VeleroSchemaError, match="Schedule ghost-7"):
        velero.checked(schedule)


def test_retention_is_a_go_duration():
    assert velero.ttl(7) == "168h0m0s" and velero.ttl(30) == "720h0m0s"


@pytest.mark.parametrize("slug,component,tool", [("wordpress", "db", "mysqldump --single-transaction"),
                                                 ("ghost", "db", "mysqldump --single-transaction"),
                                                 ("n8n", "db", "pg_dump")])
def test_each_apps_database_is_dumped_before_its_volume_is_copied(app, slug, component, tool):
    template = service_templates()[slug]
    names = instance_names(namespace_prefix="customer-", user_id=3, service_slug=slug, subscription_id=7,
                           subdomain="kopi", cluster_domain="localtest.me")
    secrets = {s.name: "x" for s in template.secrets}
    plan = template.plans[0]
    manifests = instance_manifests(template=template, plan=plan, settings={}, secrets=secrets, names=names,
                                   subscription_id=7, options=ClusterOptions())
    workloads = {m["metadata"]["name"]: m for m in manifests if m["kind"] in ("Deployment", "StatefulSet")}
    annotations = workloads[f"{slug}-7-{component}"]["spec"]["template"]["metadata"]["annotations"]
    command = json.loads(annotations["pre.hook.backup.velero.io/command"])
    assert command[:2] == ["/bin/sh", "-c"] and tool in command[2] and velero.DUMP_FILE in command[2]
    assert annotations["pre.hook.backup.velero.io/container"] == component
    assert annotations["pre.hook.backup.velero.io/on-error"] == "Fail"
    assert annotations["pre.hook.backup.velero.io/timeout"] == velero.HOOK_TIMEOUT
    app = workloads[f"{slug}-7-app"]["spec"]["template"]["metadata"]
    assert not any(key.startswith("pre.hook.backup.velero.io/") for key in app.get("annotations", {}))  # no database
    [settings] = [m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-settings")]
    assert settings["metadata"]["name"] == f"{slug}-7-settings"


def test_sqlite_gets_its_online_backup():
    class Volume:
        mount_path = "/home/node/.n8n"

    class Component:
        name, image, volumes, env = "app", "n8nio/n8n:1.121.3", [Volume()], []
    command = velero.database_dump_command(Component())
    assert command[2] == "sqlite3 /home/node/.n8n/database.sqlite '.backup /home/node/.n8n/portal-backup.sqlite'"
