"""Pods: scheduling onto nodes, and the pod status the kubelet would report at the current cluster time."""
import hashlib
import math
from dataclasses import dataclass

from . import lifecycle
from .lifecycle import ContainerView, PodClock, Run


@dataclass
class PodLife:
    """What the emulator remembers about a pod beyond its object: its clock and history."""
    created: float
    namespace: str = ""
    name: str = ""
    scheduled_at: float | None = None
    node: str | None = None
    ip: str | None = None
    origin: float | None = None
    banked_restarts: int = 0
    banked_last: Run | None = None
    fresh_until: float = -math.inf  # the status stays valid until then, unless the epoch moves
    epoch: int = -1
    timer: float | None = None  # the wake-up queued for this pod in the state's timer heap


def clock_of(state, life: PodLife) -> PodClock:
    return PodClock(life.origin, state.ready_delay, life.banked_restarts, life.banked_last)


def schedule(state, pod: dict, life: PodLife, now: float) -> bool:
    """Bind an unscheduled pod to the next Ready, schedulable node (round robin); False if none."""
    if life.node:
        return True
    wanted = pod["spec"].get("nodeName")
    node = wanted if wanted in state.nodes.names() else state.nodes.pick()
    if node is None:
        return False
    life.node, life.scheduled_at, life.origin = node, now, now
    life.ip = state.nodes.allocate_ip(node)
    pod["spec"]["nodeName"] = node
    return True


def view(state, pod: dict, life: PodLife, container: dict, now: float) -> ContainerView:
    fault = state.faults.pod_fault(pod)
    clock = clock_of(state, life)
    if fault is None:
        return lifecycle.healthy(clock, now)
    if fault.kind == "image_pull_fails" and fault.since <= clock.starts_at:
        return lifecycle.image_pull_failing(clock, now)
    if fault.kind == "crash_loop":
        return lifecycle.crash_looping(clock, fault.since, now)
    if fault.kind == "never_ready":
        return lifecycle.never_ready(clock, now)
    return lifecycle.healthy(clock, now)


def keep_history(state, pod: dict, life: PodLife, now: float) -> None:
    """Called while a fault still applies, just before it is lifted: the container keeps its restart
    count and last crash, and carries on healthily from now."""
    fault = state.faults.pod_fault(pod)
    if fault is None or life.origin is None or not pod["spec"].get("containers"):
        return
    sample = view(state, pod, life, pod["spec"]["containers"][0], now)
    if fault.kind == "crash_loop" and sample.state == "waiting" and sample.current is not None:
        life.banked_restarts, life.banked_last = sample.restarts + 1, sample.current
        life.origin = now - state.ready_delay / 2  # restarts now, and this time it stays up
    elif fault.kind == "crash_loop" and sample.state == "running":
        life.banked_restarts, life.banked_last = sample.restarts, sample.previous
        life.origin = sample.current.start - state.ready_delay / 2  # the current run simply stops crashing
    elif fault.kind == "image_pull_fails" and sample.reason in ("ErrImagePull", "ImagePullBackOff"):
        life.origin = now  # the next pull succeeds


def refresh(state, pod: dict, life: PodLife, now: float) -> float:
    """Recompute the pod's status if it may have changed; returns when it next changes by itself."""
    if life.epoch == state.epoch and now < life.fresh_until:
        return life.fresh_until
    if life.node is None:
        schedule(state, pod, life, now)
    status, next_change = build_status(state, pod, life, now)
    life.epoch, life.fresh_until = state.epoch, next_change
    state.set_status(pod, status)
    return next_change


