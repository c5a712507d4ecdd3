"""The status sweep: one cluster-wide pod list, mapped onto instances, writing only what changed."""
import re
from collections import defaultdict
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.catalog.models import Plan
from portal.catalog.selectors import template_for
from portal.extensions import db
from portal.instances.models import InstanceStatus, ResourceSample
from portal.instances.events import instance_event_record
from portal.links import absolute_url
from portal.notifications.services import email_dispatch, email_queue, staff_alert, subscription_email
from portal.provisioning.cluster import cluster_for
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import Subscription
from portal.timestamps import utcnow

WATCHED_STATES = ("provisioning", "active", "provisioning_failed")
# Container trouble in words a customer understands.
PROBLEMS = {
    "CrashLoopBackOff": "The app keeps crashing and restarting.",
    "ImagePullBackOff": "The app's image could not be downloaded.",
    "ErrImagePull": "The app's image could not be downloaded.",
    "CreateContainerConfigError": "The app's configuration is invalid.",
    "OOMKilled": "The app ran out of memory and was restarted.",
    "Unschedulable": "Waiting for room on the cluster.",
    "NotReady": "The app is running but not answering its health check yet.",
}


@dataclass
class SweepResult:
    pods: int = 0
    instances: int = 0
    changed: int = 0
    activated: list[int] = field(default_factory=list)
    provisioning: int = 0

    def as_dict(self) -> dict:
        return {"pods": self.pods, "instances": self.instances, "changed": self.changed,
                "activated": self.activated, "provisioning": self.provisioning}


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


def _parse_cpu(quantity: str) -> float:
    """Millicores from a Kubernetes CPU quantity (n, u, m or cores)."""
    match = re.fullmatch(r"([0-9.]+)([numk]?)", quantity or "0")
    if not match:
        return 0.0
    value, unit = float(match.group(1)), match.group(2)
    return value * {"n": 1e-6, "u": 1e-3, "m": 1, "": 1000, "k": 1e6}[unit]


def _parse_memory(quantity: str) -> float:
    """Megabytes (MiB) from a Kubernetes memory quantity."""
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", quantity or "0")
    if not match:
        return 0.0
    factors = {"": 1 / 2**20, "Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1000 / 2**20, "M": 1e6 / 2**20,
               "G": 1e9 / 2**20}
    return float(match.group(1)) * factors.get(match.group(2), 0)


def instances_sweep() -> SweepResult:
    """List the portal's pods once, update each watched instance's status row if it changed."""
    gateway = cluster_for(current_app.config)
    pods = gateway.list_pods()
    result = SweepResult(pods=len(pods))
    by_subscription: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for pod in pods:
        labels = pod.get("metadata", {}).get("labels", {})
        by_subscription[labels.get("portal/subscription", "")][labels.get("app.kubernetes.io/component", "")].append(pod)

    watched = db.session.scalars(select(Subscription).where(Subscription.state.in_(WATCHED_STATES))
                                 .options(joinedload(Subscription.plan).joinedload(Plan.service))).all()
    statuses = {s.subscription_id: s for s in db.session.scalars(
        select(InstanceStatus).where(InstanceStatus.subscription_id.in_([w.id for w in watched])))}
    now = utcnow()
    to_activate = []
    went_down = []
    for subscription in watched:
        template = template_for(subscription.plan.service.slug)
        if template is None:
            continue
        result.instances += 1
        components = {c.name: component_health(by_subscription[str(subscription.id)].get(c.name, []))
                      for c in template.components}
        ready = all(h.ready for h in components.values())
        phases = [h.phase for h in components.values()]
        phase = "Running" if all(p == "Running" for p in phases) else next(p for p in phases if p != "Running")
        problem = next((h.problem for h in components.values() if h.problem), None)
        exposed = components[template.exposed_component.name]
        summary = {name: {"phase": h.phase, "ready": h.ready, "restarts": h.restarts, "problem": h.problem}
                   for name, h in components.items()}
        restarts = sum(h.restarts for h in components.values())
        status = statuses.get(subscription.id)
        if status is None:
            status = InstanceStatus(subscription_id=subscription.id, phase="Unknown", ready=False, restart_count=0,
                                    components={})
            db.session.add(status)
        before = (status.phase, status.ready, status.restart_count, status.node_name, status.last_error,
                  status.components)
        after = (phase, ready, restarts, exposed.node, problem, summary)
        if before != after:
            result.changed += 1
            if _record_changes(subscription, status, after) == "down":
                went_down.append((subscription, problem))
            status.phase, status.ready, status.restart_count, status.node_name, status.last_error, \
                status.components = after
        status.last_seen_at = now if by_subscription.get(str(subscription.id)) else status.last_seen_at
        if subscription.state == "provisioning":
            if ready:
                to_activate.append(subscription.id)
            else:
                result.provisioning += 1
    _record_usage(gateway, {str(s.id) for s in watched}, now)
    db.session.commit()
    for subscription_id in to_activate:
        if _activate(subscription_id):
            result.activated.append(subscription_id)
    for subscription, problem in went_down:
        _tell_down(subscription, problem, now)
    return result


