"""What a set of NetworkPolicies lets through, read as Kubernetes defines it (pure functions over manifest dicts).

A pod selected by no policy of a direction is open in that direction; once selected, only what some rule of a
selecting policy allows passes. A connection between two pods needs the source's egress and the destination's
ingress. `ipBlock` matches addresses outside the cluster; pods are matched by their labels (the documentation:
ipBlock "should be cluster-external IPs"). The policy scan (`flask catalog-scan`) and the tests judge with it.
"""
import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict = field(default_factory=dict)
    namespace_labels: dict | None = None

    @property
    def namespace_labels_or_default(self) -> dict:
        # Every namespace carries its name as a label (Kubernetes 1.22+).
        return {"kubernetes.io/metadata.name": self.namespace, **(self.namespace_labels or {})}


@dataclass(frozen=True)
class Address:
    """A destination outside the cluster's pods: the internet, a node, the metadata service, a managed database."""
    ip: str


def selector_matches(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def policy_types(policy: dict) -> list[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        return spec["policyTypes"]
    return ["Ingress"] + (["Egress"] if "egress" in spec else [])


def _ip_matches(block: dict, ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    network = ipaddress.ip_network(block["cidr"])
    if address.version != network.version or address not in network:
        return False
    return not any(address in ipaddress.ip_network(excepted) for excepted in block.get("except") or []
                   if ipaddress.ip_network(excepted).version == address.version)


def _peer_matches(peer: dict, policy_namespace: str, other: "Pod | Address") -> bool:
    if "ipBlock" in peer:
        return isinstance(other, Address) and _ip_matches(peer["ipBlock"], other.ip)
    if isinstance(other, Address):
        return False
    namespace_selector, pod_selector = peer.get("namespaceSelector"), peer.get("podSelector")
    if namespace_selector is None:
        namespace_ok = other.namespace == policy_namespace
    else:
        namespace_ok = selector_matches(namespace_selector, other.namespace_labels_or_default)
    return namespace_ok and (pod_selector is None or selector_matches(pod_selector, other.labels))


def _port_matches(ports: list | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        if "port" not in entry:
            return True
        if entry["port"] == port or (entry.get("endPort") and entry["port"] <= port <= entry["endPort"]):
            return True
    return False


def selecting(policies: list[dict], pod: Pod, direction: str) -> list[dict]:
    return [policy for policy in policies if policy.get("kind") == "NetworkPolicy"
            and policy["metadata"].get("namespace") == pod.namespace
            and selector_matches(policy["spec"].get("podSelector", {}), pod.labels)
            and direction in policy_types(policy)]


def _allows(policies: list[dict], subject: "Pod | Address", other: "Pod | Address", port: int, protocol: str,
            direction: str) -> bool:
    if not isinstance(subject, Pod):
        return True  # no policy of ours governs an address outside the cluster
    chosen = selecting(policies, subject, direction)
    if not chosen:
        return True
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    for policy in chosen:
        for rule in policy["spec"].get(rules_key) or []:
            if not _port_matches(rule.get("ports"), port, protocol):
                continue
            peers = rule.get(peers_key)
            if not peers or any(_peer_matches(peer, policy["metadata"]["namespace"], other) for peer in peers):
                return True
    return False


def egress_allowed(policies: list[dict], source: Pod, destination: "Pod | Address", port: int,
                   protocol: str = "TCP") -> bool:
    """Whether the source pod's policies let the connection out (the destination's side aside)."""
    return _allows(policies, source, destination, port, protocol, "Egress")


def ingress_allowed(policies: list[dict], destination: Pod, source: "Pod | Address", port: int,
                    protocol: str = "TCP") -> bool:
    return _allows(policies, destination, source, port, protocol, "Ingress")


def connection_allowed(policies: list[dict], source: "Pod | Address", destination: "Pod | Address", port: int,
                       protocol: str = "TCP") -> bool:
    """Out of the source and into the destination, both."""
    return egress_allowed(policies, source, destination, port, protocol) \
        and ingress_allowed(policies, destination, source, port, protocol)


def pods_of(manifests: list[dict]) -> list[Pod]:
    """A pod for each workload among the manifests, labelled as its template."""
    return [Pod(m["metadata"]["namespace"], m["spec"]["template"]["metadata"]["labels"]) for m in manifests
            if m["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]
