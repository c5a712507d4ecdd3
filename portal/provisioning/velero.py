"""Velero objects for one instance (Schedule, Backup, Restore, DeleteBackupRequest), built as plain data, each
checked against Velero's own CRD schema, and the pre-backup hooks that make a database's copy consistent."""
import functools
import json
import shlex
from pathlib import Path

import jsonschema
import yaml

API_VERSION = "velero.io/v1"
SCHEMAS = Path(__file__).parent / "schemas" / "velero"
SCHEMA_FILES = {"Schedule": "velero.io_schedules.yaml", "Backup": "velero.io_backups.yaml",
                "Restore": "velero.io_restores.yaml", "BackupStorageLocation": "velero.io_backupstoragelocations.yaml"}
# Velero ships no CRD file for DeleteBackupRequest in the folder we copied; its Go type
# (pkg/apis/velero/v1/delete_backup_request_types.go, v1.18.1) is this small.
DELETE_BACKUP_REQUEST_SCHEMA = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {"backupName": {"type": "string"}}, "required": ["backupName"]},
        "status": {"type": "object", "properties": {
            "phase": {"type": "string", "enum": ["New", "InProgress", "Processed"]},
            "errors": {"type": "array", "items": {"type": "string"}}}},
    },
}
# Where the dump lands: on the database's own volume, so the file-system backup carries it with the data.
DUMP_FILE = "portal-backup.sql"
HOOK_TIMEOUT = "300s"
# Velero's label on a Backup a Schedule made, and on everything a restore created.
SCHEDULE_LABEL = "velero.io/schedule-name"
BACKUP_LABEL = "velero.io/backup-name"
RESTORE_LABEL = "velero.io/restore-name"
SUCCEEDED = "Completed"
FAILED_PHASES = ("Failed", "PartiallyFailed", "FailedValidation")
# The Ingress is published by the portal only once the restored copy is healthy (two Ingresses for one host would
# split its traffic). Pods are restored: Velero puts the volumes' data back through them.
RESTORE_EXCLUDED = ["ingresses.networking.k8s.io"]


def _strict(schema):
    """A CRD schema that refuses fields it does not name, as `kubectl --validate=strict` would (an API server
    would silently prune them, and the portal would never know its field was dropped)."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@functools.cache
def schema_for(kind: str) -> dict:
    if kind == "DeleteBackupRequest":
        return _strict(DELETE_BACKUP_REQUEST_SCHEMA)
    crd = yaml.safe_load((SCHEMAS / SCHEMA_FILES[kind]).read_text())
    served = next(v for v in crd["spec"]["versions"] if v["name"] == "v1" and v.get("served"))
    return _strict(served["schema"]["openAPIV3Schema"])


@functools.cache
def _validator(kind: str):
    return jsonschema.Draft7Validator(schema_for(kind))


def schema_problems(manifest: dict) -> list[str]:
    """Every way the object breaks its CRD schema ("spec.template.ttl: 5 is not of type 'string'"); [] when valid."""
    if manifest.get("apiVersion") != API_VERSION:
        return [f"apiVersion must be {API_VERSION}"]
    kind = manifest.get("kind")
    if kind not in SCHEMA_FILES and kind != "DeleteBackupRequest":
        return [f"no Velero schema for kind {kind!r}"]
    return [f"{'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
            for error in sorted(_validator(kind).iter_errors(manifest), key=lambda e: list(e.absolute_path))]


class VeleroSchemaError(ValueError):
    pass


def checked(manifest: dict) -> dict:
    problems = schema_problems(manifest)
    if problems:
        raise VeleroSchemaError(f"{manifest.get('kind')} {manifest.get('metadata', {}).get('name')}: "
                                + "; ".join(problems))
    return manifest


def ttl(days: int) -> str:
    """A Go duration, as Velero writes its default (720h0m0s)."""
    return f"{int(days) * 24}h0m0s"


def _metadata(name: str, velero_namespace: str, labels: dict) -> dict:
    return {"name": name, "namespace": velero_namespace, "labels": dict(labels)}


def _backup_spec(*, namespace: str, subscription_id: int, retention_days: int) -> dict:
    return {"includedNamespaces": [namespace],
            # The namespace may hold the customer's other instances: this instance's objects only.
            "labelSelector": {"matchLabels": {"portal/subscription": str(subscription_id)}},
            "ttl": ttl(retention_days),
            "defaultVolumesToFsBackup": True,
            "snapshotVolumes": False}


def schedule_manifest(*, name: str, velero_namespace: str, namespace: str, subscription_id: int, cron: str,
                      retention_days: int, labels: dict, paused: bool = False) -> dict:
    """The instance's backup schedule: Velero makes a Backup from `template` at each cron time."""
    return checked({
        "apiVersion": API_VERSION, "kind": "Schedule",
        "metadata": _metadata(name, velero_namespace, labels),
        "spec": {"schedule": cron, "paused": paused, "useOwnerReferencesInBackup": False,
                 "template": {"metadata": {"labels": dict(labels)},  # the Backups it makes carry them
                              **_backup_spec(namespace=namespace, subscription_id=subscription_id,
                                             retention_days=retention_days)}}})


