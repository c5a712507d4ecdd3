"""The cluster watcher, as Kubernetes informers work: list once, then watch pods, nodes and the portal's workloads
from the list's resourceVersion, and record only the instances the changes touched (the sweep's own use case);
list again on 410 Gone and every resync period; watch again, with backoff, when a stream ends or breaks.

Only the Lease's holder runs it (`python -m portal.watcher`); while it does, the minute sweep stands by."""
import logging
import queue
import threading
import time
from collections import defaultdict

from sqlalchemy import select

from portal.extensions import db
from portal.instances import sweep
from portal.provisioning.cluster import MANAGED_SELECTOR, ClusterError, WatchExpired
from portal.subscriptions.models import InstanceStatus
from portal.timestamps import utcnow

logger = logging.getLogger(__name__)
SUBSCRIPTION_LABEL = "portal/subscription"
# (apiVersion, kind, label selector): what the portal's instances are made of, and the nodes they run on.
WATCHED = (("v1", "Pod", MANAGED_SELECTOR), ("v1", "Node", None),
           ("apps/v1", "Deployment", MANAGED_SELECTOR), ("apps/v1", "StatefulSet", MANAGED_SELECTOR))
BATCH_SECONDS = 0.05  # changes arriving together (a rollout's pods) are recorded in one transaction
ROLLOUT_CHECK_SECONDS = 15.0  # a rollout can time out with no change in the cluster: looked at this often
MAX_BACKOFF_SECONDS = 30.0


def _key(obj: dict) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return metadata.get("namespace") or "", metadata.get("name") or ""


def _slim(kind: str, obj: dict) -> dict:
    """What the record reads of a pod or workload: a pod list's JSON is ~2 KB a pod, mostly spec the status does not
    need, and the cache holds every one of them for as long as the watcher leads."""
    metadata = obj.get("metadata") or {}
    kept = {"metadata": {key: metadata[key] for key in ("name", "namespace", "labels", "resourceVersion", "generation")
                         if key in metadata}}
    status = obj.get("status") or {}
    if kind == "Pod":
        kept["spec"] = {"nodeName": (obj.get("spec") or {}).get("nodeName")}
        kept["status"] = {key: status[key] for key in ("phase", "conditions", "containerStatuses") if key in status}
    elif kind in ("Deployment", "StatefulSet"):
        kept["spec"] = {"replicas": (obj.get("spec") or {}).get("replicas", 1)}
        kept["status"] = status
    else:
        return obj
    return kept


def _subscription(obj: dict) -> int | None:
    value = ((obj.get("metadata") or {}).get("labels") or {}).get(SUBSCRIPTION_LABEL, "")
    return int(value) if value.isdigit() else None


class ClusterCache:
    """The watched objects as last seen, and which instance each belongs to. It answers the record's question about
    workloads (`list_objects`, as the gateway would) from memory."""

    def __init__(self):
        self.objects: dict[str, dict[tuple, dict]] = {kind: {} for _, kind, _ in WATCHED}
        self._members: dict[str, dict[int, set]] = {kind: defaultdict(set) for _, kind, _ in WATCHED}

    def replace(self, kind: str, items: list[dict]) -> None:
        self.objects[kind], self._members[kind] = {}, defaultdict(set)
        for item in items:
            self.apply(kind, "ADDED", item)

    def apply(self, kind: str, event: str, obj: dict) -> set[int]:
        """One event; returns the instances it touched (before and after: a pod may change hands)."""
        key, touched = _key(obj), set()
        old = self.objects[kind].pop(key, None)
        if old is not None and (sid := _subscription(old)) is not None:
            self._members[kind][sid].discard(key)
            touched.add(sid)
        if event != "DELETED":
            obj = _slim(kind, obj)
            self.objects[kind][key] = obj
            if (sid := _subscription(obj)) is not None:
                self._members[kind][sid].add(key)
                touched.add(sid)
        return touched

    def pods_of(self, subscription_ids) -> list[dict]:
        pods = self.objects["Pod"]
        return [pods[key] for sid in subscription_ids for key in self._members["Pod"].get(sid, ()) if key in pods]

    def list_objects(self, api_version: str, kind: str, *, namespace: str | None = None,
                     selector: str | None = None) -> list[dict]:
        """The workloads of one instance, as the record asks the gateway (`portal/subscription=<id>` only)."""
        sid = int(selector.split("=", 1)[1]) if selector and selector.startswith(SUBSCRIPTION_LABEL + "=") else None
        items = self.objects.get(kind, {})
        keys = self._members[kind].get(sid, ()) if sid is not None else items.keys()
        return [items[k] for k in keys if k in items and (namespace is None or k[0] == namespace)]


