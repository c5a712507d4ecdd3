"""EmulatedCluster: the emulated Kubernetes API server on loopback, and its Python controls."""
import copy

from ..serving import LoopbackServer
from . import pods
from .kinds import BY_KIND, GIT_VERSION
from .persistence import StateFile
from .server import ApiServer
from .state import ClusterState


class EmulatedCluster(LoopbackServer):
    """A Kubernetes API server emulated in-process, served over HTTP for the official client.

    Time-based state (pods becoming ready, crash loops, heartbeats) is measured on `clock`
    (default time.monotonic) and evaluated whenever the API is read.

    With a `state_file`, the cluster is the one kept there (when it exists), and is saved there while it
    serves, as a real cluster keeps running while the portal restarts.
    """

    def __init__(self, ready_delay: float = 2.0, node_count: int = 3, clock=None, *, namespace_grace: float = 1.0,
                 timeout_sleep: float = 5.0, seed=None, verbose: bool = False, state_file=None,
                 velero_namespace: str = "velero"):
        super().__init__(verbose=verbose)
        self.velero_namespace = velero_namespace
        self.state = ClusterState(ready_delay, node_count, clock, namespace_grace, seed)
        self.timeout_sleep = float(timeout_sleep)
        self.bookmark_interval = 60.0  # seconds between bookmarks on a watch that asked for them
        self.requests: list = []
        self.state_file = StateFile(state_file, self.state) if state_file else None
        self.restored = self.state_file.load() if self.state_file else False

    def start(self, host: str = "127.0.0.1", port: int = 0):
        super().start(host, port)
        if self.state_file:
            self.state_file.start()
        return self

    def stop(self) -> None:
        super().stop()
        if self.state_file:
            self.state_file.stop()

    # --- serving (LoopbackServer) ---------------------------------------------------------------------------

    thread_name = "emulated-kube-api"

    def wsgi_app(self):
        return ApiServer(self)

    # --- settings --------------------------------------------------------------------------------------------

    @property
    def ready_delay(self) -> float:
        return self.state.ready_delay

    @ready_delay.setter
    def ready_delay(self, seconds: float) -> None:
        with self.state.lock:
            self.state.settle()
            self.state.ready_delay = float(seconds)
            self.state.touch()
            self.state.settle()

    @property
    def namespace_grace(self) -> float:
        return self.state.namespace_grace

    @namespace_grace.setter
    def namespace_grace(self, seconds: float) -> None:
        with self.state.lock:
            self.state.namespace_grace = float(seconds)
            self.state.touch()

    @property
    def watch_window(self) -> int:
        return self.state.watch_window

    @watch_window.setter
    def watch_window(self, size: float) -> None:
        """How many changes are kept for watches; a watch from a resourceVersion before them answers 410 Gone."""
        with self.state.lock:
            self.state.set_watch_window(int(size))

    def advance(self, seconds: float) -> None:
        """Move the cluster clock forward (on top of whatever clock it runs on)."""
        with self.state.lock:
            self.state.clock.advance(seconds)
            self.state.changes += 1

    @property
    def certificate_delay(self) -> float:
        manager = self.state.cert_manager
        return self.state.ready_delay if manager.delay is None else manager.delay

    @certificate_delay.setter
    def certificate_delay(self, seconds: float) -> None:
        with self.state.lock:
            self.state.settle()
            self.state.cert_manager.delay = float(seconds)
            self.state.touch()

    def certificate_fails(self, host: str, reason: str = "") -> None:
        """The host's ACME HTTP-01 challenge fails from now on (its DNS points elsewhere, a firewall...)."""
        with self.state.lock:
            self.state.settle()
            self.state.cert_manager.failing_hosts[host.lower()] = reason
            self.state.touch()

    def certificate_failures_clear(self) -> None:
        """Every host's challenge passes from now on (an issuance that ended before now keeps its outcome)."""
        with self.state.lock:
            self.state.settle()
            self.state.cert_manager.failing_hosts.clear()
            self.state.touch()

    # --- faults ----------------------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status=500, method: str | None = None, path_contains: str | None = None):
        """The next n API calls matching method/path fail: 500 or 409 with a Status body, or
        "timeout": the answer (504) comes only after `timeout_sleep` seconds. The call has no effect."""
        with self.state.lock:
            self.state.faults.fail_next(n, status, method, path_contains)

    def crash_loop(self, namespace: str, name_prefix: str) -> None:
        self._pod_fault("crash_loop", namespace, name_prefix)

    def never_ready(self, namespace: str, name_prefix: str) -> None:
        self._pod_fault("never_ready", namespace, name_prefix)

    def image_pull_fails(self, namespace: str, name_prefix: str) -> None:
        self._pod_fault("image_pull_fails", namespace, name_prefix)

    def print_log(self, namespace: str, name_prefix: str, lines: list[str]) -> None:
        """The matching pods' current containers print these lines now, after their own; a second call replaces
        them. What a hostile app could print, for tests of the pages that show logs."""
        with self.state.lock:
            self.state.faults.print_log(namespace, name_prefix, lines, self.state.now())

    def _pod_fault(self, kind: str, namespace: str, name_prefix: str) -> None:
        with self.state.lock:
            self.state.settle()
            self.state.faults.add_pod_fault(kind, namespace, name_prefix, self.state.now())
            self.state.touch()
            self.state.settle()

    def reset_faults(self) -> None:
        """Lift every fault; pods keep their restart counts and carry on healthily."""
        with self.state.lock:
            state = self.state
            state.settle()
            now = state.now()
            for pod in state.items("Pod"):
                life = state.lives.get(pod["metadata"]["uid"])
                if life is not None:
                    pods.keep_history(state, pod, life, now)
            state.faults.pod_faults.clear()
            state.faults.fail_rules.clear()
            state.faults.printed.clear()
            state.velero.faults.clear()
            state.touch()
            state.settle()

    # --- Velero ----------------------------------------------------------------------------------------------

    def velero_installed(self, installed: bool) -> None:
        """Without Velero the velero.io group is not served (404), as on a cluster without its CRDs; its
        objects are kept for when it comes back."""
        with self.state.lock:
            self.state.velero.installed = bool(installed)
            self.state.touch()

    def backup_fails(self, count: int = 1, *, phase: str = "Failed", namespace: str = "",
                     reason: str = "pod volume backup failed: data path error (portal emulator fault)") -> None:
        """The next `count` backups (of `namespace`, or of any) end in `phase` (Failed or PartiallyFailed)."""
        self._velero_fault("backup", count, phase, namespace, reason)

    def restore_fails(self, count: int = 1, *, namespace: str = "", phase: str = "Failed",
                      reason: str = "restore failed half-way: error restoring persistentvolumeclaims "
                                    "(portal emulator fault)") -> None:
        """The next `count` restores (into `namespace`, or any) stop half-way: half their objects are created,
        then the Restore ends in `phase`."""
        self._velero_fault("restore", count, phase, namespace, reason)

    def _velero_fault(self, target: str, count: int, phase: str, namespace: str, reason: str) -> None:
        from .velero import VeleroFault
        if phase not in ("Failed", "PartiallyFailed"):
            raise ValueError("phase must be Failed or PartiallyFailed")
        with self.state.lock:
            self.state.settle()
            self.state.velero.faults.append(VeleroFault(target, int(count), phase, reason, namespace))

    def set_node_ready(self, node_name: str, ready: bool) -> None:
        with self.state.lock:
            self.state.settle()
            self.state.nodes.set_ready(node_name, bool(ready))
            self.state.settle()  # pods waiting for a node are scheduled now, not at the next read

    # --- inspection ------------------------------------------------------------------------------------------

    def objects(self, kind: str, namespace: str | None = None) -> list[dict]:
        """Copies of the stored objects of a kind ("Pod", "Deployment", ...), settled to now."""
        if kind not in BY_KIND or not BY_KIND[kind].stored:
            raise ValueError(f"unknown kind {kind!r}")
        with self.state.lock:
            self.state.settle()
            return copy.deepcopy(self.state.items(kind, namespace))

    def describe(self) -> dict:
        with self.state.lock:
            state = self.state
            state.settle()
            return {"emulator": "kubernetes", "gitVersion": GIT_VERSION, "url": self.url,
                    "clock": state.now(),
                    "settings": {"readyDelay": state.ready_delay, "timeoutSleep": self.timeout_sleep,
                                 "namespaceGrace": state.namespace_grace, "watchWindow": state.watch_window,
                                 "bookmarkInterval": self.bookmark_interval},
                    "nodes": [{"name": name, "ready": state.nodes.readiness(name)[0],
                               "schedulable": state.nodes.schedulable(name)} for name in state.nodes.names()],
                    "faults": state.faults.describe(),
                    "certificates": state.cert_manager.describe(),
                    "velero": {"installed": state.velero.installed,
                               "faults": [vars(f) for f in state.velero.faults]},
                    "counts": {kind: len(state.items(kind)) for kind, info in BY_KIND.items() if info.stored},
                    "requests": len(self.requests)}