def backup_manifest(*, name: str, velero_namespace: str, namespace: str, subscription_id: int, retention_days: int,
                    labels: dict) -> dict:
    """A backup taken now (the customer's "Back up now", or a failed one tried again)."""
    return checked({
        "apiVersion": API_VERSION, "kind": "Backup",
        "metadata": _metadata(name, velero_namespace, labels),
        "spec": _backup_spec(namespace=namespace, subscription_id=subscription_id, retention_days=retention_days)})


def restore_manifest(*, name: str, velero_namespace: str, backup_name: str, source_namespace: str,
                     target_namespace: str, subscription_id: int, labels: dict) -> dict:
    """Bring a backup's objects and volumes back into a fresh namespace; the live instance is not touched."""
    return checked({
        "apiVersion": API_VERSION, "kind": "Restore",
        "metadata": _metadata(name, velero_namespace, labels),
        "spec": {"backupName": backup_name,
                 "includedNamespaces": [source_namespace],
                 "namespaceMapping": {source_namespace: target_namespace},
                 "labelSelector": {"matchLabels": {"portal/subscription": str(subscription_id)}},
                 "excludedResources": list(RESTORE_EXCLUDED),
                 "existingResourcePolicy": "none",
                 "restorePVs": True}})


def delete_backup_request_manifest(*, name: str, velero_namespace: str, backup_name: str, labels: dict) -> dict:
    """What `velero backup delete` creates: Velero removes the backup's data from the object store, then the
    Backup object (deleting only the object would leave the data behind and the backup would come back)."""
    return checked({
        "apiVersion": API_VERSION, "kind": "DeleteBackupRequest",
        "metadata": {**_metadata(name, velero_namespace, {**labels, BACKUP_LABEL: backup_name})},
        "spec": {"backupName": backup_name}})


def _image_repository(image: str) -> str:
    reference = image.split("@", 1)[0]
    last = reference.rsplit("/", 1)[-1]
    repository = reference[: len(reference) - len(last)] + last.split(":", 1)[0]
    return repository.removeprefix("docker.io/").removeprefix("library/")


def _env(component) -> dict[str, str]:
    return {item.name: item.value for item in component.env if item.secret is None}


def database_dump_command(component) -> list[str] | None:
    """The command that writes a consistent copy of the component's database next to its data, or None when the
    component holds no database. MySQL: mysqldump in one transaction; PostgreSQL: pg_dump; SQLite: the database's
    own online backup (`.backup`). Velero runs it without a shell, so the shell is named."""
    repository = _image_repository(component.image)
    volumes = list(component.volumes)
    if not volumes:
        return None
    data = volumes[0].mount_path.rstrip("/")
    env = _env(component)
    if repository in ("mysql", "mariadb"):
        script = ('exec mysqldump --single-transaction --routines --events --all-databases -uroot '
                  f'-p"$MYSQL_ROOT_PASSWORD" --result-file={shlex.quote(f"{data}/{DUMP_FILE}")}')
    elif repository in ("postgres", "postgis/postgis"):
        user = env.get("POSTGRES_USER", "postgres")
        database = env.get("POSTGRES_DB", user)
        script = (f"exec pg_dump --clean --if-exists -U {shlex.quote(user)} -d {shlex.quote(database)} "
                  f"-f {shlex.quote(f'{data}/{DUMP_FILE}')}")
    elif repository in ("n8nio/n8n", "docker.n8n.io/n8nio/n8n") and env.get("DB_TYPE", "sqlite") == "sqlite":
        source = f"{data}/database.sqlite"
        script = (f"sqlite3 {shlex.quote(source)} {shlex.quote('.backup ' + data + '/portal-backup.sqlite')}")
    else:
        return None
    return ["/bin/sh", "-c", script]


def pre_backup_annotations(component) -> dict[str, str]:
    """Pod annotations that make Velero run the dump in the container before it copies the volumes; a failed
    dump fails the backup, rather than keeping a copy of a database caught mid-write."""
    command = database_dump_command(component)
    if command is None:
        return {}
    return {"pre.hook.backup.velero.io/container": component.name,
            "pre.hook.backup.velero.io/command": json.dumps(command),
            "pre.hook.backup.velero.io/on-error": "Fail",
            "pre.hook.backup.velero.io/timeout": HOOK_TIMEOUT}
