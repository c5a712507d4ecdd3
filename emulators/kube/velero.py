"""Velero (velero.io/v1) in the emulated cluster: Schedules make Backups on their cron, Backups go New → InProgress →
Completed / PartiallyFailed / Failed and keep a snapshot of what they copied, Restores put that snapshot back into
a mapped namespace, DeleteBackupRequests and expiry remove backups; with faults to make one fail and a switch
that uninstalls Velero (its API group then answers 404, as a cluster without its CRDs does)."""
import copy
import datetime as dt
import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from . import kinds, quantities, writes
from .errors import ApiError

GROUP = "velero.io"
START_SECONDS = 1.0  # New → InProgress
BACKUP_SECONDS = 4.0  # InProgress → done (hooks, the copy of the volumes)
RESTORE_SECONDS = 4.0
# What a backup copies of a namespace (pods come back from their workloads; Velero also restores them, which the
# emulator leaves to the Deployment and StatefulSet controllers).
BACKED_UP_KINDS = ("Secret", "ConfigMap", "PersistentVolumeClaim", "Service", "NetworkPolicy", "Deployment",
                   "StatefulSet", "Ingress")
_RESOURCE_OF_KIND = {"Secret": "secrets", "ConfigMap": "configmaps", "PersistentVolumeClaim": "persistentvolumeclaims",
                     "Service": "services", "NetworkPolicy": "networkpolicies.networking.k8s.io",
                     "Deployment": "deployments.apps", "StatefulSet": "statefulsets.apps",
                     "Ingress": "ingresses.networking.k8s.io"}
_SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "ownerReferences",
                    "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink")
SCHEMAS = Path(__file__).resolve().parents[2] / "portal" / "provisioning" / "schemas" / "velero"
_SCHEMA_FILES = {"Schedule": "velero.io_schedules.yaml", "Backup": "velero.io_backups.yaml",
                 "Restore": "velero.io_restores.yaml"}


@dataclass
class VeleroFault:
    """The next `count` backups (or restores) of `namespace` (any when empty) end this way."""
    target: str  # "backup" | "restore"
    count: int
    phase: str
    reason: str
    namespace: str = ""


@dataclass
class VeleroState:
    installed: bool = True
    snapshots: dict = field(default_factory=dict)  # "ns/backup name" -> copies of the objects at completion
    next_due: dict = field(default_factory=dict)  # schedule uid -> (cron text, cluster time of its next run)
    faults: list = field(default_factory=list)

    def take_fault(self, target: str, namespace: str) -> VeleroFault | None:
        for fault in self.faults:
            if fault.target == target and fault.namespace in ("", namespace) and fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None


@functools.cache
def schema_validator(kind: str):
    """What the API server checks of a Velero object: its CRD's openAPIV3Schema (types, enums, required; unknown
    fields it would prune). None for the kinds whose CRD the repository does not keep."""
    file = _SCHEMA_FILES.get(kind)
    if file is None:
        return None
    crd = yaml.safe_load((SCHEMAS / file).read_text())
    return jsonschema.Draft7Validator(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


# --- cron --------------------------------------------------------------------------------------------------------

def _field(text: str, low: int, high: int) -> set[int]:
    values = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            start, end = (int(x) for x in part.split("-", 1))
        else:
            start = end = int(part)
        values.update(range(start, end + 1, step))
    return values


def cron_matcher(text: str):
    """A five-field cron expression (minute hour day month weekday, 0 = Sunday) as a test of a UTC minute."""
    if text.startswith("@every "):
        raise ValueError("@every is not modelled by the emulator")
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"a cron expression has five fields, not {len(fields)}: {text!r}")
    minutes, hours, days, months, weekdays = (_field(f, lo, hi) for f, (lo, hi) in
                                              zip(fields, ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7)), strict=True))
    if 7 in weekdays:
        weekdays.add(0)

    def matches(moment: dt.datetime) -> bool:
        return (moment.minute in minutes and moment.hour in hours and moment.day in days
                and moment.month in months and (moment.weekday() + 1) % 7 in weekdays)
    return matches


def next_run(text: str, after: dt.datetime) -> dt.datetime | None:
    """The first minute strictly after `after` that the cron names (within 400 days)."""
    matches = cron_matcher(text)
    moment = after.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    for _ in range(400 * 24 * 60):
        if matches(moment):
            return moment
        moment += dt.timedelta(minutes=1)
    return None


# --- the controller ----------------------------------------------------------------------------------------------

def _seconds(duration: str) -> float:
    """A Go duration ("720h0m0s", "24h") in seconds."""
    total, number = 0.0, ""
    units = {"h": 3600, "m": 60, "s": 1}
    for char in duration or "":
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ""
    return total or 720 * 3600


