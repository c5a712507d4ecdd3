"""The cluster's state: stored objects under one lock, resource versions, and lazy settling of time-based state."""
import collections
import math
import random
import threading
import uuid
from typing import NamedTuple

import orjson

from . import certmanager, quota, velero, workloads
from .clock import ClusterClock
from .faults import Faults
from .kinds import BY_KIND, KINDS
from .nodes import NodePool
from .patches import fields_of, record_manager
from .pods import PodLife, schedule

_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated name suffixes
MAX_STEPS = 200  # past events replayed per read at most; beyond that, state jumps to the present
# The kinds whose changes are kept for watches (what the portal's watcher and its leader election use).
WATCHABLE = frozenset({"Pod", "Node", "Deployment", "StatefulSet", "Lease"})
WATCH_WINDOW = 10_000  # changes kept for watches, as etcd keeps a window of revisions before compacting


class WatchEvent(NamedTuple):
    """One change as a watch sends it: the object as it was at `version`, serialized once for every watcher."""
    version: int
    kind: str
    type: str  # ADDED, MODIFIED or DELETED
    namespace: str
    labels: dict
    data: bytes


class ClusterState:
    """Everything the emulated API server knows. Callers hold `lock` around every use."""

    def __init__(self, ready_delay: float = 2.0, node_count: int = 3, clock=None, namespace_grace: float = 1.0,
                 seed=None):
        self.lock = threading.RLock()
        self.clock = ClusterClock(clock)
        self.ready_delay = float(ready_delay)
        self.namespace_grace = float(namespace_grace)
        self.random = random.Random(seed)
        self.faults = Faults()
        self._objects = {info.kind: {} for info in KINDS if info.stored}  # kind -> namespace -> name -> obj
        self._owned: dict[str, dict] = {}  # controller uid -> {(namespace, name): pod}
        self.workloads_by_uid: dict[str, dict] = {}  # Deployments and StatefulSets
        self.pods_to_refresh: set[str] = set()  # pod uids whose status must be recomputed at the next settle
        self.pod_timers: list[tuple[float, str]] = []  # heap of (when a pod's status changes by itself, uid)
        self.pods_epoch = -1  # the epoch at which every pod status was last recomputed
        self._version = 0
        self._service_ips = 0
        # Watches: the retained changes (oldest first), the newest version no longer retained (a watch from before
        # it answers 410 Gone), and what changed since the last flush (an object changed twice in one request is
        # sent once, as it ended up).
        self.events: collections.deque[WatchEvent] = collections.deque()
        self.watch_window = WATCH_WINDOW
        self.compacted = 0
        self.changed = threading.Condition(self.lock)
        self._pending: dict[int, list] = {}
        self._deleted: list[WatchEvent] = []
        self.lives: dict[str, PodLife] = {}  # pod uid -> its life
        self.rollouts: dict[str, tuple] = {}  # workload uid -> (template hash, clock time the rollout began)
        self.create_failures: dict[str, str] = {}  # workload uid -> why its last pod could not be created
        self.deadlines: dict[str, float] = {}  # workload uid -> when its rollout times out
        self.terminating: dict[str, float] = {}  # namespace -> clock time it was deleted
        self.epoch = 0  # moves when faults or nodes change, so every pod status is recomputed
        self.changes = 0  # moves with every change of what a state file keeps (it is saved when this moved)
        # What changed since the last settle, so a write costs what it touched, not the whole cluster:
        self.stale_workloads: set[str] = set()
        self.stale_namespaces: set[str] = set()
        self.stale_all = True
        self._dirty = True
        self._wakeup = -math.inf  # when time-based state next changes by itself
        self._heartbeat = -math.inf  # when node heartbeats next move (cosmetic: not worth stepping for)
        self._at = None  # the moment being settled, while stepping through past events
        self.nodes = NodePool(self, node_count)
        self.cert_manager = certmanager.CertManager()
        self.velero = velero.VeleroState()

    def now(self) -> float:
        return self._at if self._at is not None else self.clock.now()

    def touch(self) -> None:
        """Something outside the objects changed (faults, node health, settings): re-evaluate everything."""
        self.epoch += 1
        self.changes += 1
        self.stale_all = True
        self._dirty = True

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def random_suffix(self, length: int = 5) -> str:
        return "".join(self.random.choice(_SUFFIX_ALPHABET) for _ in range(length))

    def allocate_service_ip(self) -> str:
        self._service_ips += 1
        return f"10.96.{(self._service_ips // 250) % 256}.{self._service_ips % 250 + 2}"

    # --- the store -------------------------------------------------------------------------------------------

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        return self._objects[kind].get(namespace or "", {}).get(name)

    def items(self, kind: str, namespace: str | None = None) -> list[dict]:
        """Objects sorted by namespace and name, as a real list answers; namespace None means all."""
        spaces = self._objects[kind]
        if namespace is not None:
            bucket = spaces.get(namespace, {})
            return [bucket[name] for name in sorted(bucket)]
        return [spaces[space][name] for space in sorted(spaces) for name in sorted(spaces[space])]

    def each(self, kind: str):
        """All objects of a kind, unsorted (for the controllers' sweeps)."""
        for bucket in list(self._objects[kind].values()):
            yield from list(bucket.values())

    def pod_by_uid(self, uid: str) -> dict | None:
        life = self.lives.get(uid)
        pod = self.get("Pod", life.namespace, life.name) if life is not None else None
        return pod if pod is not None and pod["metadata"]["uid"] == uid else None

    def owned_by(self, uid: str) -> list[dict]:
        return list(self._owned.get(uid, {}).values())

    def bump(self, obj: dict, status_only: bool = False, event: str = "MODIFIED") -> None:
        """A new resourceVersion; notes what must be reconciled because of this change."""
        self._version += 1
        metadata = obj["metadata"]
        metadata["resourceVersion"] = str(self._version)
        self._dirty = True
        self.changes += 1
        kind = obj["kind"]
        if kind in WATCHABLE:
            pending = self._pending.get(id(obj))
            if pending is None:
                self._pending[id(obj)] = [obj, event]
        if kind == "Pod":
            self.stale_workloads.update(_controllers(obj))
        if status_only:
            return
        if kind in ("Deployment", "StatefulSet"):
            self.stale_workloads.add(metadata.get("uid"))
        if metadata.get("namespace"):
            self.stale_namespaces.add(metadata["namespace"])

    @property
    def resource_version(self) -> str:
        return str(self._version)

    def set_status(self, obj: dict, status: dict | None) -> None:
        if status is not None and obj.get("status") != status:
            obj["status"] = status
            self.bump(obj, status_only=True)

    def put(self, obj: dict) -> None:
        metadata = obj["metadata"]
        namespace, name = metadata.get("namespace") or "", metadata["name"]
        bucket = self._objects[obj["kind"]].setdefault(namespace, {})
        before = bucket.get(name)
        added = before is None or before["metadata"].get("uid") != metadata.get("uid")
        if obj["kind"] == "Pod":
            self._index(bucket.get(name), add=False)
            self._index(obj, add=True)
            self.pods_to_refresh.add(metadata["uid"])
        elif obj["kind"] in ("Deployment", "StatefulSet"):
            self.workloads_by_uid[metadata["uid"]] = obj
        bucket[name] = obj
        self.bump(obj, event="ADDED" if added else "MODIFIED")

    # --- watches ---------------------------------------------------------------------------------------------

    def flush_events(self) -> None:
        """Turn what changed since the last flush into watch events (in resourceVersion order), keep the newest
        `watch_window` of them, and wake the watches."""
        if not self._pending and not self._deleted:
            return
        fresh = list(self._deleted)
        for obj, event in self._pending.values():
            metadata = obj["metadata"]
            fresh.append(WatchEvent(int(metadata["resourceVersion"]), obj["kind"], event,
                                    metadata.get("namespace") or "", dict(metadata.get("labels") or {}),
                                    orjson.dumps(obj)))
        self._pending, self._deleted = {}, []
        fresh.sort(key=lambda e: e.version)
        self.events.extend(fresh)
        while len(self.events) > max(0, self.watch_window):
            self.compacted = self.events.popleft().version
        self.changed.notify_all()

    def events_after(self, version: int) -> list[WatchEvent]:
        """Retained events newer than `version`, oldest first (the caller checked `compacted`)."""
        newer = []
        for event in reversed(self.events):
            if event.version <= version:
                break
            newer.append(event)
        newer.reverse()
        return newer

    def set_watch_window(self, size: int) -> None:
        self.watch_window = max(0, int(size))
        while len(self.events) > self.watch_window:
            self.compacted = self.events.popleft().version

    def load_objects(self, objects: dict[str, list[dict]], resource_version: int) -> None:
        """Stored objects as a state file kept them (resourceVersions included), with their indexes rebuilt."""
        self._objects = {info.kind: {} for info in KINDS if info.stored}
        self._owned, self.workloads_by_uid = {}, {}
        self.pods_to_refresh, self.pod_timers, self.pods_epoch = set(), [], -1
        for kind, items in objects.items():
            for obj in items:
                metadata = obj["metadata"]
                self._objects[kind].setdefault(metadata.get("namespace") or "", {})[metadata["name"]] = obj
                if kind == "Pod":
                    self._index(obj, add=True)
                elif kind in ("Deployment", "StatefulSet"):
                    self.workloads_by_uid[obj["metadata"]["uid"]] = obj
        self._version = resource_version
        # A restarted server keeps no history: every watch must list again, as after a compaction.
        self.events.clear()
        self._pending, self._deleted = {}, []
        self.compacted = resource_version

    def _index(self, pod: dict | None, add: bool) -> None:
        if pod is None:
            return
        key = (pod["metadata"].get("namespace"), pod["metadata"]["name"])
        for uid in _controllers(pod):
            if add:
                self._owned.setdefault(uid, {})[key] = pod
            else:
                self._owned.get(uid, {}).pop(key, None)

    def create_object(self, obj: dict, manager: str, operation: str = "Update", fields: dict | None = None) -> dict:
        """Store a new object: metadata the server owns is filled in, pods get a life and a node."""
        now = self.now()
        metadata = obj["metadata"]
        if not metadata.get("name"):
            metadata["name"] = metadata["generateName"] + self.random_suffix()
        metadata.setdefault("uid", self.new_uid())
        metadata.setdefault("creationTimestamp", self.clock.stamp(now))
        if BY_KIND[obj["kind"]].has_spec and obj["kind"] not in ("Namespace", "Node"):
            metadata.setdefault("generation", 1)
        if fields is None:
            fields = fields_of({k: v for k, v in obj.items() if k != "status"})
        record_manager(obj, manager, operation, fields, self.clock.stamp(now))
        self.put(obj)
        if obj["kind"] == "Pod":
            life = PodLife(created=now, namespace=metadata["namespace"], name=metadata["name"])
            self.lives[metadata["uid"]] = life
            schedule(self, obj, life, now)
        return obj

    def remove(self, kind: str, namespace: str | None, name: str, propagation: str = "Background") -> dict | None:
        bucket = self._objects[kind].get(namespace or "", {})
        obj = bucket.pop(name, None)
        if obj is None:
            return None
        if not bucket:
            del self._objects[kind][namespace or ""]
        self._dirty = True
        self.changes += 1
        uid = obj["metadata"].get("uid")
        if kind in WATCHABLE:
            # The deletion is a change of its own (a new resourceVersion), as etcd records a delete.
            self._version += 1
            self._pending.pop(id(obj), None)
            gone = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._version)}}
            self._deleted.append(WatchEvent(self._version, kind, "DELETED", namespace or "",
                                            dict(obj["metadata"].get("labels") or {}), orjson.dumps(gone)))
        if namespace:
            self.stale_namespaces.add(namespace)
        if kind == "Pod":
            self._index(obj, add=False)
            self.stale_workloads.update(_controllers(obj))
        for table in (self.lives, self.rollouts, self.create_failures, self.deadlines, self.workloads_by_uid):
            table.pop(uid, None)
        if kind == "Ingress":
            certmanager.remove_owned(self, obj)
        if kind in ("Deployment", "StatefulSet"):
            for pod in self.owned_by(uid):
                if propagation == "Orphan":
                    self._index(pod, add=False)
                    owners = pod["metadata"].get("ownerReferences") or []
                    pod["metadata"]["ownerReferences"] = [o for o in owners if o.get("uid") != uid]
                    self.bump(pod)
                else:
                    self.remove("Pod", namespace, pod["metadata"]["name"])
            self._owned.pop(uid, None)
        return obj

    def empty_namespace(self, namespace: str) -> None:
        for info in KINDS:
            if info.stored and info.namespaced:
                for obj in self.items(info.kind, namespace):
                    self.remove(info.kind, namespace, obj["metadata"]["name"])

    def namespace_usable(self, namespace: str) -> str:
        """"ok", "missing" or "terminating"."""
        if self.get("Namespace", None, namespace) is None:
            return "missing"
        return "terminating" if namespace in self.terminating else "ok"

    # --- time ------------------------------------------------------------------------------------------------

    def settle(self) -> None:
        """Bring time-based state up to the clock, then hand what changed to the watches."""
        self._settle()
        self.flush_events()

    def _settle(self) -> None:
        """Bring time-based state up to the clock; cheap when nothing can have changed.

        Events since the last read are replayed in order (a pod that got ready at t lets the
        StatefulSet make its next pod at t, not at the time of the read), up to MAX_STEPS of them.
        """
        now = self.clock.now()
        if not self._dirty and now < self._wakeup and now < self._heartbeat:
            return
        for _ in range(MAX_STEPS):
            moment = self._wakeup
            if self._dirty or not moment < now:
                break
            self._settle_at(moment)
            if not self._wakeup > moment:
                break
        self._settle_at(now)

    def _settle_at(self, moment: float) -> None:
        self._at = moment
        try:
            everything = self.stale_all
            wake = math.inf
            for namespace, since in list(self.terminating.items()):
                if moment >= since + self.namespace_grace:
                    self.empty_namespace(namespace)
                    self.remove("Namespace", None, namespace)
                    del self.terminating[namespace]
                else:
                    wake = min(wake, since + self.namespace_grace)
            self._heartbeat = self.nodes.refresh(moment)
            wake = min(wake, velero.reconcile(self, moment))  # before the workloads: restored ones get pods now
            wake = min(wake, workloads.reconcile(self, moment))
            wake = min(wake, certmanager.reconcile(self, None if everything else set(self.stale_namespaces)))
            quota.refresh(self, None if everything else self.stale_namespaces)
            self.stale_namespaces = set()
            self.stale_all = False
            self._wakeup = wake
            self._dirty = False
        finally:
            self._at = None


def _controllers(pod: dict) -> list[str]:
    return [owner.get("uid") for owner in pod["metadata"].get("ownerReferences") or [] if owner.get("controller")]
