"""Leader election through a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: the holder renews
every retry period and steps down when it could not renew within the renew deadline; a candidate takes the lease
once it has seen no change to it for a lease duration (measured on its own clock, not the holder's timestamps)."""
import datetime as dt
import time
from dataclasses import dataclass

from portal.provisioning.cluster import Cluster, Conflict, ObjectNotFound

LEASE_API = "coordination.k8s.io/v1"
MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # metav1.MicroTime, as renewTime and acquireTime are written


def micro_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(MICRO_TIME)


def parse_micro_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says about its holder (read by the health page and the minute sweep's fallback)."""
    holder: str | None
    renewed_at: dt.datetime | None
    acquired_at: dt.datetime | None
    duration_seconds: float
    transitions: int
    annotations: dict

    def fresh(self, now: dt.datetime) -> bool:
        return bool(self.holder) and self.renewed_at is not None and \
            now < self.renewed_at + dt.timedelta(seconds=self.duration_seconds)

    @property
    def expired_at(self) -> dt.datetime | None:
        return self.renewed_at + dt.timedelta(seconds=self.duration_seconds) if self.renewed_at else None


def lease_record(lease: dict | None) -> LeaseRecord | None:
    if lease is None:
        return None
    spec = lease.get("spec") or {}
    return LeaseRecord(spec.get("holderIdentity") or None, parse_micro_time(spec.get("renewTime")),
                       parse_micro_time(spec.get("acquireTime")), float(spec.get("leaseDurationSeconds") or 0),
                       int(spec.get("leaseTransitions") or 0), dict(lease["metadata"].get("annotations") or {}))


def lease_read(gateway: Cluster, *, namespace: str, name: str) -> LeaseRecord | None:
    return lease_record(gateway.get(LEASE_API, "Lease", namespace, name))


class LeaderElector:
    """One candidate. `try_acquire_or_renew()` is client-go's step; `renew_until_lost()` runs the holder's loop."""

    def __init__(self, gateway: Cluster, *, namespace: str, name: str, identity: str, lease_seconds: float,
                 renew_deadline_seconds: float, retry_seconds: float, clock=time.monotonic):
        if not lease_seconds > renew_deadline_seconds > retry_seconds > 0:
            raise ValueError("the lease must outlast the renew deadline, which must outlast the retry period")
        self.gateway, self.namespace, self.name, self.identity = gateway, namespace, name, identity
        self.lease_seconds, self.renew_deadline, self.retry = lease_seconds, renew_deadline_seconds, retry_seconds
        self.clock = clock
        self._observed: tuple | None = None  # the holder's record as last seen, and when (on our clock)
        self._observed_at = 0.0
        self.annotations: dict[str, str] = {}  # what the holder publishes on the lease with each renewal

    def _manifest(self, *, acquired: str, transitions: int, now: str, version: str | None) -> dict:
        metadata = {"name": self.name, "namespace": self.namespace,
                    "labels": {"app.kubernetes.io/name": "portal", "app.kubernetes.io/component": "watcher"},
                    "annotations": dict(self.annotations)}
        if version:
            metadata["resourceVersion"] = version
        return {"apiVersion": LEASE_API, "kind": "Lease", "metadata": metadata,
                "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": int(round(self.lease_seconds)),
                         "acquireTime": acquired, "renewTime": now, "leaseTransitions": transitions}}

    def try_acquire_or_renew(self) -> bool:
        """True when this candidate holds the lease after the call (created, renewed or taken over)."""
        now = micro_time(dt.datetime.now(dt.UTC))
        lease = self.gateway.get(LEASE_API, "Lease", self.namespace, self.name)
        if lease is None:
            try:
                self._create(self._manifest(acquired=now, transitions=0, now=now, version=None))
            except Conflict:
                return False  # another candidate created it first
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"), lease["metadata"].get("resourceVersion"))
        if record != self._observed:
            self._observed, self._observed_at = record, self.clock()
        if holder and holder != self.identity and self.clock() < self._observed_at + self.lease_seconds:
            return False  # held, and renewed within a lease duration as far as we have seen
        mine = holder == self.identity
        manifest = self._manifest(acquired=spec.get("acquireTime") if mine and spec.get("acquireTime") else now,
                                  transitions=int(spec.get("leaseTransitions") or 0) + (0 if mine else 1),
                                  now=now, version=lease["metadata"].get("resourceVersion"))
        try:
            self.gateway.replace(manifest)
        except Conflict:
            return False  # someone renewed or took it between our read and our write
        return True

    def _create(self, manifest: dict) -> None:
        try:
            self.gateway.create(manifest)
        except ObjectNotFound:
            # The namespace is missing: an emulated cluster starts empty, and compose's k3s has no `portal`
            # namespace (deploy/namespace.yaml makes it on a real cluster). The portal may make namespaces.
            self.gateway.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})
            self.gateway.create(manifest)

    def acquire(self, stopping) -> bool:
        """Block until this candidate leads (True) or `stopping` is set (False); a failed call is retried."""
        while not stopping.is_set():
            try:
                if self.try_acquire_or_renew():
                    return True
            except Exception:  # noqa: BLE001 - a cluster hiccup: try again next period, as client-go does
                pass
            stopping.wait(self.retry)
        return False

    def renew_until_lost(self, leading) -> bool:
        """The holder's loop while `leading` is not set: renew every retry period. Past the renew deadline without
        a renewal, the lease is lost: `leading` is set and True returned (False when it was set from outside)."""
        renewed = self.clock()
        while not leading.wait(self.retry):
            try:
                if self.try_acquire_or_renew():
                    renewed = self.clock()
                    continue
            except Exception:  # noqa: BLE001 - counted against the renew deadline
                pass
            if self.clock() - renewed >= self.renew_deadline:
                leading.set()
                return True
        return False

    def release(self) -> None:
        """On a clean stop the lease is handed back (an empty holder), so the other replica takes over at once."""
        lease = self.gateway.get(LEASE_API, "Lease", self.namespace, self.name)
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        spec = lease["spec"]
        manifest = self._manifest(acquired=spec.get("acquireTime"), transitions=int(spec.get("leaseTransitions") or 0),
                                  now=micro_time(dt.datetime.now(dt.UTC)),
                                  version=lease["metadata"].get("resourceVersion"))
        manifest["spec"]["holderIdentity"] = ""
        manifest["spec"]["leaseDurationSeconds"] = 1
        try:
            self.gateway.replace(manifest)
        except Conflict:
            pass
