"""Cluster status by watching, at 1,000, 10,000 and 50,000 active instances, beside today's minute sweep.

For each size, a database with that many active subscriptions and a cluster (bench/kube.py, its own process)
with their pods:
- watcher at rest: the watcher (`portal.watcher.run`, lease included) in a thread of this process, after its
  first list and record, for `REST_SECONDS`: the API's bytes sent (watch streams, bookmarks, lease renewals;
  counted by the emulator) and the SQL statements this process ran, both per minute;
- unready to shown: one instance's pods turn unready in the emulator; the time until its status fragment
  (GET /instances/<id> with HX-Request, through gunicorn, logged in as its owner) shows another health badge;
- the naive baseline, today's minute sweep: one full sweep's API bytes and SQL (it runs once a minute, so
  that is its cost per minute at rest), and its worst-case time to show a change (a minute plus the sweep).
"""
import re
import threading
import time

import requests
from sqlalchemy import event, select

from emulators.kube.nodes import HEARTBEAT_SECONDS

NAME = "watch"
FULL_SIZES, SMOKE_SIZES = [1_000, 10_000, 50_000], [20, 60]
# Whole node heartbeat periods (the emulator's nodes post status every 10 s, to every node watch): a window of
# another length would count one heartbeat more or less depending on where it falls.
REST_SECONDS, SMOKE_REST_SECONDS = 6 * HEARTBEAT_SECONDS, HEARTBEAT_SECONDS
TARGET_UNREADY_SECONDS = 2.0
BADGE = re.compile(r'data-testid="health">([^<]*)<')


class _Statements:
    """SQL statements run by this process's engine while counting."""

    def __init__(self, engine):
        self.engine, self.n = engine, 0

    def _count(self, *_):
        self.n += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)


def _bytes(kube_url: str, reset: bool = False) -> int:
    if reset:
        requests.delete(f"{kube_url}/_bench/bytes", timeout=30).raise_for_status()
        return 0
    return requests.get(f"{kube_url}/_bench/bytes", timeout=30).json()["bytes"]


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"gave up waiting for {what} after {timeout:.0f} s")


def _baseline(kube_url: str, engine) -> dict:
    """Today's minute sweep, once: what it costs every minute whether anything changed or not."""
    from portal.extensions import db
    from portal.instances.sweep import instances_sweep

    instances_sweep()  # the first sweep writes the seed's rows; the steady one is the per-minute cost
    db.session.remove()
    _bytes(kube_url, reset=True)
    with _Statements(engine) as sql:
        began = time.perf_counter()
        result = instances_sweep()
        seconds = time.perf_counter() - began
    db.session.remove()
    return {"api_bytes_per_min_at_rest": _bytes(kube_url), "sql_per_min_at_rest": sql.n,
            "unready_to_shown_s": round(60 + seconds, 2),  # worst case: the change just after a sweep
            "sweep_seconds": round(seconds, 3), "instances": result.instances}


def _unready_to_shown(bench, url: str, kube_url: str, sid: int, namespace: str, email: str) -> float:
    from bench.loadgen import login_all
    from bench.seed import PASSWORD

    web = bench.stack.start_web(url, kube_url)
    try:
        cookie = login_all(web.url, [email], PASSWORD)[email]
        headers = {"Cookie": cookie, "HX-Request": "true"}

        last = {}

        def badge() -> str | None:
            answer = requests.get(f"{web.url}/instances/{sid}", headers=headers, timeout=30, allow_redirects=False)
            last["answer"] = f"{answer.status_code} {answer.text[:300]!r}"
            found = BADGE.search(answer.text) if answer.status_code in (200, 286) else None  # 286: settled
            return found.group(1).strip() if found else None

        try:
            before = _wait(badge, 60, "the instance page")
        except RuntimeError as error:
            raise RuntimeError(f"{error}; it answered {last.get('answer')}") from None
        requests.post(f"{kube_url}/_emulator/faults", json={"fault": "never_ready", "namespace": namespace,
                                                            "namePrefix": ""}, timeout=30).raise_for_status()
        began = time.perf_counter()
        _wait(lambda: (badge() or before) != before, 120, "the page to show the instance unready")
        return round(time.perf_counter() - began, 3)
    finally:
        bench.stack.stop(web)


