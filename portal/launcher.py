"""`make run`: seed, then serve the portal and run its Huey consumer and its cluster watcher together until Ctrl-C."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from portal import create_app
from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.commands import DEV_STAFF_EMAIL, seed_staff
from portal.config import INSTANCE_DIR


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _wait_until_serving(url: str, processes: list, budget: float = 90.0) -> bool:
    """Wait until the web server answers /healthz (its workers have loaded the app), or a process stopped."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline and all(process.poll() is None for process in processes):
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass  # not listening, or its workers still loading the app: ask again
        time.sleep(0.25)
    return False


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "5000"))
    url = f"http://{host}:{port}"
    if not _port_free(host, port):
        print(f"Port {port} on {host} is already in use (another portal running?). "
              f"Stop it, or choose another port: PORT=5001 make run", file=sys.stderr)
        return 2
    os.environ.setdefault("FRONTEND_URL", url)
    processes = []
    kubeconfig = os.environ.get("KUBECONFIG_PATH") or "default kubeconfig"
    cluster_line = f"Cluster: {os.environ.get('KUBE_MODE')} ({kubeconfig})"
    if os.environ.get("KUBE_MODE", "emulated") == "emulated":
        # The emulator is started here only when no real cluster is named: never a stray kubeconfig.
        emulator_port = int(os.environ.get("KUBE_EMULATOR_PORT", "0")) or _free_port(host)
        os.environ["KUBE_EMULATOR_URL"] = f"http://{host}:{emulator_port}"
        state_file = INSTANCE_DIR / "emulated-cluster.json"
        # The cluster is kept under the instance folder: stopping `make run` is the portal restarting, not the
        # cluster vanishing (which would read as every instance down, an alert each).
        processes.append(subprocess.Popen([sys.executable, "-m", "emulators.kube", "--host", host,
                                           "--port", str(emulator_port),
                                           "--ready-delay", os.environ.get("KUBE_EMULATOR_READY_DELAY", "4"),
                                           "--state-file", str(state_file)]))
        cluster_line = (f"Cluster: the EMULATED Kubernetes API at {os.environ['KUBE_EMULATOR_URL']} "
                        f"(no real containers; kept in {state_file})")
    app = create_app()
    with app.app_context():
        catalog_seed(templates=service_templates())
        password = seed_staff()
    bin_dir = os.path.dirname(sys.executable)
    # Two gunicorn workers: their request counters add up in /metrics through files here (emptied per run).
    metrics_dir = INSTANCE_DIR / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    processes += [
        subprocess.Popen([os.path.join(bin_dir, "gunicorn"), "--no-control-socket", "--workers", "2", "--threads", "4",
                          "--graceful-timeout", "5", "--bind", f"{host}:{port}", "--access-logfile", "-", "wsgi:app"]),
        subprocess.Popen([os.path.join(bin_dir, "huey_consumer"), "portal.worker.huey",
                          "--workers", "2", "--worker-type", "thread", "--delay", "0.1", "--max-delay", "1"]),
        # One replica here (deploy/ and compose run two): it takes the Lease and keeps instances' status current.
        subprocess.Popen([sys.executable, "-m", "portal.watcher"]),
    ]
    # The address is printed once it answers: on a busy machine the workers take seconds to load the app, and a
    # newcomer (or a test) opening it at once would otherwise find nothing there.
    if not _wait_until_serving(url, processes):
        print("The web server did not start answering; see the messages above.", file=sys.stderr)
    print("\n" + "=" * 64, flush=True)
    print(f"  Portal is running at {url}")
    print(f"  Staff login: {DEV_STAFF_EMAIL} / {password}")
    print("  Embedded defaults: SQLite, SQLite task queue, email outbox (read it at /admin/outbox)")
    print(f"  {cluster_line}")
    if not os.environ.get("MIDTRANS_SERVER_KEY"):
        print("  Payments: the built-in payment SIMULATOR (no Midtrans keys set; no real money moves)")
    print("  Instance status: the cluster watcher (python -m portal.watcher); the minute sweep if it stops")
    print("  Press Ctrl-C to stop the web server, the worker and the watcher.")
    print("=" * 64 + "\n", flush=True)

    def stop(*_):
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the shutdown
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # gunicorn: quick shutdown; huey and the emulator: graceful
        deadline = time.monotonic() + 10  # one budget for all: a stuck child is killed, not waited on
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        raise SystemExit(0)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    while all(process.poll() is None for process in processes):
        time.sleep(0.5)
    print("A portal process stopped; stopping the other.", file=sys.stderr)
    stop()
    return 1


if __name__ == "__main__":
    sys.exit(main())
