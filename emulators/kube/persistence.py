"""The emulated cluster kept in a file: loaded at start, saved (atomically) when it changed, so it outlives restarts."""
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

from .faults import PodFault
from .lifecycle import Run
from .pods import PodLife

FORMAT = 1
SAVE_INTERVAL_SECONDS = 1.0  # a burst of writes (one instance's provisioning) is saved once, not per call


def snapshot(state) -> bytes:
    """Everything a restarted emulator needs to answer as before; the caller holds `state.lock`."""
    return orjson.dumps({
        "format": FORMAT,
        "clock": state.clock.snapshot(),
        "resourceVersion": state.resource_version,
        "serviceIps": state._service_ips,
        "objects": {kind: state.items(kind) for kind in state._objects},
        "lives": {uid: _life(life) for uid, life in state.lives.items()},
        "rollouts": state.rollouts,
        "createFailures": state.create_failures,
        "deadlines": {uid: when for uid, when in state.deadlines.items() if math.isfinite(when)},
        "terminating": state.terminating,
        "podFaults": [vars(fault) for fault in state.faults.pod_faults],
        "nodes": state.nodes.snapshot(),
        "velero": {"installed": state.velero.installed, "snapshots": state.velero.snapshots},
    })


def _life(life: PodLife) -> dict:
    # Only what the pod's history is made of; its cached status and timer are recomputed after loading.
    return {"created": life.created, "namespace": life.namespace, "name": life.name,
            "scheduledAt": life.scheduled_at, "node": life.node, "ip": life.ip, "origin": life.origin,
            "bankedRestarts": life.banked_restarts,
            "bankedLast": vars(life.banked_last) if life.banked_last is not None else None}


def restore(state, data: bytes) -> None:
    """Replace the state's objects and histories with a snapshot's; the caller holds `state.lock`."""
    saved = orjson.loads(data)
    if saved.get("format") != FORMAT:
        raise ValueError(f"unknown state file format {saved.get('format')!r}")
    state.clock.resume(saved["clock"])
    state.load_objects(saved["objects"], int(saved["resourceVersion"]))
    state._service_ips = saved["serviceIps"]
    state.lives = {uid: PodLife(created=life["created"], namespace=life["namespace"], name=life["name"],
                                scheduled_at=life["scheduledAt"], node=life["node"], ip=life["ip"],
                                origin=life["origin"], banked_restarts=life["bankedRestarts"],
                                banked_last=Run(**life["bankedLast"]) if life["bankedLast"] else None)
                   for uid, life in saved["lives"].items()}
    state.rollouts = {uid: tuple(rollout) for uid, rollout in saved["rollouts"].items()}
    state.create_failures = dict(saved["createFailures"])
    velero = saved.get("velero") or {}
    state.velero.installed = velero.get("installed", True)
    state.velero.snapshots = velero.get("snapshots") or {}
    state.deadlines = dict(saved["deadlines"])
    state.terminating = dict(saved["terminating"])
    state.faults.pod_faults = [PodFault(**fault) for fault in saved["podFaults"]]
    state.nodes.restore(saved["nodes"])
    state.touch()  # every pod's status is recomputed from its history on the next read


def write_atomically(path: Path, data: bytes) -> None:
    """Readers (and a crash mid-write) see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class StateFile:
    """The file one emulated cluster lives in; a thread saves the state a moment after it changed."""

    def __init__(self, path, state):
        self.path = Path(path)
        self.state = state
        self._saved = None  # the state's change count when last saved
        self._writing = threading.Lock()  # one save at a time: an older snapshot never replaces a newer one
        self._stop = threading.Event()
        self._thread = None

    def load(self) -> bool:
        """Take the state from the file; False when there is none (a new cluster), or it cannot be read."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return False
        with self.state.lock:
            try:
                restore(self.state, data)
            except (ValueError, KeyError, TypeError) as error:
                # A cluster that cannot be read is set aside, not lost: the emulator starts empty beside it.
                aside = self.path.with_name(f"{self.path.name}.unreadable-{int(time.time())}")
                self.path.replace(aside)
                print(f"Emulated cluster state {self.path} could not be read ({error}); kept as {aside}, "
                      f"starting an empty cluster.", file=sys.stderr)
                return False
            self._saved = self.state.changes
        return True

    def save(self) -> bool:
        """Write the state if it changed since the last save."""
        with self._writing:
            with self.state.lock:
                if self.state.changes == self._saved:
                    return False
                changes, data = self.state.changes, snapshot(self.state)
            write_atomically(self.path, data)
            self._saved = changes
            return True

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="emulated-kube-state", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAVE_INTERVAL_SECONDS):
            try:
                self.save()
            except OSError as error:  # a full disk must not stop the API; the next change tries again
                print(f"Emulated cluster state not saved to {self.path}: {error}", file=sys.stderr)

    def stop(self) -> None:
        """Stop the saving thread and save what changed since its last round."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.save()
