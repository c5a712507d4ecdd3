"""Customer namespaces are closed both ways: for every app and plan, what the rendered NetworkPolicies let through."""
import kubernetes_validate
import pytest

from portal.catalog.parameters import settings_clean
from portal.config import from_environment
from portal.provisioning.manifests import ClusterOptions, instance_manifests, instance_names, namespace_manifests
from portal.provisioning.network_policy import (
    Address,
    Pod,
    connection_allowed,
    egress_allowed,
    ingress_allowed,
    pods_of,
    selecting,
)
from tests.provisioning.test_manifests import OPTIONS, SECRETS, TEMPLATES

pytestmark = pytest.mark.smoke
CASES = [(slug, plan.slug) for slug, template in TEMPLATES.items() for plan in template.plans]

KUBE_DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
INGRESS_CONTROLLER = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
PORTAL_WEB = Pod("portal", {"app.kubernetes.io/name": "portal", "app.kubernetes.io/component": "web"})
# Addresses no customer pod may reach: metadata (AWS, GCP, Azure; AWS's IPv6 one), private, CGNAT, link-local,
# and the cluster's own pods and services (k3s ranges, the default K8S_CLUSTER_CIDRS).
FORBIDDEN = ["169.254.169.254", "169.254.0.1", "fd00:ec2::254", "10.0.0.1", "10.255.255.254", "172.16.0.1",
             "172.31.255.1", "192.168.1.1", "100.64.0.1", "100.127.255.254", "fc00::1", "fdff::1", "fe80::1",
             "10.42.3.17", "10.43.0.1", "10.43.0.10"]
INTERNET = ["1.1.1.1", "8.8.8.8", "103.10.20.30", "172.32.0.1", "100.128.0.1", "192.169.0.1", "2606:4700::1111",
            "2001:4860:4860::8888"]


def customer(slug: str, plan_slug: str, options: ClusterOptions = OPTIONS, user_id: int = 7) -> list[dict]:
    """A customer with two instances of the app (subscriptions 42 and 43) on the plan."""
    template = TEMPLATES[slug]
    plan = template.plan(plan_slug)
    manifests = namespace_manifests(namespace=f"customer-{user_id}", user_id=user_id, plans=[plan, plan],
                                    options=options)
    for subscription_id in (42, 43):
        names = instance_names(namespace_prefix="customer-", user_id=user_id, service_slug=slug,
                               subscription_id=subscription_id, subdomain=f"s{subscription_id}",
                               cluster_domain=options.cluster_domain)
        manifests += instance_manifests(template=template, plan=plan, settings=settings_clean(template, {}),
                                        secrets=SECRETS[slug], names=names, subscription_id=subscription_id,
                                        options=options)
    return manifests


def instance_pods(manifests: list[dict], instance: str) -> dict[str, Pod]:
    return {pod.labels["app.kubernetes.io/component"]: pod for pod in pods_of(manifests)
            if pod.labels["app.kubernetes.io/instance"] == instance}


@pytest.mark.parametrize("slug, plan_slug", CASES)
def test_every_namespace_denies_in_and_out_by_default(slug, plan_slug):
    manifests = customer(slug, plan_slug)
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) ==
            {"Ingress", "Egress"} and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert len(deny) == 1
    for pod in pods_of(manifests):
        assert selecting(policies, pod, "Egress") and selecting(policies, pod, "Ingress")
    for policy in policies:
        kubernetes_validate.validate(policy, "1.34", strict=True)


@pytest.mark.parametrize("slug, plan_slug", CASES)
def test_pods_reach_the_internet_on_any_port_but_no_metadata_private_or_cluster_address(slug, plan_slug):
    manifests = customer(slug, plan_slug)
    for pod in pods_of(manifests):
        for ip in FORBIDDEN:
            for port in (80, 443, 53, 6443, 10250):
                assert not egress_allowed(manifests, pod, Address(ip), port), (pod.labels, ip, port)
            assert not egress_allowed(manifests, pod, Address(ip), 53, "UDP"), (pod.labels, ip)
        for ip in INTERNET:
            for port in (443, 80, 587, 5432):
                assert egress_allowed(manifests, pod, Address(ip), port), (pod.labels, ip, port)


@pytest.mark.parametrize("slug, plan_slug", CASES)
def test_dns_goes_only_to_the_cluster_dns(slug, plan_slug):
    manifests = customer(slug, plan_slug)
    impostors = [Pod("customer-7", {"k8s-app": "kube-dns"}),  # a customer labelling its own pod cannot catch DNS
                 Pod("customer-8", {"k8s-app": "kube-dns"}),
                 Pod("kube-system", {"k8s-app": "metrics-server"}), PORTAL_WEB]
    for pod in pods_of(manifests):
        assert egress_allowed(manifests, pod, KUBE_DNS, 53, "UDP") and egress_allowed(manifests, pod, KUBE_DNS, 53)
        assert not egress_allowed(manifests, pod, KUBE_DNS, 443) and not egress_allowed(manifests, pod, KUBE_DNS, 9153)
        for impostor in impostors:
            assert not egress_allowed(manifests, pod, impostor, 53, "UDP"), impostor