class StatusWatcher:
    """The informer loop of one leader. `run(stopping)` returns when `stopping` is set (shutdown or a lost lease)."""

    def __init__(self, app, gateway, *, on_recorded=None):
        self.app, self.gateway = app, gateway
        config = app.config
        self.resync_seconds = config["WATCHER_RESYNC_SECONDS"]
        self.watch_timeout = config["WATCHER_WATCH_TIMEOUT_SECONDS"]
        self.cache = ClusterCache()
        self.events: queue.Queue = queue.Queue()
        self.on_recorded = on_recorded or (lambda moment: None)
        self.stats = defaultdict(int)  # events, lists, records, gone, reconnects: for the logs and the bench
        self._streams: set = set()
        self._streams_lock = threading.Lock()

    # -- the loop ---------------------------------------------------------------------------------------------

    def run(self, stopping: threading.Event) -> None:
        backoff = 0.5
        while not stopping.is_set():
            try:
                versions = self._list_all()
            except ClusterError:
                stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = 0.5
            generation = threading.Event()  # set: this list's streams end (a 410, the resync, a stop)
            threads = [threading.Thread(target=self._stream, args=(api_version, kind, selector, versions[kind],
                                                                   generation),
                                        name=f"watch-{kind.lower()}", daemon=True)
                       for api_version, kind, selector in WATCHED]
            for thread in threads:
                thread.start()
            try:
                self._consume(stopping, generation)
            finally:
                generation.set()
                with self._streams_lock:
                    for stream in list(self._streams):
                        stream.stop()
                for thread in threads:
                    thread.join(timeout=5)

    def _consume(self, stopping: threading.Event, generation: threading.Event) -> None:
        resync_at = time.monotonic() + self.resync_seconds
        rollout_check_at = time.monotonic() + ROLLOUT_CHECK_SECONDS
        while not stopping.is_set() and not generation.is_set():
            now = time.monotonic()
            if now >= resync_at:
                self.stats["resyncs"] += 1
                return
            if now >= rollout_check_at:
                rollout_check_at = now + ROLLOUT_CHECK_SECONDS
                self._record(self._rolling_out())
            try:
                first = self.events.get(timeout=min(0.5, max(0.01, resync_at - now)))
            except queue.Empty:
                continue
            batch, until = [first], time.monotonic() + BATCH_SECONDS
            while True:
                try:
                    batch.append(self.events.get(timeout=max(0.0, until - time.monotonic())))
                except queue.Empty:
                    break
            touched: set[int] = set()
            for item in batch:
                if item[0] is not generation:
                    continue  # from a list that is over
                if item[1] == "gone":
                    self.stats["gone"] += 1
                    generation.set()
                    return
                _, kind, event, obj = item
                self.stats["events"] += 1
                touched |= self.cache.apply(kind, event, obj)
            try:
                self._record(touched)
            except Exception:  # noqa: BLE001 - the database hiccuped: say so, then list and record everything again
                logger.exception("recording %d changed instances failed; listing again", len(touched))
                stopping.wait(1.0)
                return

    def _stream(self, api_version: str, kind: str, selector: str | None, version: str,
                generation: threading.Event) -> None:
        """One kind's watch: from `version` on; again from the last version seen when the stream ends."""
        backoff = 0.5
        while not generation.is_set():
            stream = self.gateway.watch(api_version, kind, resource_version=version, selector=selector,
                                        timeout_seconds=self.watch_timeout)
            with self._streams_lock:
                self._streams.add(stream)
            try:
                for event, obj in stream:
                    if generation.is_set():
                        break
                    backoff = 0.5
                    if event != "BOOKMARK":
                        self.events.put((generation, kind, event, obj))
            except WatchExpired:
                self.events.put((generation, "gone"))
                return
            except ClusterError:
                self.stats["reconnects"] += 1
                generation.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            finally:
                version = stream.resource_version
                with self._streams_lock:
                    self._streams.discard(stream)

    # -- listing and recording --------------------------------------------------------------------------------

    def _list_all(self) -> dict[str, str]:
        """List every watched kind (one call each) and record every watched instance from what was listed."""
        versions = {}
        for api_version, kind, selector in WATCHED:
            items, versions[kind] = self.gateway.list_with_version(api_version, kind, selector=selector)
            self.cache.replace(kind, items)
        self.stats["lists"] += 1
        while not self.events.empty():  # what the previous streams queued is older than this list
            self.events.get_nowait()
        self._record(None)
        return versions

    def _rolling_out(self) -> set[int]:
        with self.app.app_context():
            ids = set(db.session.scalars(select(InstanceStatus.subscription_id)
                                         .where(InstanceStatus.rollout.is_not(None))))
            db.session.rollback()
        return ids

    def _record(self, touched: set[int] | None) -> None:
        """Record the instances `touched` (None: every watched instance) from the cache."""
        if touched is not None and not touched:
            return
        with self.app.app_context():
            rows = sweep.watched_rows(touched)
            ids = [row.id for row in rows]
            sweep.pods_record(gateway=self.cache, pods=self.cache.pods_of(ids), watched=rows, sample=False)
        self.stats["records"] += 1
        self.on_recorded(utcnow())