def _one_size(bench, size: int, rest_seconds: float) -> dict:
    from bench.run import load_pods
    from portal.accounts.models import User
    from portal.extensions import db
    from portal.instances.watching import LAST_EVENT
    from portal.provisioning.cluster import cluster_for
    from portal.provisioning.leader import lease_read
    from portal.subscriptions.models import Subscription
    from portal.watcher import run as watcher_run

    url = bench.database("watch", customers=max(1, size // 2), subscriptions=size, state_weights={"active": 1})
    kube = bench.stack.start_kube(ready_delay=0)
    try:
        app = bench.app(url, KUBE_EMULATOR_URL=kube.url, KUBE_TIMEOUT_SECONDS=120)
        with app.app_context():
            subscriptions = db.session.scalars(select(Subscription).where(Subscription.state == "active")).all()
            load_pods(kube.url, subscriptions)
            target = subscriptions[len(subscriptions) // 2]
            sid, namespace = target.id, target.namespace
            email = db.session.scalar(select(User.email).where(User.id == target.user_id))
            db.session.remove()
            engine = db.engine
            figures = {"instances": size, "naive": _baseline(kube.url, engine)}
            config = app.config
            stopping = threading.Event()
            thread = threading.Thread(target=watcher_run, args=(app, stopping, "bench-watcher"), daemon=True)
            started = time.perf_counter()
            thread.start()
            try:
                gateway = cluster_for(config)
                _wait(lambda: (lease_read(gateway, namespace=config["WATCHER_LEASE_NAMESPACE"],
                                          name=config["WATCHER_LEASE_NAME"]) or None) and
                      LAST_EVENT in lease_read(gateway, namespace=config["WATCHER_LEASE_NAMESPACE"],
                                               name=config["WATCHER_LEASE_NAME"]).annotations,
                      600, "the watcher's first list and record")
                figures["first_list_and_record_s"] = round(time.perf_counter() - started, 2)
                _bytes(kube.url, reset=True)
                with _Statements(engine) as sql:
                    time.sleep(rest_seconds)  # the measurement window: at rest, nothing happens in it
                    sent = _bytes(kube.url)
                per_minute = 60.0 / rest_seconds
                figures["watcher"] = {"api_bytes_per_min_at_rest": round(sent * per_minute),
                                      "sql_per_min_at_rest": round(sql.n * per_minute, 1),
                                      "rest_seconds": rest_seconds}
                figures["watcher"]["unready_to_shown_s"] = _unready_to_shown(bench, url, kube.url, sid, namespace,
                                                                             email)
            finally:
                stopping.set()
                thread.join(timeout=30)
            db.engine.dispose()
    finally:
        bench.stack.stop(kube)
    return figures


def run(bench) -> dict:
    smoke = bench.settings.sweep_sizes[-1] < 1_000  # the smoke settings: tiny sizes, a short rest
    sizes = SMOKE_SIZES if smoke else FULL_SIZES
    rest = SMOKE_REST_SECONDS if smoke else REST_SECONDS
    per_size = {size: _one_size(bench, size, rest) for size in sizes}
    watch = {str(size): {key: figures["watcher"][key]
                         for key in ("api_bytes_per_min_at_rest", "sql_per_min_at_rest", "unready_to_shown_s")}
             for size, figures in per_size.items()}
    table = []
    for size, figures in per_size.items():
        w, n = figures["watcher"], figures["naive"]
        api = f"{w['api_bytes_per_min_at_rest']:,} vs {n['api_bytes_per_min_at_rest']:,} API bytes/min"
        table.append({"figure": f"{size:,} instances at rest, watcher vs minute sweep",
                      "value": f"{api}, {w['sql_per_min_at_rest']:g} vs {n['sql_per_min_at_rest']} SQL/min"})
        table.append({"figure": f"{size:,} instances, pod unready to shown", "value": w["unready_to_shown_s"],
                      "unit": "s", "met": w["unready_to_shown_s"] < TARGET_UNREADY_SECONDS,
                      "target": f"< {TARGET_UNREADY_SECONDS:g} s (sweep: up to {n['unready_to_shown_s']} s)"})
    smallest, largest = per_size[min(per_size)]["watcher"], per_size[max(per_size)]["watcher"]
    # Flat: within half again in bytes; in SQL, within one statement per window (the watcher's rollout check runs
    # every 15 s, so a window holds one more or less of them depending on where it falls).
    flat = largest["api_bytes_per_min_at_rest"] <= 1.5 * max(1, smallest["api_bytes_per_min_at_rest"]) and \
        largest["sql_per_min_at_rest"] <= smallest["sql_per_min_at_rest"] + 60.0 / rest
    return {
        "watch": watch, "sizes": {str(size): figures for size, figures in per_size.items()}, "table": table,
        "targets": [
            {"figure": "watcher at rest: API bytes and SQL per minute the same at every size",
             "value": f"{smallest['api_bytes_per_min_at_rest']:,} -> {largest['api_bytes_per_min_at_rest']:,} B/min",
             "target": "flat", "met": flat},
            {"figure": f"{max(per_size):,} instances, pod unready to shown", "value": largest["unready_to_shown_s"],
             "unit": "s", "target": f"< {TARGET_UNREADY_SECONDS:g} s",
             "met": largest["unready_to_shown_s"] < TARGET_UNREADY_SECONDS},
        ],
    }