@pytest.mark.parametrize("slug, plan_slug", CASES)
def test_an_instances_pods_reach_each_other_and_only_the_ingress_controller_comes_in(slug, plan_slug):
    manifests = customer(slug, plan_slug)
    first, second = instance_pods(manifests, f"{slug}-42"), instance_pods(manifests, f"{slug}-43")
    db_port = next(c.port for c in TEMPLATES[slug].components if c.name == "db")
    app_port = TEMPLATES[slug].exposed_component.port
    assert connection_allowed(manifests, first["app"], first["db"], db_port)
    assert connection_allowed(manifests, first["db"], first["app"], app_port)
    # Another instance of the same customer, other customers, the portal: out of reach, both ways.
    other_customer = instance_pods(customer(slug, plan_slug, user_id=8), f"{slug}-42")
    for stranger in [second["db"], second["app"], other_customer["db"], other_customer["app"], PORTAL_WEB]:
        assert not egress_allowed(manifests, first["app"], stranger, db_port)
        assert not egress_allowed(manifests, first["app"], stranger, app_port)
        assert not ingress_allowed(manifests, first["db"], stranger, db_port)
    # In from outside: the ingress controller, to the app only.
    pods = first
    assert ingress_allowed(manifests, pods["app"], INGRESS_CONTROLLER, app_port)
    assert not ingress_allowed(manifests, pods["db"], INGRESS_CONTROLLER, db_port)
    for outsider in [Pod("kube-system", {"k8s-app": "kube-dns"}), PORTAL_WEB, Address("203.0.113.9"),
                     Address("10.0.0.5")]:
        assert not ingress_allowed(manifests, pods["app"], outsider, app_port), outsider
        assert not ingress_allowed(manifests, pods["db"], outsider, db_port), outsider


def test_the_allowances_follow_the_settings(monkeypatch):
    defaults = ClusterOptions.from_config(from_environment())
    assert defaults == ClusterOptions(cluster_domain=defaults.cluster_domain)  # config.py and the builders agree
    monkeypatch.setenv("K8S_DNS_NAMESPACE", "dns")
    monkeypatch.setenv("K8S_DNS_POD_LABELS", "app=node-local-dns, tier=node")
    monkeypatch.setenv("K8S_CLUSTER_CIDRS", "198.18.0.0/15, 2001:db8:42::/56")
    monkeypatch.setenv("K8S_EGRESS_EXCEPT_CIDRS", "10.0.0.0/8,169.254.0.0/16,fe80::/10")
    options = ClusterOptions.from_config({**from_environment(), "K8S_CLUSTER_DOMAIN": "apps.example.id"})
    manifests = customer("n8n", "starter", options)
    app = instance_pods(manifests, "n8n-42")["app"]
    node_local = Pod("dns", {"app": "node-local-dns", "tier": "node"})
    assert egress_allowed(manifests, app, node_local, 53, "UDP") and not egress_allowed(manifests, app, KUBE_DNS, 53,
                                                                                           "UDP")
    for ip in ("198.18.0.1", "198.19.255.254", "2001:db8:42::1", "10.1.2.3", "169.254.169.254", "fe80::1"):
        assert not egress_allowed(manifests, app, Address(ip), 443), ip
    assert egress_allowed(manifests, app, Address("192.168.1.1"), 443)  # no longer excepted: the operator's choice
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.34", strict=True)


def test_excepted_ranges_are_merged_and_split_by_family():
    options = ClusterOptions(egress_except_cidrs=("10.0.0.0/8", "fe80::/10"),
                             cluster_cidrs=("10.42.0.0/16", "10.43.0.0/16", "fd00:10::/64"))
    policy = next(m for m in namespace_manifests(namespace="c-1", user_id=1, plans=[], options=options)
                  if m["metadata"]["name"] == "allow-internet")
    assert policy["spec"]["egress"] == [{"to": [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}},
        {"ipBlock": {"cidr": "::/0", "except": ["fd00:10::/64", "fe80::/10"]}}]}]
    everything = ClusterOptions(egress_except_cidrs=("0.0.0.0/0",), cluster_cidrs=())
    policy = next(m for m in namespace_manifests(namespace="c-1", user_id=1, plans=[], options=everything)
                  if m["metadata"]["name"] == "allow-internet")
    assert policy["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "::/0", "except": []}}]}]
    kubernetes_validate.validate(policy, "1.34", strict=True)


@pytest.mark.parametrize("variable, value, message", [
    ("K8S_EGRESS_EXCEPT_CIDRS", "10.0.0.0/8,10.0.0.1/8", "K8S_EGRESS_EXCEPT_CIDRS: '10.0.0.1/8' is not a network"),
    ("K8S_CLUSTER_CIDRS", "10.42.0.0/16;10.43.0.0/16", "K8S_CLUSTER_CIDRS: '10.42.0.0/16;10.43.0.0/16'"),
    ("K8S_CLUSTER_CIDRS", "cluster", "K8S_CLUSTER_CIDRS: 'cluster' is not a network"),
    ("K8S_DNS_POD_LABELS", "kube-dns", "K8S_DNS_POD_LABELS: 'kube-dns' is not a label in the form key=value"),
])
def test_a_malformed_network_setting_stops_start_up_naming_it(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError) as error:
        from_environment()
    assert message in str(error.value)