def reconcile(state, moment: float) -> float:
    """Advance every Velero object to `moment`; returns when something next changes by itself."""
    velero = state.velero
    if not velero.installed:
        return math.inf
    wake = math.inf
    for schedule in list(state.each("Schedule")):
        wake = min(wake, _schedule(state, schedule, moment))
    for backup in list(state.each("Backup")):
        wake = min(wake, _backup(state, backup, moment))
    for restore in list(state.each("Restore")):
        wake = min(wake, _restore(state, restore, moment))
    for request in list(state.each("DeleteBackupRequest")):
        _delete_request(state, request, moment)
    return wake


def _created(state, obj: dict) -> float:
    return state.clock.from_stamp(obj["metadata"]["creationTimestamp"])


def _schedule(state, schedule: dict, moment: float) -> float:
    spec, metadata = schedule.get("spec") or {}, schedule["metadata"]
    status = dict(schedule.get("status") or {})
    try:
        cron_matcher(spec.get("schedule", ""))
    except ValueError as error:
        status.update(phase="FailedValidation", validationErrors=[f"invalid schedule: {error}"])
        state.set_status(schedule, status)
        return math.inf
    status["phase"] = "Enabled"
    uid = metadata["uid"]
    cron = spec["schedule"]
    known = state.velero.next_due.get(uid)
    if known is None or known[0] != cron:
        start = max(_created(state, schedule), state.clock.from_stamp(status["lastBackup"])
                    if status.get("lastBackup") else -math.inf)
        due = next_run(cron, state.clock.wall(start))
        known = (cron, state.clock.from_stamp(due.strftime("%Y-%m-%dT%H:%M:%SZ")) if due else math.inf)
    cron, due = known
    if spec.get("paused"):
        # A paused schedule skips what falls due while paused, as Velero's does.
        while due <= moment:
            after = next_run(cron, state.clock.wall(due))
            due = state.clock.from_stamp(after.strftime("%Y-%m-%dT%H:%M:%SZ")) if after else math.inf
        state.velero.next_due[uid] = (cron, due)
        state.set_status(schedule, status)
        return due
    made = 0
    while due <= moment and made < 400:
        state._at = due  # the backup is made at its cron time, not at the read that noticed it
        try:
            name = f"{metadata['name']}-{state.clock.wall(due):%Y%m%d%H%M%S}"
            if state.get("Backup", metadata["namespace"], name) is None:
                labels = {**(spec.get("template", {}).get("metadata", {}).get("labels") or {}),
                          **(metadata.get("labels") or {}), "velero.io/schedule-name": metadata["name"]}
                backup = {"apiVersion": f"{GROUP}/v1", "kind": "Backup",
                          "metadata": {"name": name, "namespace": metadata["namespace"], "labels": labels},
                          "spec": copy.deepcopy({k: v for k, v in (spec.get("template") or {}).items()
                                                 if k != "metadata"}),
                          "status": {"phase": "New"}}
                state.create_object(backup, "velero-server", "Update")
            status["lastBackup"] = state.clock.stamp(due)
        finally:
            state._at = moment
        after = next_run(cron, state.clock.wall(due))
        due = state.clock.from_stamp(after.strftime("%Y-%m-%dT%H:%M:%SZ")) if after else math.inf
        made += 1
    state.velero.next_due[uid] = (cron, due)
    state.set_status(schedule, status)
    return due