def _tell_down(subscription: Subscription, problem: str | None, now) -> None:
    """The customer and staff hear once per outage (the key holds the moment it began)."""
    key = f"instance-down:{subscription.id}:{now:%Y%m%d%H%M}"
    words = problem or "It stopped answering its health check."
    subscription_email(subscription, "instance_down", key=key, problem=words,
                       link=absolute_url("instances.show", subscription_id=subscription.id))
    staff_alert(key=key, title=f"Instance down: {subscription.subdomain} (#{subscription.id})", message=words)


def _record_changes(subscription: Subscription, status: InstanceStatus, after: tuple) -> None:
    phase, ready, restarts, node, problem, _ = after
    sid = subscription.id
    if node and not status.node_name and subscription.state == "provisioning":
        instance_event_record(subscription_id=sid, kind="step.scheduled", message=f"Scheduled on {node}.")
    if phase == "Running" and status.phase != "Running" and subscription.state == "provisioning":
        instance_event_record(subscription_id=sid, kind="step.started", message="Containers started.")
    if restarts > status.restart_count and status.phase != "Unknown":
        instance_event_record(subscription_id=sid, kind="restarted", level="warning",
                              message=f"Restarted {restarts - status.restart_count} time(s) by the cluster.")
    if problem and problem != status.last_error:
        instance_event_record(subscription_id=sid, kind="health.problem", level="error", message=problem)
    if status.ready and not ready and subscription.state == "active":
        instance_event_record(subscription_id=sid, kind="health.degraded", level="warning",
                              message="Your instance stopped answering its health check.")
        return "down"
    if ready and not status.ready and subscription.state == "active":
        instance_event_record(subscription_id=sid, kind="health.ready", message="Your instance is healthy again.")


def _record_usage(gateway, watched_ids: set[str], now) -> None:
    """A CPU and memory sample per instance, when the cluster serves the metrics API."""
    metrics = gateway.pod_metrics()
    if not metrics:
        return
    usage: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for item in metrics:
        sid = item.get("metadata", {}).get("labels", {}).get("portal/subscription")
        if sid not in watched_ids:
            continue
        for container in item.get("containers", []):
            usage[sid][0] += _parse_cpu(container.get("usage", {}).get("cpu", "0"))
            usage[sid][1] += _parse_memory(container.get("usage", {}).get("memory", "0"))
    for sid, (cpu, memory) in usage.items():
        db.session.add(ResourceSample(subscription_id=int(sid), taken_at=now, cpu_millicores=int(round(cpu)),
                                      memory_mb=int(round(memory))))


def _activate(subscription_id: int) -> bool:
    subscription = subscriptions.subscription_activate(subscription_id=subscription_id)
    if subscription is None:
        return False
    url = f"https://{subscription.subdomain}.{current_app.config['K8S_CLUSTER_DOMAIN']}"
    email = email_queue(template="instance_ready", recipient=subscription.user.email, user_id=subscription.user_id,
                        key=f"instance-ready:{subscription.id}:{int(subscription.state_changed_at.timestamp())}",
                        context={"name": subscription.user.name, "app_name": subscription.plan.service.name,
                                 "url": url, "dashboard": absolute_url("home.index")})
    db.session.commit()
    email_dispatch(email)
    return True
