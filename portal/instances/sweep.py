"""Recording pods onto instances' status rows, writing only what changed: the one use case the cluster watcher
calls with the pods that changed and the minute sweep (its fallback) calls with one cluster-wide pod list."""
import gc
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import joinedload

from portal.catalog.models import Plan, Service
from portal.catalog.selectors import template_for
from portal.extensions import db
from portal.instances.models import ResourceSample
from portal.instances.selectors import instance_address
from portal.links import absolute_url
from portal.notifications.selectors import staff_alert_recipients
from portal.notifications.services import email_queue, subscription_email_context
from portal.phrases import N_, Phrase, nphrase, phrase, phrase_english
from portal.provisioning.cluster import cluster_for, quantity
from portal.subscriptions import services as subscriptions
from portal.subscriptions.events import instance_event_record
from portal.subscriptions.models import InstanceStatus, Subscription
from portal.subscriptions.rollouts import ROLLOUT_DONE
from portal.subscriptions.states import WATCHED
from portal.timestamps import utcnow
from portal.unit_of_work import use_case

# Container trouble in words a customer understands.
# Stored in English on the status row and the timeline; read in each reader's language (N_: in the catalog).
PROBLEMS = {
    "CrashLoopBackOff": N_("The app keeps crashing and restarting."),
    "ImagePullBackOff": N_("The app's image could not be downloaded."),
    "ErrImagePull": N_("The app's image could not be downloaded."),
    "CreateContainerConfigError": N_("The app's configuration is invalid."),
    "OOMKilled": N_("The app ran out of memory and was restarted."),
    "Unschedulable": N_("Waiting for room on the cluster."),
    "NotReady": N_("The app is running but not answering its health check yet."),
}


@dataclass
class SweepResult:
    pods: int = 0
    instances: int = 0
    changed: int = 0
    activated: list[int] = field(default_factory=list)
    provisioning: int = 0
    rolling_out: int = 0

    def as_dict(self) -> dict:
        return {"pods": self.pods, "instances": self.instances, "changed": self.changed,
                "activated": self.activated, "provisioning": self.provisioning, "rolling_out": self.rolling_out}


@dataclass
class ComponentHealth:
    phase: str
    ready: bool
    restarts: int
    node: str | None
    problem: str | None


def component_health(pods: list[dict]) -> ComponentHealth:
    """The health of one component from its pods (normally one)."""
    if not pods:
        return ComponentHealth("Missing", False, 0, None, None)
    best = None
    for pod in pods:
        status = pod.get("status", {})
        containers = status.get("containerStatuses") or []
        ready = bool(containers) and all(c.get("ready") for c in containers)
        restarts = sum(c.get("restartCount", 0) for c in containers)
        problem = None
        for container in containers:
            waiting = (container.get("state") or {}).get("waiting") or {}
            terminated = (container.get("lastState") or {}).get("terminated") or {}
            reason = waiting.get("reason") if waiting.get("reason") in PROBLEMS else terminated.get("reason")
            if reason in PROBLEMS and not ready:
                problem = PROBLEMS[reason]
                break
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False" \
                    and condition.get("reason") == "Unschedulable":
                problem = PROBLEMS["Unschedulable"]
        health = ComponentHealth(status.get("phase", "Unknown"), ready, restarts,
                                 pod.get("spec", {}).get("nodeName"), problem)
        if best is None or (health.ready and not best.ready):
            best = health
    return best


def _usage(text: str | None, unit: int) -> float:
    """A metrics quantity in `unit`s; one the parser refuses counts as none rather than stopping the sweep."""
    try:
        return float(quantity(text or "0") / unit)
    except ValueError:
        return 0.0


def _millicores(text: str | None) -> float:
    return _usage(text, 1) * 1000


def _mebibytes(text: str | None) -> float:
    return _usage(text, 2**20)


# A status row as the sweep compares it: (phase, ready, restart_count, node_name, last_error, components).
UNSEEN = ("Unknown", False, 0, None, None, {})


