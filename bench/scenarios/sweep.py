"""Status sweep over 100, 1,000 and 10,000 active instances on the emulated cluster (run in this process).

For each size, a database with exactly that many active subscriptions and a cluster with their pods:
- first sweep: every status row is written (the seed's rows differ from what the cluster reports);
- steady sweep: nothing changed in the cluster;
- sampling sweep: a steady sweep that also takes the usage samples (one sweep in SAMPLE_INTERVAL_SECONDS does);
- changed sweep: 1 % of the instances lost their app pod (the cost should follow these, not the total);
- naive baseline: the same sweep code, but the pods are fetched with one GET per instance (as a sweep without
  the cluster-wide list would), so the ratio isolates the API access pattern.
Wall time, Kubernetes API calls (the emulator's request log) and database statements (a SQLAlchemy
before_cursor_execute counter) for each.
"""
import time
from contextlib import contextmanager
from unittest import mock

import requests
from sqlalchemy import event, select
from sqlalchemy.orm import joinedload

NAME = "sweep"
TARGET_SECONDS, TARGET_API_CALLS = 2.0, 3


class NaiveGateway:
    """The real gateway, except that pods are listed one instance at a time."""

    def __init__(self, gateway):
        self.gateway = gateway

    def list_pods(self, selector=None):
        from portal.extensions import db
        from portal.provisioning.services import instance_target
        from portal.subscriptions.models import Subscription
        from portal.subscriptions.states import WATCHED

        pods = []
        for subscription in _watched(db, Subscription, WATCHED):
            names = instance_target(subscription).names
            pods += self.gateway.list_objects("v1", "Pod", namespace=names.namespace,
                                              selector=f"app.kubernetes.io/instance={names.instance}")
        return pods

    def __getattr__(self, name):
        return getattr(self.gateway, name)


def _watched(db, Subscription, states):
    from portal.catalog.models import Plan

    return db.session.scalars(select(Subscription).where(Subscription.state.in_(states))
                              .options(joinedload(Subscription.plan).joinedload(Plan.service))).all()


@contextmanager
def _statements(engine):
    counter = {"n": 0}

    def count(*_):
        counter["n"] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _measure(kube_url: str, engine, sweep) -> dict:
    from portal.extensions import db

    requests.delete(f"{kube_url}/_emulator/requests", timeout=10)
    db.session.remove()
    with _statements(engine) as statements:
        began = time.perf_counter()
        result = sweep()
        wall = time.perf_counter() - began
    api = requests.get(f"{kube_url}/_emulator/requests", timeout=30).json()
    db.session.remove()
    return {"seconds": round(wall, 3), "api_calls": len(api), "db_statements": statements["n"],
            "instances": result.instances, "changed": result.changed}


def _one_size(bench, size: int) -> dict:
    import portal.instances.sweep as sweep_module
    from bench.run import load_pods, pod_specs
    from portal.extensions import db
    from portal.instances.sweep import instances_sweep
    from portal.provisioning.cluster import cluster_for
    from portal.subscriptions.models import Subscription

    settings = bench.settings
    url = bench.database("sweep", customers=max(1, size // 2), subscriptions=size, state_weights={"active": 1})
    kube = bench.stack.start_kube(ready_delay=0)
    try:
        app = bench.app(url, KUBE_EMULATOR_URL=kube.url, KUBE_TIMEOUT_SECONDS=60)
        with app.app_context():
            subscriptions = _watched(db, Subscription, ("active",))
            load_pods(kube.url, subscriptions)
            changed = subscriptions[:: max(1, round(1 / settings.sweep_changed_share))]
            app_pods = [spec for spec in pod_specs(changed) if spec["labels"]["app.kubernetes.io/component"] == "app"]
            db.session.remove()
            engine = db.engine
            figures = {"instances": size, "first": _measure(kube.url, engine, instances_sweep),
                       "steady": _measure(kube.url, engine, instances_sweep)}
            # The sweep that also samples usage (the metrics API, a row per instance, last_seen_at): one sweep in
            # SAMPLE_INTERVAL_SECONDS (5 minutes) does this; the others are steady sweeps.
            interval = app.config["SAMPLE_INTERVAL_SECONDS"]
            app.config["SAMPLE_INTERVAL_SECONDS"] = 0
            try:
                figures["sampling"] = _measure(kube.url, engine, instances_sweep)
            finally:
                app.config["SAMPLE_INTERVAL_SECONDS"] = interval
            requests.post(f"{kube.url}/_bench/pods", json={"delete": app_pods}, timeout=60).raise_for_status()
            figures["changed"] = _measure(kube.url, engine, instances_sweep)
            figures["changed"]["instances_changed_in_cluster"] = len(app_pods)
            if size in settings.naive_sizes:
                naive = NaiveGateway(cluster_for(app.config))
                with mock.patch.object(sweep_module, "cluster_for", lambda config: naive):
                    figures["naive"] = _measure(kube.url, engine, instances_sweep)
                figures["naive_to_steady_ratio"] = round(figures["naive"]["seconds"] / figures["steady"]["seconds"], 1)
            db.engine.dispose()
    finally:
        bench.stack.stop(kube)
    return figures


def run(bench) -> dict:
    sizes = {size: _one_size(bench, size) for size in bench.settings.sweep_sizes}
    largest = max(sizes)
    top = sizes[largest]
    table = []
    for size, figures in sizes.items():
        for kind in ("steady", "sampling", "changed", "naive"):
            if kind in figures:
                f = figures[kind]
                table.append({"figure": f"{size:,} instances, {kind} ({f['changed']} changed)",
                              "value": f"{f['seconds']:.3f} s, {f['api_calls']} API, {f['db_statements']} SQL"})
        if "naive_to_steady_ratio" in figures:
            table.append({"figure": f"{size:,} instances, naive / steady", "value": figures["naive_to_steady_ratio"],
                          "unit": "x"})
    steady = top["steady"]
    return {
        "sizes": {str(size): figures for size, figures in sizes.items()}, "table": table,
        "targets": [
            {"figure": f"{largest:,} instances, steady sweep wall time", "value": steady["seconds"], "unit": "s",
             "target": f"< {TARGET_SECONDS:g} s", "met": steady["seconds"] < TARGET_SECONDS},
            {"figure": f"{largest:,} instances, API calls per sweep", "value": steady["api_calls"],
             "target": f"<= {TARGET_API_CALLS}", "met": steady["api_calls"] <= TARGET_API_CALLS},
        ],
    }
