"""The cluster watcher's entry module: `python -m portal.watcher` runs one replica; the Lease's holder watches the
cluster and keeps instances' status current, the other stands by to take over (SIGTERM hands the lease back)."""
import logging
import os
import signal
import socket
import sys
import threading

from portal import create_app
from portal.instances.watcher import StatusWatcher
from portal.instances.watching import LAST_EVENT
from portal.provisioning.cluster import cluster_for
from portal.provisioning.leader import LeaderElector, micro_time

logger = logging.getLogger("portal.watcher")


def identity() -> str:
    """The replica's name on the Lease: WATCHER_IDENTITY, else host and process (a pod's hostname is its name)."""
    return os.environ.get("WATCHER_IDENTITY") or f"{socket.gethostname()}-{os.getpid()}"


def _renew(elector: LeaderElector, leading_over: threading.Event, outcome: list) -> None:
    outcome.append(elector.renew_until_lost(leading_over))


def run(app, stopping: threading.Event, name: str) -> None:
    config = app.config
    gateway = cluster_for(config)
    elector = LeaderElector(gateway, namespace=config["WATCHER_LEASE_NAMESPACE"], name=config["WATCHER_LEASE_NAME"],
                            identity=name, lease_seconds=config["WATCHER_LEASE_SECONDS"],
                            renew_deadline_seconds=config["WATCHER_RENEW_DEADLINE_SECONDS"],
                            retry_seconds=config["WATCHER_RETRY_SECONDS"])

    def recorded(moment) -> None:
        elector.annotations[LAST_EVENT] = micro_time(moment)  # published with the next renewal

    while not stopping.is_set():
        logger.info("watcher %s: waiting for the lease %s/%s", name, elector.namespace, elector.name)
        if not elector.acquire(stopping):
            break
        logger.info("watcher %s: leading", name)
        print(f"watcher {name}: leading", flush=True)
        leading_over = threading.Event()  # set when the lease is lost or the process stops
        outcome = []
        renewer = threading.Thread(target=_renew, args=(elector, leading_over, outcome), name="lease-renew",
                                   daemon=True)
        renewer.start()
        watcher = StatusWatcher(app, gateway, on_recorded=recorded)
        watch_thread = threading.Thread(target=watcher.run, args=(leading_over,), name="watcher", daemon=True)
        watch_thread.start()
        while not leading_over.wait(0.5):
            if stopping.is_set():
                leading_over.set()
        watch_thread.join(timeout=10)
        renewer.join(timeout=5)
        if outcome and outcome[0]:
            logger.warning("watcher %s: lost the lease (no renewal within %.0f s); standing by", name,
                           elector.renew_deadline)
    try:
        elector.release()
    except Exception:  # noqa: BLE001 - the other replica takes over when the lease expires anyway
        logger.exception("watcher %s: could not hand the lease back", name)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    name = identity()
    print(f"watcher {name}: started", flush=True)
    run(app, stopping, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