def build_status(state, pod: dict, life: PodLife, now: float) -> tuple[dict, float]:
    spec = pod["spec"]
    status = {"qosClass": qos_class(spec)}
    if life.node is None:
        ready_nodes = state.nodes.count_schedulable()
        status.update(phase="Pending", conditions=[_condition(
            state, "PodScheduled", False, life.created, "Unschedulable",
            f"0/{len(state.nodes.names())} nodes are available: "
            f"{len(state.nodes.names()) - ready_nodes} node(s) were not ready or unschedulable.")])
        return status, math.inf
    clock = clock_of(state, life)
    node_ready, node_changed = state.nodes.readiness(life.node)
    views, next_change = {}, math.inf
    for container in spec["containers"]:
        item = view(state, pod, life, container, now)
        if not node_ready:
            item.ready = False
        if item.reason == "ContainerCreating" and spec.get("initContainers"):
            item.reason = "PodInitializing"
        views[container["name"]] = item
        next_change = min(next_change, item.next_change)
    pulling = any(v.state == "waiting" and v.reason in ("ErrImagePull", "ImagePullBackOff") for v in views.values())
    started = now >= clock.starts_at
    all_ready = all(v.ready for v in views.values())
    not_ready = [name for name, v in views.items() if not v.ready]
    ready_since = max(clock.ready_at, node_changed) if all_ready else \
        max(life.scheduled_at, node_changed if not node_ready else life.scheduled_at)
    fault = state.faults.pod_fault(pod)
    if not all_ready and fault is not None and fault.kind == "crash_loop" and fault.since > clock.ready_at:
        ready_since = max(ready_since, fault.since)
    reason = None if all_ready else "ContainersNotReady"
    message = None if all_ready else f"containers with unready status: [{' '.join(not_ready)}]"
    init_containers = spec.get("initContainers") or []
    conditions = [
        _condition(state, "PodReadyToStartContainers", True, life.scheduled_at),
        _condition(state, "Initialized", not init_containers or started,
                   clock.starts_at if init_containers and started else life.scheduled_at,
                   None if not init_containers or started else "ContainersNotInitialized"),
        _condition(state, "Ready", all_ready, ready_since, reason, message),
        _condition(state, "ContainersReady", all_ready, ready_since, reason, message),
        _condition(state, "PodScheduled", True, life.scheduled_at),
    ]
    host_ip = state.nodes.ip(life.node)
    status.update(phase="Pending" if pulling or not started else "Running", conditions=conditions,
                  hostIP=host_ip, hostIPs=[{"ip": host_ip}], podIP=life.ip, podIPs=[{"ip": life.ip}],
                  startTime=state.clock.stamp(life.scheduled_at))
    if init_containers:
        status["initContainerStatuses"] = [_init_status(state, pod, c, clock, now) for c in init_containers]
    status["containerStatuses"] = [_container_status(state, pod, c, views[c["name"]]) for c in spec["containers"]]
    if init_containers and not started:
        next_change = min(next_change, clock.starts_at)
    return status, next_change


def _condition(state, kind: str, ok: bool, since: float, reason: str | None = None,
               message: str | None = None) -> dict:
    condition = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None,
                 "lastTransitionTime": state.clock.stamp(since)}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def container_id(pod: dict, name: str, run: Run) -> str:
    digest = hashlib.sha256(f"{pod['metadata']['uid']}/{name}/{run.index}".encode()).hexdigest()
    return f"emulated://{digest}"


def image_id(image: str) -> str:
    reference = image.split("@")[0]
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        reference = reference[: len(reference) - len(last)] + last.split(":")[0]
    if "/" not in reference:
        reference = f"docker.io/library/{reference}"
    elif "." not in reference.split("/")[0] and ":" not in reference.split("/")[0]:
        reference = f"docker.io/{reference}"
    return f"{reference}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _terminated(state, pod, name: str, run: Run) -> dict:
    return {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": state.clock.stamp(run.start),
                           "finishedAt": state.clock.stamp(run.end), "containerID": container_id(pod, name, run)}}


def _container_status(state, pod: dict, container: dict, item: ContainerView) -> dict:
    name, image = container["name"], container["image"]
    status = {"name": name, "image": image, "imageID": "", "ready": item.ready, "restartCount": item.restarts,
              "started": item.state == "running", "lastState": {}}
    if item.state == "running":
        status["state"] = {"running": {"startedAt": state.clock.stamp(item.current.start)}}
    else:
        waiting = {"reason": item.reason}
        if item.reason == "CrashLoopBackOff":
            waiting["message"] = f"{item.message}={name} pod={pod['metadata']['name']}_" \
                                 f"{pod['metadata']['namespace']}({pod['metadata']['uid']})"
        elif item.reason == "ImagePullBackOff":
            waiting["message"] = f'Back-off pulling image "{image}"'
        elif item.reason == "ErrImagePull":
            waiting["message"] = f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": ' \
                                 f'not found'
        status["state"] = {"waiting": waiting}
    if item.current is not None:
        status["imageID"] = image_id(image)
        status["containerID"] = container_id(pod, name, item.current)
    last = lifecycle.last_terminated(item)
    if last is not None and last.end is not None:
        status["lastState"] = _terminated(state, pod, name, last)
    return status


def _init_status(state, pod: dict, container: dict, clock: PodClock, now: float) -> dict:
    name, image = container["name"], container["image"]
    run = Run(0, clock.origin, clock.starts_at)
    status = {"name": name, "image": image, "imageID": image_id(image), "ready": now >= clock.starts_at,
              "restartCount": 0, "started": now < clock.starts_at, "lastState": {},
              "containerID": container_id(pod, name, run)}
    if now >= clock.starts_at:
        status["state"] = {"terminated": {"exitCode": 0, "reason": "Completed",
                                          "startedAt": state.clock.stamp(clock.origin),
                                          "finishedAt": state.clock.stamp(clock.starts_at),
                                          "containerID": status["containerID"]}}
    else:
        status["state"] = {"running": {"startedAt": state.clock.stamp(clock.origin)}}
    return status


def qos_class(spec: dict) -> str:
    containers = spec.get("containers") or []
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        if not all(k in limits for k in ("cpu", "memory")):
            return "Burstable"
        if any(requests.get(k, limits[k]) != limits[k] for k in ("cpu", "memory")):
            return "Burstable"
    return "Guaranteed"
