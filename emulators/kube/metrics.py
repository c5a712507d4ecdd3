"""metrics.k8s.io: plausible CPU and memory usage of running containers, within their limits."""
import hashlib
import math

from . import quantities
from .errors import ApiError
from .logtext import app_of
from .verbs import paginate, select

# Typical usage per app: (cpu cores low, high), (memory bytes low, high).
_PROFILES = {
    "n8n": ((0.015, 0.080), (180 * 2**20, 280 * 2**20)),
    "ghost": ((0.005, 0.040), (120 * 2**20, 190 * 2**20)),
    "wordpress": ((0.002, 0.060), (40 * 2**20, 140 * 2**20)),
    "mysql": ((0.004, 0.030), (360 * 2**20, 460 * 2**20)),
    "postgres": ((0.002, 0.020), (30 * 2**20, 90 * 2**20)),
    "generic": ((0.001, 0.012), (12 * 2**20, 48 * 2**20)),
}
WINDOW_SECONDS = 15


def _wave(seed: str, t: float, period: float) -> float:
    """A smooth value in [0, 1] that drifts over time, different per seed."""
    phase = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF * 2 * math.pi
    return 0.5 + 0.35 * math.sin(t / period + phase) + 0.15 * math.sin(t / (period / 7.3) + 2 * phase)


def container_usage(pod: dict, container: dict, now: float) -> dict:
    (cpu_low, cpu_high), (mem_low, mem_high) = _PROFILES[app_of(container.get("image", ""))]
    seed = f"{pod['metadata']['uid']}/{container['name']}"
    cpu = cpu_low + (cpu_high - cpu_low) * _wave(seed + "/cpu", now, 40.0)
    memory = mem_low + (mem_high - mem_low) * _wave(seed + "/mem", now, 300.0)
    limits = (container.get("resources") or {}).get("limits") or {}
    try:
        if "cpu" in limits:
            cpu = min(cpu, 0.9 * quantities.parse(limits["cpu"]))
        if "memory" in limits:
            memory = min(memory, 0.9 * quantities.parse(limits["memory"]))
    except ValueError:
        pass
    return {"cpu": f"{max(1, int(cpu * 1e9))}n", "memory": f"{max(1, int(memory / 1024))}Ki"}


def pod_metrics(state, pod: dict, now: float) -> dict | None:
    """None when no container of the pod is running (metrics-server lists no such pod)."""
    running = {s["name"] for s in (pod.get("status") or {}).get("containerStatuses") or []
               if "running" in (s.get("state") or {})}
    containers = [c for c in pod["spec"].get("containers") or [] if c["name"] in running]
    if not containers:
        return None
    metadata = pod["metadata"]
    sample = math.floor(now / WINDOW_SECONDS) * WINDOW_SECONDS
    return {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": metadata["name"], "namespace": metadata["namespace"],
                         "labels": dict(metadata.get("labels") or {}),
                         "creationTimestamp": state.clock.stamp(now)},
            "timestamp": state.clock.stamp(sample), "window": f"{WINDOW_SECONDS}s",
            "containers": [{"name": c["name"], "usage": container_usage(pod, c, sample)} for c in containers]}


def node_metrics(state, node: dict, now: float) -> dict:
    name = node["metadata"]["name"]
    sample = math.floor(now / WINDOW_SECONDS) * WINDOW_SECONDS
    cpu, memory = 0.08 + 0.04 * _wave(name, sample, 60.0), (900 + 200 * _wave(name + "/mem", sample, 600.0)) * 2**20
    for pod in state.items("Pod"):
        if pod["spec"].get("nodeName") == name:
            metrics = pod_metrics(state, pod, now)
            for container in (metrics or {}).get("containers", []):
                cpu += quantities.parse(container["usage"]["cpu"])
                memory += quantities.parse(container["usage"]["memory"])
    return {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": name, "labels": dict(node["metadata"].get("labels") or {}),
                         "creationTimestamp": state.clock.stamp(now)},
            "timestamp": state.clock.stamp(sample), "window": f"{WINDOW_SECONDS}s",
            "usage": {"cpu": f"{int(cpu * 1e9)}n", "memory": f"{int(memory / 1024)}Ki"}}


def serve(state, info, namespace: str | None, name: str | None, query) -> dict:
    now = state.now()
    if info.kind == "PodMetrics":
        source = state.items("Pod", namespace)
        made = [m for m in (pod_metrics(state, pod, now) for pod in source) if m is not None]
    else:
        made = [node_metrics(state, node, now) for node in state.items("Node")]
    if name is not None:
        found = next((m for m in made if m["metadata"]["name"] == name), None)
        if found is None:
            raise ApiError(404, "NotFound", f'{info.plural}.metrics.k8s.io "{name}" not found',
                           {"name": name, "group": "metrics.k8s.io", "kind": info.plural})
        return found
    page, metadata = paginate(select(info, made, query), query, state.resource_version)
    return {"kind": info.list_kind, "apiVersion": info.api_version, "metadata": metadata, "items": page}
