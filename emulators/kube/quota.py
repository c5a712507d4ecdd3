"""ResourceQuota: usage in status.used, and admission of pods that would exceed it (as the real quota admission)."""
from . import quantities
from .errors import ApiError
from .kinds import KINDS

_COMPUTE = {"requests.cpu": ("requests", "cpu"), "cpu": ("requests", "cpu"), "limits.cpu": ("limits", "cpu"),
            "requests.memory": ("requests", "memory"), "memory": ("requests", "memory"),
            "limits.memory": ("limits", "memory"),
            "requests.ephemeral-storage": ("requests", "ephemeral-storage"),
            "ephemeral-storage": ("requests", "ephemeral-storage"),
            "limits.ephemeral-storage": ("limits", "ephemeral-storage")}
# Only these must be named by every container when a quota tracks them; the real evaluator keeps the list to
# CPU and memory on purpose ("we should not repeat this mistake for other future resources (gpus,
# ephemeral-storage, etc)", kubernetes pkg/quota/v1/evaluator/core/pods.go): a pod without an ephemeral-storage
# limit is admitted and counted as zero, which is why the namespace's LimitRange gives it a default.
_MUST_SPECIFY = {"requests.cpu", "cpu", "limits.cpu", "requests.memory", "memory", "limits.memory"}
_COUNTED = {"pods": "Pod", "services": "Service", "secrets": "Secret", "configmaps": "ConfigMap",
            "persistentvolumeclaims": "PersistentVolumeClaim"}


def _pod_amount(pod: dict, resource: str) -> float:
    section, name = _COMPUTE[resource]
    total = 0.0
    for container in pod["spec"].get("containers") or []:
        amount = ((container.get("resources") or {}).get(section) or {}).get(name)
        if amount is None and section == "requests":
            amount = ((container.get("resources") or {}).get("limits") or {}).get(name)
        total += quantities.parse(amount) if amount is not None else 0.0
    return total


def _missing(pod: dict, resource: str) -> list[str]:
    section, name = _COMPUTE[resource]
    missing = []
    for container in pod["spec"].get("containers") or []:
        resources = container.get("resources") or {}
        if name not in (resources.get(section) or {}) and not (section == "requests"
                                                                and name in (resources.get("limits") or {})):
            missing.append(container["name"])
    return missing


def usage(state, namespace: str, resource: str) -> float | None:
    if resource in _COMPUTE:
        return sum(_pod_amount(pod, resource) for pod in state.items("Pod", namespace))
    if resource in _COUNTED:
        return float(len(state.items(_COUNTED[resource], namespace)))
    if resource == "requests.storage":
        total = 0.0
        for claim in state.items("PersistentVolumeClaim", namespace):
            amount = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
            total += quantities.parse(amount) if amount else 0.0
        return total
    if resource.startswith("count/"):
        plural, _, _group = resource[len("count/"):].partition(".")
        for info in KINDS:
            if info.plural == plural and info.stored and info.namespaced:
                return float(len(state.items(info.kind, namespace)))
    return None


def refresh(state, namespaces: set | None) -> None:
    """Recount usage of the quotas in these namespaces (None: everywhere)."""
    quotas = state.items("ResourceQuota") if namespaces is None else \
        [q for namespace in sorted(namespaces) for q in state.items("ResourceQuota", namespace)]
    for quota in quotas:
        namespace = quota["metadata"]["namespace"]
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        used = {}
        for resource in hard:
            amount = usage(state, namespace, resource)
            if amount is not None:
                used[resource] = quantities.of(resource, amount)
        state.set_status(quota, {"hard": hard, "used": used})


def admit_pod(state, pod: dict) -> None:
    """Raise 403 Forbidden when a pod lacks a constrained resource or would exceed a quota."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    for quota in state.items("ResourceQuota", namespace):
        hard = (quota.get("spec") or {}).get("hard") or {}
        quota_name = quota["metadata"]["name"]
        missing = []
        for resource in sorted(hard):
            if resource in _MUST_SPECIFY:
                lacking = _missing(pod, resource)
                if lacking:
                    missing.append(f"{resource} for: {','.join(lacking)}")
        if missing:
            raise ApiError(403, "Forbidden", f'pods "{name}" is forbidden: failed quota: {quota_name}: must specify '
                                             f'{"; ".join(missing)}', {"name": name, "kind": "pods"})
        exceeded = []
        for resource, limit in sorted(hard.items()):  # the real message lists resources in name order
            if resource not in _COMPUTE and resource != "pods":
                continue
            requested = _pod_amount(pod, resource) if resource in _COMPUTE else 1.0
            used = usage(state, namespace, resource) or 0.0
            if used + requested > quantities.parse(limit) + 1e-9:
                exceeded.append((resource, requested, used, limit))
        if exceeded:
            parts = [",".join(f"{r}={quantities.of(r, v)}" for r, v, _, _ in exceeded),
                     ",".join(f"{r}={quantities.of(r, u)}" for r, _, u, _ in exceeded),
                     # The server stores quantities canonically: a hard limit of 1024Mi reads back as 1Gi.
                     ",".join(f"{r}={quantities.of(r, quantities.parse(lim))}" for r, _, _, lim in exceeded)]
            raise ApiError(403, "Forbidden", f'pods "{name}" is forbidden: exceeded quota: {quota_name}, requested: '
                                             f'{parts[0]}, used: {parts[1]}, limited: {parts[2]}',
                           {"name": name, "kind": "pods"})
