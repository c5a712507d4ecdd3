"""What a bench run stands on: its own databases, Redis db, emulators, gunicorn, a Huey consumer, an SMTP server,
and a sampler of every child's memory. Each piece starts on a free loopback port and stops by its own pid."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
MIDTRANS_SERVER_KEY = "SB-Mid-server-bench"
SECRET_KEY = "bench-secret-key-not-for-production"
# gunicorn as portal.launcher starts it: 2 workers x 4 threads on this 2-core machine.
GUNICORN_WORKERS, GUNICORN_THREADS = 2, 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"


def _admin_engine():
    return sa.create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                            isolation_level="AUTOCOMMIT")


def database_drop(name: str) -> None:
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def database_create(name: str, template: str | None = None) -> str:
    """A fresh database (dropped first if left over); from `template` when given, else empty."""
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    engine.dispose()
    return pg_url(name)


def portal_config(database_url: str, **extra) -> dict:
    """The app configuration every bench process shares (the children get the same through env())."""
    return {"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY, "RATELIMIT_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://", **extra}


def database_migrate(name: str) -> str:
    """An empty database with the schema from the migrations (as `flask db upgrade` makes it)."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db

    url = database_create(name)
    app = create_app(portal_config(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


@dataclass
class Child:
    """One subprocess of the run, with its log file; stopped by its own pid."""
    role: str
    process: subprocess.Popen
    log: Path
    url: str | None = None

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # gunicorn: quick shutdown; huey and emulators: graceful
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    """The run's shared settings and its running children."""
    name: str  # the database name; derived databases are <name>_flow, <name>_sweep ...
    redis_db: int
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="portal-bench-")))
    children: list[Child] = field(default_factory=list)
    smtp_port: int | None = None
    midtrans_url: str | None = None
    sampler: "MemorySampler | None" = None

    @property
    def redis_url(self) -> str:
        return f"{REDIS_BASE}/{self.redis_db}"

    def env(self, database_url: str, kube_url: str | None = None, web_url: str | None = None, **extra) -> dict:
        """Environment for gunicorn and the consumer (portal/config.py reads it)."""
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": self.redis_url, "SECRET_KEY": SECRET_KEY,
               "PORTAL_INSTANCE_DIR": str(self.workdir / "instance"), "RATELIMIT_ENABLED": "0",
               "KUBE_MODE": "emulated", "KUBE_EMULATOR_URL": kube_url or "http://127.0.0.1:9",
               "KUBE_TIMEOUT_SECONDS": "10", "WATCH_INTERVAL_SECONDS": "0.5",
               "PROVISION_RETRY_BASE_SECONDS": "0.5", "FRONTEND_URL": web_url or "http://127.0.0.1:5000",
               "PYTHONPATH": str(ROOT), "FLASK_APP": "wsgi.py"}
        if self.midtrans_url:
            env.update(MIDTRANS_SERVER_KEY=MIDTRANS_SERVER_KEY, MIDTRANS_CLIENT_KEY="SB-Mid-client-bench",
                       MIDTRANS_SNAP_BASE_URL=f"{self.midtrans_url}/snap/v1", MIDTRANS_CORE_BASE_URL=self.midtrans_url)
        if self.smtp_port:
            env.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(self.smtp_port), MAIL_USE_TLS="0", MAIL_USE_SSL="0")
        env.update(extra)
        return env

    def _spawn(self, role: str, argv: list[str], env: dict | None = None, url: str | None = None) -> Child:
        log = self.workdir / f"{role}-{len(self.children)}.log"
        handle = open(log, "wb")
        process = subprocess.Popen(argv, cwd=ROOT, env=env or {**os.environ, "PYTHONPATH": str(ROOT)},
                                   stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        handle.close()
        child = Child(role, process, log, url)
        self.children.append(child)
        if self.sampler:
            self.sampler.watch(child)
        return child

    def _wait_http(self, child: Child, path: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.role} exited with {child.process.returncode}:\n{child.tail()}")
            try:
                requests.get(child.url + path, timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        child.stop()
        raise RuntimeError(f"{child.role} did not answer on {child.url} within {timeout} s:\n{child.tail()}")

    # -- the pieces -------------------------------------------------------------------------------------------

    def start_kube(self, ready_delay: float = 0.0) -> Child:
        """The emulated cluster in its own process, plus the bench's bulk-pod endpoint (bench/kube.py)."""
        port = free_port()
        child = self._spawn("kube", [sys.executable, "-m", "bench.kube", "--port", str(port),
                                     "--ready-delay", str(ready_delay)], url=f"http://127.0.0.1:{port}")
        self._wait_http(child, "/healthz")
        return child

    def start_midtrans(self) -> Child:
        port = free_port()
        child = self._spawn("midtrans", [sys.executable, "-m", "emulators.midtrans", "--port", str(port),
                                         "--server-key", MIDTRANS_SERVER_KEY], url=f"http://127.0.0.1:{port}")
        self._wait_http(child, "/_emulator")
        self.midtrans_url = child.url
        return child

    def start_web(self, database_url: str, kube_url: str | None) -> Child:
        """gunicorn serving the portal (with /bench-hello added by bench/hello.py)."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [str(BIN / "gunicorn"), "--workers", str(GUNICORN_WORKERS), "--threads", str(GUNICORN_THREADS),
                "--graceful-timeout", "5", "--bind", f"127.0.0.1:{port}", "bench.hello:app"]
        child = self._spawn("web", argv, self.env(database_url, kube_url, url), url=url)
        self._wait_http(child, "/bench-hello", timeout=60)
        if self.sampler:
            self.sampler.watch(child)  # again, now that the workers exist
        return child

    def start_consumer(self, database_url: str, kube_url: str | None, web_url: str | None) -> Child:
        """A Huey consumer as `make run` starts it, without the periodic tasks (they would sweep seeded rows)."""
        argv = [str(BIN / "huey_consumer"), "portal.worker.huey", "--workers", "2", "--worker-type", "thread",
                "--delay", "0.1", "--max-delay", "1", "--no-periodic"]
        return self._spawn("consumer", argv, self.env(database_url, kube_url, web_url))

    def stop(self, child: Child) -> None:
        child.stop()
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.children)):
            self.stop(child)

    def redis_flush(self) -> None:
        import redis

        redis.Redis.from_url(self.redis_url).flushdb()


class MemorySampler:
    """Peak RSS per role (web worker, consumer, ...) sampled every 0.2 s, per scenario and overall."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self._children: list[Child] = []
        self._lock = threading.Lock()
        self.peaks: dict[str, dict[str, float]] = {}  # scenario -> role -> MiB
        self.scenario = "setup"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def start(self) -> "MemorySampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def watch(self, child: Child) -> None:
        with self._lock:
            if child not in self._children:
                self._children.append(child)

    def _sample(self) -> None:
        with self._lock:
            children = [c for c in self._children if c.process.poll() is None]
            self._children = children
        for child in children:
            try:
                parent = psutil.Process(child.process.pid)
                if child.role == "web":  # the master only forks; what serves is its workers
                    measured = [("web worker", p) for p in parent.children()]
                else:
                    measured = [(child.role, parent)]
                for role, process in measured:
                    rss = process.memory_info().rss / 2**20
                    for scope in (self.scenario, "all"):
                        bucket = self.peaks.setdefault(scope, {})
                        bucket[role] = max(bucket.get(role, 0.0), rss)
            except psutil.Error:
                continue

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()


def cpu_seconds_by_part(stack: "Stack") -> dict[str, dict[tuple[int, float], float]]:
    """CPU seconds used so far by each process of each part of the run on these shared cores: the web workers,
    the emulators, the consumer, PostgreSQL, Redis, and this process (the load generator). Kept per process
    (pid and start time), because processes come and go between two readings (PostgreSQL backends end with
    their connection): a part's sum would shrink when one ends, and a per-request figure go negative."""
    readings: dict[str, dict[tuple[int, float], float]] = {}

    def add(part: str, process: psutil.Process) -> None:
        try:
            with process.oneshot():
                times, started = process.cpu_times(), process.create_time()
        except psutil.Error:
            return
        readings.setdefault(part, {})[(process.pid, started)] = times.user + times.system

    for child in list(stack.children):
        try:
            parent = psutil.Process(child.process.pid)
            for process in [parent, *parent.children(recursive=True)]:
                add(child.role, process)
        except psutil.Error:
            continue
    for process in psutil.process_iter(["name", "cmdline"]):
        name = process.info["name"] or ""
        if name.startswith("postgres"):
            if _serves_run(process.info["cmdline"], stack.name):
                add("postgresql", process)
        elif name.startswith("redis-server"):
            add("redis", process)
    add("generator", psutil.Process())
    return readings


def _serves_run(cmdline: list[str] | None, database: str) -> bool:
    """A PostgreSQL backend of this run's databases: its title reads "postgres: 15/main: USER DATABASE HOST(PORT)
    STATE" (or "... autovacuum worker DATABASE"). The server is shared with whatever else runs on the machine
    (other checkouts' test suites): their backends' CPU is not this run's. The server's own background processes
    (checkpointer, WAL writer) are left out too: they work for every database, and are small."""
    words = " ".join(cmdline or []).split()
    return any(word == database or word.startswith(database + "_") for word in words[2:])


def cpu_per_request_ms(before: dict, after: dict, requests: int) -> dict[str, float]:
    """Each part's CPU milliseconds per request between two cpu_seconds_by_part() readings, and their sum:
    what each process alive at the end used since the first reading (all of it, if it started since). A
    process that ended in between is not counted: its last seconds are not known."""
    parts = {}
    for part, processes in after.items():
        earlier = before.get(part, {})
        used = sum(seconds - earlier.get(key, 0.0) for key, seconds in processes.items())
        parts[part] = round(used * 1000 / max(requests, 1), 2)
    return {**dict(sorted(parts.items(), key=lambda item: -item[1])), "total": round(sum(parts.values()), 2)}


def server_side(cpu_ms: dict) -> float:
    """What serving cost, without the load generator's own share."""
    return round(cpu_ms["total"] - cpu_ms.get("generator", 0.0), 2)


def cpu_lines(label: str, cpu_ms: dict | None) -> list[dict]:
    """Table lines: each process's CPU per request, and the rate all cores could serve at that cost."""
    if not cpu_ms:
        return []
    capacity = (os.cpu_count() or 1) * 1000 / cpu_ms["total"] if cpu_ms["total"] else 0
    return [{"figure": f"CPU per request, {label}, by process", "unit": "ms",
             "value": " · ".join(f"{part} {ms}" for part, ms in cpu_ms.items())},
            {"figure": "  at that cost, every core busy would serve at most", "unit": "/s", "value": round(capacity)}]


def python_loop_seconds(iterations: int = 5_000_000, repeats: int = 3) -> float:
    """This machine's speed for plain Python: the best of a few runs of a fixed loop (CPU seconds).

    Machines of one kind differ, and a shared one changes speed within minutes; this puts runs side by side.
    """
    best = float("inf")
    for _ in range(repeats):
        began, total = time.process_time(), 0
        for number in range(iterations):
            total += number
        best = min(best, time.process_time() - began)
    return round(best, 3)


def machine_facts() -> dict:
    import platform

    facts = {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
             "python": platform.python_version(), "platform": platform.platform(),
             "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
             "python_loop_seconds_at_start": python_loop_seconds()}
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
        facts["cpu_model"] = model
    except (OSError, StopIteration):
        pass
    try:
        engine = _admin_engine()
        with engine.connect() as conn:
            facts["postgresql"] = conn.execute(sa.text("SHOW server_version")).scalar()
        engine.dispose()
    except sa.exc.SQLAlchemyError:
        pass
    return facts


def git_revision() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