def _backup(state, backup: dict, moment: float) -> float:
    status = dict(backup.get("status") or {})
    phase = status.get("phase") or "New"
    created = _created(state, backup)
    metadata, spec = backup["metadata"], backup.get("spec") or {}
    if phase in ("Completed", "PartiallyFailed", "Failed", "FailedValidation"):
        expiration = status.get("expiration")
        if expiration:
            expires = state.clock.from_stamp(expiration)
            if expires <= moment:
                _remove_backup(state, metadata["namespace"], metadata["name"])  # Velero's garbage collection
                return math.inf
            return expires
        return math.inf
    if phase == "New":
        namespaces = spec.get("includedNamespaces") or []
        missing = [ns for ns in namespaces if ns != "*" and state.get("Namespace", None, ns) is None]
        status["phase"] = "New"
        if moment < created + START_SECONDS:
            state.set_status(backup, status)
            return created + START_SECONDS
        status.update(phase="InProgress", startTimestamp=state.clock.stamp(created + START_SECONDS),
                      version=1, formatVersion="1.1.0", expiration=state.clock.stamp(
                          created + START_SECONDS + _seconds(spec.get("ttl", "720h0m0s"))))
        if missing:
            status.update(phase="Failed", failureReason=f"namespaces not found: {', '.join(missing)}",
                          completionTimestamp=state.clock.stamp(created + START_SECONDS), errors=1)
            state.set_status(backup, status)
            return math.inf
    items = _selected(state, spec)
    total = len(items)
    done_at = created + START_SECONDS + BACKUP_SECONDS
    if moment < done_at:
        fraction = max(0.0, (moment - created - START_SECONDS) / BACKUP_SECONDS)
        status["progress"] = {"totalItems": total, "itemsBackedUp": int(total * fraction)}
        state.set_status(backup, status)
        return done_at
    namespace = (spec.get("includedNamespaces") or [""])[0]
    fault = state.velero.take_fault("backup", namespace)
    stamp = state.clock.stamp(done_at)
    status["completionTimestamp"] = stamp
    if fault is not None and fault.phase == "Failed":
        status.update(phase="Failed", failureReason=fault.reason, errors=1,
                      progress={"totalItems": total, "itemsBackedUp": total // 2})
        state.set_status(backup, status)
        return state.clock.from_stamp(status["expiration"])
    hooks = sum(1 for obj in items if obj["kind"] in ("Deployment", "StatefulSet")
                and any(key.startswith("pre.hook.backup.velero.io/") for key in
                        ((obj["spec"].get("template") or {}).get("metadata", {}).get("annotations") or {})))
    status["hookStatus"] = {"hooksAttempted": hooks, "hooksFailed": 0}
    status["progress"] = {"totalItems": total, "itemsBackedUp": total}
    if fault is not None:  # PartiallyFailed: some items could not be copied
        status.update(phase="PartiallyFailed", errors=1, failureReason=fault.reason)
    else:
        status["phase"] = "Completed"
    state.velero.snapshots[f"{metadata['namespace']}/{metadata['name']}"] = [copy.deepcopy(o) for o in items]
    _volume_backups(state, backup, items, stamp)
    state.set_status(backup, status)
    return state.clock.from_stamp(status["expiration"])


def _selected(state, spec: dict) -> list[dict]:
    wanted = (spec.get("labelSelector") or {}).get("matchLabels") or {}
    selector = [("=", key, [value]) for key, value in wanted.items()]
    found = []
    for namespace in spec.get("includedNamespaces") or []:
        for kind in BACKED_UP_KINDS:
            for obj in state.items(kind, namespace):
                if _label_ok(selector, obj):
                    found.append(obj)
    return found


def _label_ok(selector, obj: dict) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return all(labels.get(key) == values[0] for _, key, values in selector) if selector else True


def _volume_backups(state, backup: dict, items: list[dict], stamp: str) -> None:
    """One PodVolumeBackup per volume claim, with the bytes copied, as Velero's node agent reports them."""
    metadata = backup["metadata"]
    for claim in (o for o in items if o["kind"] == "PersistentVolumeClaim"):
        requested = ((claim["spec"].get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        size = int(quantities.parse(requested))
        copied = int(size * (0.02 + 0.03 * state.random.random()))
        name = f"{metadata['name']}-{state.random_suffix()}"
        state.create_object({
            "apiVersion": f"{GROUP}/v1", "kind": "PodVolumeBackup",
            "metadata": {"name": name, "namespace": metadata["namespace"],
                         "labels": {"velero.io/backup-name": metadata["name"],
                                    "velero.io/pvc-name": claim["metadata"]["name"]}},
            "spec": {"backupStorageLocation": "default", "volume": claim["metadata"]["name"],
                     "tags": {"backup": metadata["name"], "ns": claim["metadata"]["namespace"]}},
            "status": {"phase": "Completed", "completionTimestamp": stamp,
                       "progress": {"totalBytes": copied, "bytesDone": copied}}}, "velero-node-agent")


def _remove_backup(state, namespace: str, name: str) -> None:
    state.remove("Backup", namespace, name)
    state.velero.snapshots.pop(f"{namespace}/{name}", None)
    for volume in state.items("PodVolumeBackup", namespace):
        if (volume["metadata"].get("labels") or {}).get("velero.io/backup-name") == name:
            state.remove("PodVolumeBackup", namespace, volume["metadata"]["name"])


def _restore(state, restore: dict, moment: float) -> float:
    status = dict(restore.get("status") or {})
    phase = status.get("phase") or "New"
    if phase in ("Completed", "PartiallyFailed", "Failed", "FailedValidation"):
        return math.inf
    created = _created(state, restore)
    metadata, spec = restore["metadata"], restore.get("spec") or {}
    if moment < created + START_SECONDS:
        status["phase"] = "New"
        state.set_status(restore, status)
        return created + START_SECONDS
    snapshot = state.velero.snapshots.get(f"{metadata['namespace']}/{spec.get('backupName')}")
    backup = state.get("Backup", metadata["namespace"], spec.get("backupName") or "")
    if backup is None or snapshot is None or (backup.get("status") or {}).get("phase") != "Completed":
        status.update(phase="FailedValidation", validationErrors=[
            f"Error retrieving backup: backup.velero.io \"{spec.get('backupName')}\" not found"
            if backup is None else "backup is not in phase Completed"],
            completionTimestamp=state.clock.stamp(created + START_SECONDS))
        state.set_status(restore, status)
        return math.inf
    status.setdefault("startTimestamp", state.clock.stamp(created + START_SECONDS))
    chosen = _restorable(snapshot, spec)
    done_at = created + START_SECONDS + RESTORE_SECONDS
    if moment < done_at:
        status.update(phase="InProgress", progress={"totalItems": len(chosen), "itemsRestored": 0})
        state.set_status(restore, status)
        return done_at
    mapping = spec.get("namespaceMapping") or {}
    fault = state.velero.take_fault("restore", next(iter(mapping.values()), ""))
    restored, warnings = 0, 0
    state._at = done_at
    try:
        cutoff = len(chosen) // 2 if fault is not None else len(chosen)
        for obj in chosen[:cutoff]:
            if _put_back(state, obj, mapping, metadata["name"], spec.get("backupName")):
                restored += 1
            else:
                warnings += 1
    finally:
        state._at = moment
    status.update(progress={"totalItems": len(chosen), "itemsRestored": restored},
                  completionTimestamp=state.clock.stamp(done_at), warnings=warnings)
    if fault is not None:
        status.update(phase=fault.phase, failureReason=fault.reason, errors=len(chosen) - cutoff)
    else:
        status["phase"] = "Completed"
    state.set_status(restore, status)
    return math.inf


def _restorable(snapshot: list[dict], spec: dict) -> list[dict]:
    excluded = set(spec.get("excludedResources") or [])
    wanted = (spec.get("labelSelector") or {}).get("matchLabels") or {}
    selector = [("=", key, [value]) for key, value in wanted.items()]
    included = set(spec.get("includedNamespaces") or ["*"])
    order = {kind: i for i, kind in enumerate(BACKED_UP_KINDS)}
    chosen = [obj for obj in snapshot
              if _RESOURCE_OF_KIND[obj["kind"]] not in excluded and obj["kind"].lower() + "s" not in excluded
              and _label_ok(selector, obj)
              and ("*" in included or obj["metadata"].get("namespace") in included)]
    return sorted(chosen, key=lambda o: order[o["kind"]])


def _put_back(state, original: dict, mapping: dict, restore_name: str, backup_name: str) -> bool:
    """Create one object as Velero restores it, through the API server's own checks: in the mapped namespace
    (created when missing), server metadata and status dropped, labelled with the backup and the restore; an
    object that already exists is left alone (existingResourcePolicy none)."""
    obj = copy.deepcopy(original)
    metadata = obj["metadata"]
    source = metadata.get("namespace")
    target = mapping.get(source, source)
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
    obj.pop("status", None)
    metadata["namespace"] = target
    metadata["labels"] = {**(metadata.get("labels") or {}), "velero.io/backup-name": backup_name,
                          "velero.io/restore-name": restore_name}
    if obj["kind"] == "Service":
        for key in ("clusterIP", "clusterIPs"):
            obj["spec"].pop(key, None)  # Velero resets the IP: the old one belongs to the live Service
    if obj["kind"] == "PersistentVolumeClaim":
        obj["spec"].pop("volumeName", None)  # a new volume, filled from the backup's copy
    try:
        if state.get("Namespace", None, target) is None:
            writes.create(state, kinds.BY_KIND["Namespace"], None,
                          {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target}}, {}, "velero")
        if state.get(obj["kind"], target, metadata["name"]) is not None:
            return False
        writes.create(state, kinds.BY_KIND[obj["kind"]], target, obj, {}, "velero")
    except ApiError:
        return False
    return True


def _delete_request(state, request: dict, moment: float) -> None:
    status = dict(request.get("status") or {})
    if status.get("phase") == "Processed":
        return
    metadata = request["metadata"]
    name = (request.get("spec") or {}).get("backupName", "")
    _remove_backup(state, metadata["namespace"], name)
    status["phase"] = "Processed"
    state.set_status(request, status)