@contextmanager
def _collector_paused():
    """The cyclic garbage collector off while the sweep runs, back as it was after.

    The pod list is one JSON document (~2 KB a pod, 44 MB at 20,000 pods): parsing it allocates millions of
    containers that all stay alive, and CPython's collector traverses the growing heap again and again while
    they are made: three quarters of the parse's time at that size (1.5 s of 2). Nothing the sweep makes needs
    the collector (reference counting frees it); the next collection after the sweep takes what is left.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def instances_sweep() -> SweepResult:
    """List the portal's pods once, update each watched instance's status row if it changed.

    A steady sweep costs one pod list and two reads (the watched instances with their status rows as plain
    rows, and the newest sample's time); status writes, events and emails follow the instances that changed.
    Usage samples (the metrics API, a row per instance) are taken once per SAMPLE_INTERVAL_SECONDS, and with
    them `last_seen_at` is refreshed for every instance whose pods were listed (else it moves only with a change).
    """
    with _collector_paused():
        return _sweep()


def watched_rows(subscription_ids=None) -> list:
    """Every watched instance (or those of `subscription_ids`) with its status row, as plain rows: nothing for the
    session to track or expire."""
    query = (
        select(Subscription.id, Subscription.state, Subscription.namespace, Service.slug,
               InstanceStatus.subscription_id.label("status_id"),
               InstanceStatus.phase, InstanceStatus.ready, InstanceStatus.restart_count, InstanceStatus.node_name,
               InstanceStatus.last_error, InstanceStatus.components, InstanceStatus.rollout,
               InstanceStatus.rollout_started_at, InstanceStatus.rollout_applied_at)
        .join(Plan, Plan.id == Subscription.plan_id).join(Service, Service.id == Plan.service_id)
        .outerjoin(InstanceStatus, InstanceStatus.subscription_id == Subscription.id)
        .where(Subscription.state.in_(WATCHED)))
    if subscription_ids is not None:
        query = query.where(Subscription.id.in_(list(subscription_ids)))
    return db.session.execute(query).all()


def _sweep() -> SweepResult:
    gateway = cluster_for(current_app.config)
    app = current_app._get_current_object()

    def list_pods() -> list[dict]:
        with app.app_context():  # a gateway may look at the app (the bench's naive one reads the database)
            return gateway.list_pods()

    # The pod list (the cluster's time, most of a sweep's) and the database read run side by side.
    with ThreadPoolExecutor(1, thread_name_prefix="sweep-pods") as pool:
        listing = pool.submit(list_pods)
        try:
            watched = watched_rows()
        finally:
            pods = listing.result()  # the cluster's error, if any, is the sweep's
    return pods_record(gateway=gateway, pods=pods, watched=watched)


def pods_record(*, gateway, pods: list[dict], watched: list, sample: bool = True) -> SweepResult:
    """Record these pods onto these watched instances (rows of `watched_rows`): status rows that changed, their
    events, activations of instances that came up and alerts for those that went down.

    `pods` must hold every pod of each instance in `watched` (an instance without any is Missing). The sweep
    passes them all; the watcher passes the instances its events touched. With `sample`, usage is sampled too
    when it is due (the watcher leaves that to the minute task).
    """
    result, to_activate, went_down, now = _statuses_record(gateway, pods, watched, sample)
    for subscription_id in to_activate:
        if _activate(subscription_id):
            result.activated.append(subscription_id)
    if went_down:
        _tell_down(went_down, now)
    return result


@use_case
def usage_sample() -> int:
    """The usage sample when it is due, while the watcher keeps the status rows (the sweep takes it otherwise):
    instances with pods in the metrics API get a sample and their `last_seen_at`."""
    now = utcnow()
    if not _sample_due(now):
        return 0
    ids = {str(row.id) for row in watched_rows()}
    sampled = _record_usage(cluster_for(current_app.config), ids, now)
    if sampled:
        db.session.execute(update(InstanceStatus).where(InstanceStatus.subscription_id.in_([int(i) for i in sampled]))
                           .values(last_seen_at=now).execution_options(synchronize_session=False))
    return len(sampled)


@use_case
def _statuses_record(gateway, pods: list[dict], watched: list, sample: bool = True) -> tuple:
    """Write what changed of every watched instance (status rows, events, usage samples): one transaction."""
    result = SweepResult(pods=len(pods))
    by_subscription: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    # An instance lives in its subscription's namespace; a copy being restored elsewhere is not it (yet).
    namespaces = {str(row.id): row.namespace for row in watched if row.namespace}
    for pod in pods:
        metadata = pod.get("metadata", {})
        labels = metadata.get("labels", {})
        sid = labels.get("portal/subscription", "")
        if sid in namespaces and metadata.get("namespace") != namespaces[sid]:
            continue
        by_subscription[sid][labels.get("app.kubernetes.io/component", "")].append(pod)
    now = utcnow()
    inserts, updates, seen, to_activate, went_down = [], [], [], [], []
    for row in watched:
        template = template_for(row.slug)
        if template is None:
            continue
        result.instances += 1
        mine = by_subscription.get(str(row.id))
        if mine:
            seen.append(row.id)
        components = {c.name: component_health(mine.get(c.name, []) if mine else []) for c in template.components}
        ready = all(h.ready for h in components.values())
        phases = [h.phase for h in components.values()]
        phase = "Running" if all(p == "Running" for p in phases) else next(p for p in phases if p != "Running")
        problem = next((h.problem for h in components.values() if h.problem), None)
        exposed = components[template.exposed_component.name]
        summary = {name: {"phase": h.phase, "ready": h.ready, "restarts": h.restarts, "problem": h.problem}
                   for name, h in components.items()}
        restarts = sum(h.restarts for h in components.values())
        before = UNSEEN if row.status_id is None else (row.phase, row.ready, row.restart_count, row.node_name,
                                                       row.last_error, row.components)
        after = (phase, ready, restarts, exposed.node, problem, summary)
        rollout = _rollout_outcome(gateway, row, ready, now) if row.rollout else None
        if rollout == "rolling":
            result.rolling_out += 1
        if before != after or rollout in ("done", "expired", "moot"):
            result.changed += 1
            if _record_changes(row.id, row.state, before, after,
                               rolling=rollout in ("rolling", "done", "expired")) == "down":
                went_down.append((row.id, problem))
            if rollout == "expired" and not ready:  # not back in time: the outage it now is, alerted once
                instance_event_record(subscription_id=row.id, kind="health.degraded", level="warning",
                                      message=_rollout_late(row))
                went_down.append((row.id, _rollout_late(row)))
            if rollout in ("done", "expired") and ready:
                instance_event_record(subscription_id=row.id, kind="rollout.done", message=ROLLOUT_DONE[row.rollout])
            values = {"subscription_id": row.id, "phase": phase, "ready": ready, "restart_count": restarts,
                      "node_name": exposed.node, "last_error": problem, "components": summary}
            if rollout in ("done", "expired", "moot"):
                values.update(rollout=None, rollout_started_at=None, rollout_applied_at=None)
            if mine:
                values["last_seen_at"] = now
            (inserts if row.status_id is None else updates).append(values)
        if row.state == "provisioning":
            if ready:
                to_activate.append(row.id)
            else:
                result.provisioning += 1
    if inserts:
        db.session.execute(insert(InstanceStatus), inserts)
    for rows in _grouped_by_keys(updates).values():
        # Executemany by primary key, one statement per set of columns (with or without last_seen_at).
        db.session.execute(update(InstanceStatus), rows)
    if sample and _sample_due(now) and _record_usage(gateway, {str(i) for i in seen}, now):
        db.session.execute(update(InstanceStatus).where(InstanceStatus.subscription_id.in_(seen))
                           .values(last_seen_at=now).execution_options(synchronize_session=False))
    return result, to_activate, went_down, now


def _grouped_by_keys(rows: list[dict]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row))].append(row)
    return groups


def _sample_due(now) -> bool:
    """Usage is sampled every SAMPLE_INTERVAL_SECONDS (with 10 % slack, as sweeps do not start on the second)."""
    interval = current_app.config.get("SAMPLE_INTERVAL_SECONDS", 300)
    if interval <= 0:
        return True
    newest = db.session.scalar(select(func.max(ResourceSample.taken_at)))
    if newest is None:
        return True
    return (now - newest).total_seconds() >= interval * 0.9


@use_case
def _tell_down(went_down: list[tuple[int, str | None]], now) -> None:
    """The customer and staff hear once per outage (the key holds the moment it began): every alert of the
    sweep in one transaction, the subscriptions loaded in one query, only for the instances that went down."""
    subscriptions_by_id = {s.id: s for s in db.session.scalars(
        select(Subscription).where(Subscription.id.in_([sid for sid, _ in went_down]))
        .options(joinedload(Subscription.user), joinedload(Subscription.plan).joinedload(Plan.service)))}
    staff = staff_alert_recipients()
    for subscription_id, problem in went_down:
        subscription = subscriptions_by_id.get(subscription_id)
        if subscription is None:
            continue
        key = f"instance-down:{subscription.id}:{now:%Y%m%d%H%M}"
        words = problem or N_("It stopped answering its health check.")
        email_queue(template="instance_down", recipient=subscription.user.email, user_id=subscription.user_id, key=key,
                    context={**subscription_email_context(subscription), "problem": words,
                             "link": absolute_url("instances.show", subscription_id=subscription.id)})
        title = f"Instance down: {subscription.subdomain} (#{subscription.id})"
        for address, user_id in staff.items():
            email_queue(template="staff_alert", recipient=address, user_id=user_id, key=f"{key}:{address}",
                        context={"title": title, "message": phrase_english(words)})


def _rollout_outcome(gateway, row, ready: bool, now) -> str:
    """Where the portal's own rollout on an instance stands: "rolling", "done", "expired" (past
    ROLLOUT_TIMEOUT_SECONDS, an outage if not ready) or "moot" (the instance left `active` meanwhile)."""
    if row.state != "active":
        return "moot"
    started = row.rollout_started_at or now
    if (now - started).total_seconds() > current_app.config["ROLLOUT_TIMEOUT_SECONDS"]:
        return "expired"
    if ready and row.rollout_applied_at is not None and _workloads_rolled_out(gateway, row):
        return "done"
    return "rolling"


def _workloads_rolled_out(gateway, row) -> bool:
    """Every workload of the instance has seen its latest spec and runs only updated, ready replicas (what
    `kubectl rollout status` waits for): ready pods seen just after the change may still be the old ones."""
    for api_version, kind in (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet")):
        for item in gateway.list_objects(api_version, kind, namespace=row.namespace,
                                         selector=f"portal/subscription={row.id}"):
            spec, status = item.get("spec") or {}, item.get("status") or {}
            wanted = spec.get("replicas", 1)
            if status.get("observedGeneration", 0) < item["metadata"].get("generation", 1) \
                    or status.get("updatedReplicas", 0) < wanted or status.get("readyReplicas", 0) < wanted \
                    or status.get("replicas", 0) > wanted:
                return False
    return True


def _rollout_late(row) -> Phrase:
    minutes = max(1, round(current_app.config["ROLLOUT_TIMEOUT_SECONDS"] / 60))
    if row.rollout == "restart":
        return nphrase("Your instance did not come back within %(num)d minute after the restart.",
                       "Your instance did not come back within %(num)d minutes after the restart.", minutes)
    return nphrase("Your instance did not come back within %(num)d minute after the settings change.",
                   "Your instance did not come back within %(num)d minutes after the settings change.", minutes)


def _record_changes(sid: int, state: str, before: tuple, after: tuple, *, rolling: bool = False) -> str | None:
    """Events for what changed between two status tuples; "down" when an active instance stopped being ready.

    While the portal's own rollout runs, pods going away and coming back are expected: no down or healthy event.
    """
    phase, ready, restarts, node, problem, _ = after
    was_phase, was_ready, was_restarts, was_node, was_problem, _ = before
    if node and not was_node and state == "provisioning":
        instance_event_record(subscription_id=sid, kind="step.scheduled",
                              message=phrase("Scheduled on %(node)s.", node=node))
    if phase == "Running" and was_phase != "Running" and state == "provisioning":
        instance_event_record(subscription_id=sid, kind="step.started", message=N_("Containers started."))
    if restarts > was_restarts and was_phase != "Unknown":
        instance_event_record(subscription_id=sid, kind="restarted", level="warning",
                              message=nphrase("Restarted %(num)d time by the cluster.",
                                              "Restarted %(num)d times by the cluster.", restarts - was_restarts))
    if problem and problem != was_problem:
        instance_event_record(subscription_id=sid, kind="health.problem", level="error", message=problem)
    if rolling:
        return None
    if was_ready and not ready and state == "active":
        instance_event_record(subscription_id=sid, kind="health.degraded", level="warning",
                              message=N_("Your instance stopped answering its health check."))
        return "down"
    if ready and not was_ready and state == "active":
        instance_event_record(subscription_id=sid, kind="health.ready", message=N_("Your instance is healthy again."))
    return None


def _record_usage(gateway, watched_ids: set[str], now) -> set[str]:
    """A CPU and memory sample per instance, when the cluster serves the metrics API (one bulk insert).

    Returns the instances sampled (none without a metrics API: then the next sweep asks again).
    """
    if not watched_ids:
        return set()
    metrics = gateway.pod_metrics()
    if not metrics:
        return set()
    usage: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for item in metrics:
        sid = item.get("metadata", {}).get("labels", {}).get("portal/subscription")
        if sid not in watched_ids:
            continue
        for container in item.get("containers", []):
            usage[sid][0] += _millicores(container.get("usage", {}).get("cpu", "0"))
            usage[sid][1] += _mebibytes(container.get("usage", {}).get("memory", "0"))
    if usage:
        db.session.execute(insert(ResourceSample), [
            {"subscription_id": int(sid), "taken_at": now, "cpu_millicores": int(round(cpu)),
             "memory_mb": int(round(memory))} for sid, (cpu, memory) in usage.items()])
    return set(usage)


@use_case
def _activate(subscription_id: int) -> bool:
    subscription = subscriptions.subscription_activate(subscription_id=subscription_id)
    if subscription is None:
        return False
    email_queue(template="instance_ready", recipient=subscription.user.email, user_id=subscription.user_id,
                key=f"instance-ready:{subscription.id}:{int(subscription.state_changed_at.timestamp())}",
                context={"name": subscription.user.name, "app_name": subscription.plan.service.name,
                         "url": instance_address(subdomain=subscription.subdomain).url,
                         "dashboard": absolute_url("home.index")})
    return True
