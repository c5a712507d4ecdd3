"""The controllers: Deployments and StatefulSets own pods made from their template, rolled on template changes."""
import copy
import hashlib
import heapq
import json
import math

from . import admission, pod_security, pods, quota
from .errors import ApiError
from .kinds import BY_KIND
from .selectors import selector_string

_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_MANAGER = "kube-controller-manager"


def template_hash(template: dict) -> str:
    """A stable pod-template-hash: equal templates give equal hashes, any change a new one."""
    digest = int(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest(), 16)
    chars = []
    for _ in range(10):
        digest, index = divmod(digest, len(_HASH_ALPHABET))
        chars.append(_HASH_ALPHABET[index])
    return "".join(chars)


def is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _refresh_pods(state, now: float) -> float:
    """Recompute the statuses that may have changed: all after an epoch move, else new pods and due timers."""
    if state.pods_epoch != state.epoch:
        state.pods_epoch, state.pod_timers = state.epoch, []
        due = [pod["metadata"]["uid"] for pod in state.each("Pod")]
        for uid in due:
            state.lives[uid].timer = None
    else:
        due = list(state.pods_to_refresh)
        while state.pod_timers and state.pod_timers[0][0] <= now:
            when, uid = heapq.heappop(state.pod_timers)
            life = state.lives.get(uid)
            if life is not None and life.timer == when:
                life.timer = None
                due.append(uid)
    state.pods_to_refresh = set()
    for uid in dict.fromkeys(due):
        pod = state.pod_by_uid(uid)
        if pod is None:
            continue
        life = state.lives[uid]
        next_change = pods.refresh(state, pod, life, now)
        if next_change < math.inf and life.timer != next_change:
            life.timer = next_change
            heapq.heappush(state.pod_timers, (next_change, uid))
    while state.pod_timers and (state.lives.get(state.pod_timers[0][1]) is None
                                or state.lives[state.pod_timers[0][1]].timer != state.pod_timers[0][0]):
        heapq.heappop(state.pod_timers)  # timers of deleted pods, or superseded ones
    return state.pod_timers[0][0] if state.pod_timers else math.inf


def _workloads(state, uids: set | None) -> list[dict]:
    """The Deployments and StatefulSets with these uids (None: all)."""
    if uids is None:
        return list(state.workloads_by_uid.values())
    return [state.workloads_by_uid[uid] for uid in uids if uid in state.workloads_by_uid]


def reconcile(state, now: float) -> float:
    """Run the controllers of what changed until nothing does; returns when state next changes by itself."""
    touched = {}
    state.stale_workloads.update(uid for uid, deadline in state.deadlines.items() if deadline <= now)
    for _ in range(1000):
        _refresh_pods(state, now)  # controllers decide on up-to-date readiness (pods changing mark owners)
        stale = None if state.stale_all else state.stale_workloads | set(state.create_failures)
        state.stale_all, state.stale_workloads = False, set()
        targets = _workloads(state, stale)
        if not targets:
            break
        changed = False
        for workload in targets:
            touched[workload["metadata"]["uid"]] = workload
            if workload["kind"] == "Deployment":
                changed |= _deployment_pods(state, workload, state.owned_by(workload["metadata"]["uid"]), now)
            else:
                changed |= _stateful_pods(state, workload, state.owned_by(workload["metadata"]["uid"]))
        _refresh_pods(state, now)
        for workload in targets:
            if workload["kind"] == "Deployment":
                changed |= _retire_old(state, workload, state.owned_by(workload["metadata"]["uid"]))
        if not changed and not state.stale_workloads:
            break
    wake = _refresh_pods(state, now)
    for uid, workload in touched.items():
        if state.get(workload["kind"], workload["metadata"]["namespace"], workload["metadata"]["name"]) is not workload:
            continue  # deleted, or replaced by a write (which marked it again)
        if workload["kind"] == "Deployment":
            deadline = _deployment_status(state, workload, state.owned_by(uid), now)
            if deadline < math.inf:
                state.deadlines[uid] = deadline
            else:
                state.deadlines.pop(uid, None)
        else:
            _stateful_status(state, workload, state.owned_by(uid))
    state.stale_workloads -= set(touched)  # their own status writes need no second pass
    return min([wake, *state.deadlines.values()])


