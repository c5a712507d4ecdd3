"""The cluster's nodes: their objects, readiness, heartbeats, cordoning, and where pods get scheduled."""
import hashlib
import math

from .kinds import GIT_VERSION

HEARTBEAT_SECONDS = 10.0  # the kubelet posts status about this often; heartbeats move in these steps
CAPACITY = {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi", "hugepages-2Mi": "0"}
ALLOCATABLE = {"cpu": "3800m", "memory": "15Gi", "pods": "110", "ephemeral-storage": "92Gi", "hugepages-2Mi": "0"}


class NodePool:
    """Node bookkeeping beside the stored Node objects (which hold labels, spec.unschedulable)."""

    def __init__(self, state, count: int):
        self.state = state
        self._health = {}  # name -> [ready, changed_at]
        self._next_ip = {}
        self._created = {}
        self._cursor = 0
        for index in range(1, count + 1):
            self.add(f"emulated-node-{index}")

    def add(self, name: str) -> None:
        state, now = self.state, self.state.now()
        index = len(self._health) + 1
        digest = hashlib.sha256(name.encode()).hexdigest()
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "emulated", "topology.kubernetes.io/zone": "emulated-zone-a",
                "portal.emulator/emulated": "true"},
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"],
                     "providerID": f"emulated://{name}"},
            "status": {},
        }
        self._health[name] = [True, now]
        self._created[name] = now
        self._next_ip[name] = 2
        node["status"] = self._status(node, now, index, digest)
        state.create_object(node, manager="emulator")

    def snapshot(self) -> dict:
        return {"health": self._health, "nextIp": self._next_ip, "created": self._created, "cursor": self._cursor}

    def restore(self, saved: dict) -> None:
        """The nodes a state file kept (their objects are restored with the others)."""
        self._health = {name: list(health) for name, health in saved["health"].items()}
        self._next_ip, self._created, self._cursor = dict(saved["nextIp"]), dict(saved["created"]), saved["cursor"]

    def names(self) -> list[str]:
        return list(self._health)

    def readiness(self, name: str) -> tuple[bool, float]:
        ready, changed_at = self._health.get(name, [False, 0.0])
        return ready, changed_at

    def set_ready(self, name: str, ready: bool) -> None:
        if name not in self._health:
            raise KeyError(name)
        if self._health[name][0] != ready:
            self._health[name] = [ready, self.state.now()]
        self.state.touch()

    def _node(self, name: str) -> dict | None:
        return self.state.get("Node", None, name)

    def schedulable(self, name: str) -> bool:
        node = self._node(name)
        return bool(node) and self._health[name][0] and not node.get("spec", {}).get("unschedulable")

    def count_schedulable(self) -> int:
        return sum(1 for name in self._health if self.schedulable(name))

    def pick(self) -> str | None:
        names = [name for name in self._health if self._node(name)]
        for step in range(len(names)):
            name = names[(self._cursor + step) % len(names)]
            if self.schedulable(name):
                self._cursor = (self._cursor + step + 1) % len(names)
                return name
        return None

    def allocate_ip(self, name: str) -> str:
        index = list(self._health).index(name) + 1
        host = self._next_ip[name]
        self._next_ip[name] = host + 1 if host < 254 else 2
        return f"10.244.{index}.{host}"

    def ip(self, name: str) -> str:
        return f"10.0.0.{10 + list(self._health).index(name) + 1}" if name in self._health else ""

    def refresh(self, now: float) -> float:
        """Update node statuses (heartbeats, readiness, taints); returns when they next change."""
        beat = math.floor(now / HEARTBEAT_SECONDS) * HEARTBEAT_SECONDS
        for index, name in enumerate(self._health, start=1):
            node = self._node(name)
            if node is None:
                continue
            digest = hashlib.sha256(name.encode()).hexdigest()
            self.state.set_status(node, self._status(node, beat, index, digest))
            taints = self._taints(node)
            if (node["spec"].get("taints") or []) != taints:
                if taints:
                    node["spec"]["taints"] = taints
                else:
                    node["spec"].pop("taints", None)
                self.state.bump(node)
        return beat + HEARTBEAT_SECONDS

    def _taints(self, node: dict) -> list:
        name = node["metadata"]["name"]
        others = [t for t in node["spec"].get("taints") or []
                  if t.get("key") not in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unschedulable")]
        if node["spec"].get("unschedulable"):
            others.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                           "timeAdded": self.state.clock.stamp(self.state.now())})
        if not self._health[name][0]:
            others.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule",
                           "timeAdded": self.state.clock.stamp(self._health[name][1])})
        kept = {t.get("key"): t for t in node["spec"].get("taints") or []}  # keeps their timeAdded
        return [kept.get(t.get("key"), t) for t in others]

    def _status(self, node: dict, beat: float, index: int, digest: str) -> dict:
        name = node["metadata"]["name"]
        ready, changed_at = self._health[name]
        stamp = self.state.clock.stamp
        heartbeat = stamp(beat if ready else changed_at)  # a NotReady kubelet stopped posting
        since, born = stamp(changed_at), stamp(self._created[name])
        conditions = [
            _condition("MemoryPressure", "False", heartbeat, born, "KubeletHasSufficientMemory",
                       "kubelet has sufficient memory available"),
            _condition("DiskPressure", "False", heartbeat, born, "KubeletHasNoDiskPressure",
                       "kubelet has no disk pressure"),
            _condition("PIDPressure", "False", heartbeat, born, "KubeletHasSufficientPID",
                       "kubelet has sufficient PID available"),
            _condition("Ready", "True", heartbeat, since, "KubeletReady", "kubelet is posting ready status")
            if ready else
            _condition("Ready", "False", heartbeat, since, "KubeletNotReady",
                       "container runtime network not ready: NetworkReady=false (set by the portal emulator)"),
        ]
        return {
            "capacity": dict(CAPACITY), "allocatable": dict(ALLOCATABLE), "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": self.ip(name)}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": digest[:32], "systemUUID": digest[32:64], "bootID": digest[:8] + "-boot",
                         "kernelVersion": "6.1.0-emulated", "osImage": "Portal emulator (no real containers)",
                         "containerRuntimeVersion": "emulated://1.0", "kubeletVersion": GIT_VERSION,
                         "kubeProxyVersion": GIT_VERSION, "operatingSystem": "linux", "architecture": "amd64"},
            "images": [],
        }


def _condition(kind: str, status: str, heartbeat: str, since: str, reason: str, message: str) -> dict:
    return {"type": kind, "status": status, "lastHeartbeatTime": heartbeat, "lastTransitionTime": since,
            "reason": reason, "message": message}
