"""deploy/network-policies.yaml: the portal's namespace lets in only the ingress controller and lets each role out
only where it has business (read as Kubernetes reads the policies, portal/provisioning/network_policy.py)."""
import pytest

from portal.provisioning.network_policy import Address, Pod, egress_allowed, ingress_allowed, pods_of, selecting
from tests.ops.manifests import deploy_documents, one

POLICIES = [doc for doc in deploy_documents() if doc["kind"] == "NetworkPolicy"]
ROLES = {pod.labels["app.kubernetes.io/component"]: pod for pod in pods_of(deploy_documents())}


def _address(policy: str) -> str:
    """The documentation address a policy names (operators replace it): the one ipBlock in its rule."""
    cidr = one("NetworkPolicy", policy)["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"]
    return cidr.split("/")[0]


KUBE_DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
DESTINATIONS = {
    "dns": (KUBE_DNS, 53, "UDP"),
    "dns over tcp": (KUBE_DNS, 53, "TCP"),
    "postgresql": (Address(_address("to-postgresql")), 5432, "TCP"),
    "redis": (Address(_address("to-redis")), 6379, "TCP"),
    "api server": (Address(_address("to-kubernetes-api")), 6443, "TCP"),
    "api server on 443": (Address(_address("to-kubernetes-api")), 443, "TCP"),
    "smtp": (Address(_address("to-smtp")), 587, "TCP"),
    "smtps": (Address(_address("to-smtp")), 465, "TCP"),
    "midtrans": (Address("103.208.23.6"), 443, "TCP"),
    # Never, for anyone:
    "metadata": (Address("169.254.169.254"), 80, "TCP"),
    "a private address": (Address("10.0.0.1"), 443, "TCP"),
    "a customer's pod": (Pod("customer-7", {"app.kubernetes.io/component": "app"}), 5678, "TCP"),
    "another namespace's dns": (Pod("customer-7", {"k8s-app": "kube-dns"}), 53, "UDP"),
    "plain http to the internet": (Address("103.208.23.6"), 80, "TCP"),
    "postgresql's address on another port": (Address(_address("to-postgresql")), 22, "TCP"),
}
EXPECTED = {
    "web": {"dns", "dns over tcp", "postgresql", "redis", "api server", "api server on 443", "midtrans"},
    "worker": {"dns", "dns over tcp", "postgresql", "redis", "api server", "api server on 443", "smtp", "smtps",
               "midtrans"},
    "migrate": {"dns", "dns over tcp", "postgresql"},
    # The cluster watcher: the API server's watches and its Lease, status rows, alert emails queued in Redis.
    "watcher": {"dns", "dns over tcp", "postgresql", "redis", "api server", "api server on 443"},
}


def test_the_namespace_denies_in_and_out_by_default():
    deny = one("NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert set(ROLES) == set(EXPECTED)
    for pod in ROLES.values():
        assert selecting(POLICIES, pod, "Ingress") and selecting(POLICIES, pod, "Egress")


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_goes_out_only_where_it_has_business(role):
    reachable = {name for name, (destination, port, protocol) in DESTINATIONS.items()
                 if egress_allowed(POLICIES, ROLES[role], destination, port, protocol)}
    assert reachable == EXPECTED[role]


def test_only_the_ingress_controller_reaches_web_and_nothing_reaches_the_others():
    controller = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
    assert ingress_allowed(POLICIES, ROLES["web"], controller, 8000)
    assert not ingress_allowed(POLICIES, ROLES["web"], controller, 9000)
    for outsider in (Pod("customer-7", {"app.kubernetes.io/component": "app"}), Address("203.0.113.7"), ROLES["worker"],
                     Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})):
        assert not ingress_allowed(POLICIES, ROLES["web"], outsider, 8000), outsider
    for role in ("worker", "migrate", "watcher"):
        assert not ingress_allowed(POLICIES, ROLES[role], controller, 8000)


def test_the_web_port_in_the_policy_is_the_one_web_listens_on():
    container = one("Deployment", "portal-web")["spec"]["template"]["spec"]["containers"][0]
    listening = {port["containerPort"] for port in container["ports"]}
    allowed = {port["port"] for rule in one("NetworkPolicy", "web-from-ingress-controller")["spec"]["ingress"]
               for port in rule["ports"]}
    assert allowed == listening