def _new_pod(state, owner: dict, labels: dict, name: str | None = None, generate: str | None = None,
             volumes: list | None = None, spec_extra: dict | None = None) -> dict | None:
    template = copy.deepcopy(owner["spec"]["template"])
    template_meta = template.get("metadata") or {}
    metadata = {"namespace": owner["metadata"]["namespace"], "labels": {**(template_meta.get("labels") or {}),
                                                                         **labels},
                "ownerReferences": [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                     "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                     "controller": True, "blockOwnerDeletion": True}]}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = generate
        metadata["name"] = generate + state.random_suffix()
    if template_meta.get("annotations"):
        metadata["annotations"] = dict(template_meta["annotations"])
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec") or {}}
    if volumes:
        pod["spec"]["volumes"] = (pod["spec"].get("volumes") or []) + volumes
    pod["spec"].update(spec_extra or {})
    admission.pod_defaults(state, pod)
    try:
        pod_security.admit_pod(state, pod)
        quota.admit_pod(state, pod)
    except ApiError as error:
        state.create_failures[owner["metadata"]["uid"]] = error.message
        return None
    state.create_failures.pop(owner["metadata"]["uid"], None)
    pod["status"] = {"phase": "Pending", "qosClass": pods.qos_class(pod["spec"])}
    return state.create_object(pod, _MANAGER)


def _rollout(state, owner: dict, now: float) -> str:
    digest = template_hash(owner["spec"]["template"])
    uid = owner["metadata"]["uid"]
    if state.rollouts.get(uid, (None,))[0] != digest:
        state.rollouts[uid] = (digest, now)
    return digest


def _remove(state, pod: dict) -> None:
    state.remove("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])


def _least_useful_first(pod_list: list[dict]) -> list[dict]:
    """Which pods a controller removes first: unready before ready, newest before oldest."""
    newest_first = sorted(pod_list, key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"]),
                          reverse=True)
    return sorted(newest_first, key=is_ready)  # stable: newest first within each group


def _deployment_pods(state, deployment: dict, owned: list[dict], now: float) -> bool:
    spec = deployment["spec"]
    desired = spec.get("replicas", 1)
    digest = _rollout(state, deployment, now)
    current = [p for p in owned if p["metadata"]["labels"].get("pod-template-hash") == digest]
    old = [p for p in owned if p not in current]
    changed = False
    if old and (spec.get("strategy") or {}).get("type") == "Recreate":
        for pod in old:
            _remove(state, pod)
        changed = True
    if len(current) < desired:
        name = deployment["metadata"]["name"]
        for _ in range(desired - len(current)):
            if _new_pod(state, deployment, {"pod-template-hash": digest}, generate=f"{name}-{digest}-") is None:
                break
            changed = True
    elif len(current) > desired:
        for pod in _least_useful_first(current)[: len(current) - desired]:
            _remove(state, pod)
        changed = True
    return changed


def _retire_old(state, deployment: dict, owned: list[dict]) -> bool:
    """Rolling update: old pods go as new ones become ready."""
    digest = state.rollouts.get(deployment["metadata"]["uid"], (None,))[0]
    current = [p for p in owned if p["metadata"]["labels"].get("pod-template-hash") == digest]
    old = [p for p in owned if p not in current]
    allowed = max(0, deployment["spec"].get("replicas", 1) - sum(1 for p in current if is_ready(p)))
    if len(old) <= allowed:
        return False
    for pod in _least_useful_first(old)[: len(old) - allowed]:
        _remove(state, pod)
    return True


def _stateful_pods(state, stateful_set: dict, owned: list[dict]) -> bool:
    spec, name = stateful_set["spec"], stateful_set["metadata"]["name"]
    desired = spec.get("replicas", 1)
    revision = f"{name}-{template_hash(spec['template'])}"
    changed = False
    alive = {}
    for pod in owned:
        ordinal = int(pod["metadata"]["name"].rsplit("-", 1)[-1])
        if ordinal >= desired or pod["metadata"]["labels"].get("controller-revision-hash") != revision:
            _remove(state, pod)  # scaled away, or made from an older template: recreated below
            changed = True
        else:
            alive[ordinal] = pod
    ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
    for ordinal in range(desired):
        if ordinal in alive:
            if ordered and not is_ready(alive[ordinal]):
                break
            continue
        pod_name = f"{name}-{ordinal}"
        labels = {"controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": pod_name,
                  "apps.kubernetes.io/pod-index": str(ordinal)}
        volumes = _claims_for(state, stateful_set, ordinal)
        extra = {"hostname": pod_name, **({"subdomain": spec["serviceName"]} if spec.get("serviceName") else {})}
        if _new_pod(state, stateful_set, labels, name=pod_name, volumes=volumes, spec_extra=extra) is None:
            break
        changed = True
        if ordered:
            break
    return changed


def _claims_for(state, stateful_set: dict, ordinal: int) -> list[dict]:
    """Each replica gets its own PersistentVolumeClaim per volumeClaimTemplate, kept when the pod goes."""
    volumes = []
    namespace, name = stateful_set["metadata"]["namespace"], stateful_set["metadata"]["name"]
    for template in stateful_set["spec"].get("volumeClaimTemplates") or []:
        template_name = template["metadata"]["name"]
        claim_name = f"{template_name}-{name}-{ordinal}"
        if state.get("PersistentVolumeClaim", namespace, claim_name) is None:
            labels = dict((stateful_set["spec"].get("selector") or {}).get("matchLabels") or {})
            labels.update((template.get("metadata") or {}).get("labels") or {})
            claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                     "metadata": {"name": claim_name, "namespace": namespace, "labels": labels},
                     "spec": copy.deepcopy(template.get("spec") or {})}
            claim["metadata"]["uid"] = state.new_uid()
            info = BY_KIND["PersistentVolumeClaim"]
            admission.apply_defaults(state, info, claim, None)
            claim["status"] = admission.initial_status(info, claim, state)
            state.create_object(claim, _MANAGER)
        volumes.append({"name": template_name, "persistentVolumeClaim": {"claimName": claim_name}})
    return volumes


def _condition(previous: list, kind: str, ok: bool, reason: str, message: str, stamp: str) -> dict:
    before = next((c for c in previous if c.get("type") == kind), None)
    status = "True" if ok else "False"
    condition = {"type": kind, "status": status, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
                 "reason": reason, "message": message}
    if before is not None and before.get("status") == status:
        condition["lastTransitionTime"] = before.get("lastTransitionTime", stamp)
        if (before.get("reason"), before.get("message")) == (reason, message):
            condition["lastUpdateTime"] = before.get("lastUpdateTime", stamp)
    return condition


def _deployment_status(state, deployment: dict, owned: list[dict], now: float) -> float:
    spec, uid = deployment["spec"], deployment["metadata"]["uid"]
    desired = spec.get("replicas", 1)
    digest, since = state.rollouts.get(uid, (None, now))
    current = [p for p in owned if p["metadata"]["labels"].get("pod-template-hash") == digest]
    ready = sum(1 for p in owned if is_ready(p))
    updated_ready = sum(1 for p in current if is_ready(p))
    complete = len(current) == desired and updated_ready == desired and len(owned) == desired
    replica_set = f'ReplicaSet "{deployment["metadata"]["name"]}-{digest}"'
    previous = (deployment.get("status") or {}).get("conditions") or []
    stamp = state.clock.stamp(now)
    tolerated = math.floor(desired * 0.25)
    conditions = [_condition(previous, "Available", ready >= desired - tolerated,
                             "MinimumReplicasAvailable" if ready >= desired - tolerated
                             else "MinimumReplicasUnavailable",
                             "Deployment has minimum availability." if ready >= desired - tolerated
                             else "Deployment does not have minimum availability.", stamp)]
    deadline = since + spec.get("progressDeadlineSeconds", 600)
    wake = math.inf
    if complete:
        conditions.append(_condition(previous, "Progressing", True, "NewReplicaSetAvailable",
                                     f"{replica_set} has successfully progressed.", stamp))
    elif now >= deadline:
        conditions.append(_condition(previous, "Progressing", False, "ProgressDeadlineExceeded",
                                     f"{replica_set} has timed out progressing.", stamp))
    else:
        conditions.append(_condition(previous, "Progressing", True, "ReplicaSetUpdated",
                                     f"{replica_set} is progressing.", stamp))
        wake = deadline
    if uid in state.create_failures:
        conditions.append(_condition(previous, "ReplicaFailure", True, "FailedCreate",
                                     state.create_failures[uid], stamp))
    status = {"observedGeneration": deployment["metadata"].get("generation", 1), "replicas": len(owned),
              "updatedReplicas": len(current), "readyReplicas": ready, "availableReplicas": ready,
              "unavailableReplicas": max(0, desired - ready), "conditions": conditions}
    state.set_status(deployment, {k: v for k, v in status.items() if v != 0 or k == "observedGeneration"})
    return wake


def _stateful_status(state, stateful_set: dict, owned: list[dict]) -> None:
    spec, name = stateful_set["spec"], stateful_set["metadata"]["name"]
    revision = f"{name}-{template_hash(spec['template'])}"
    ready = sum(1 for p in owned if is_ready(p))
    updated = sum(1 for p in owned if p["metadata"]["labels"].get("controller-revision-hash") == revision)
    status = {"observedGeneration": stateful_set["metadata"].get("generation", 1), "replicas": len(owned),
              "readyReplicas": ready, "currentReplicas": updated, "updatedReplicas": updated,
              "availableReplicas": ready, "currentRevision": revision, "updateRevision": revision,
              "collisionCount": 0}
    state.set_status(stateful_set, {k: v for k, v in status.items()
                                    if v != 0 or k in ("replicas", "availableReplicas", "observedGeneration",
                                                       "collisionCount")})


def scale_of(deployment_or_set: dict) -> dict:
    """The autoscaling/v1 Scale the `scale` subresource shows."""
    metadata = deployment_or_set["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": metadata["name"], "namespace": metadata["namespace"], "uid": metadata["uid"],
                         "resourceVersion": metadata["resourceVersion"],
                         "creationTimestamp": metadata["creationTimestamp"]},
            "spec": {"replicas": deployment_or_set["spec"].get("replicas", 1)},
            "status": {"replicas": (deployment_or_set.get("status") or {}).get("replicas", 0),
                       "selector": selector_string(deployment_or_set["spec"].get("selector"))}}
