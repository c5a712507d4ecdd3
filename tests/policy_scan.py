"""Policy scan: every app × plan rendered as the portal renders it, and what would leave a tenant exposed.

Run it with `.venv/bin/python -m tests.policy_scan` (README, "Policy scan"): one line per finding, exit status 1
when there is any. tests/security/test_policy_scan.py runs it in the suite.
"""
import sys

from portal.catalog.parameters import settings_defaults
from portal.catalog.templates import templates_load
from portal.config import ROOT
from portal.provisioning.manifests import ClusterOptions, instance_manifests, instance_names, namespace_manifests
from portal.provisioning.policy import pod_findings
from tests.network_policy import Address, Pod, egress_allowed, pods_of, selecting

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
# Where no tenant may connect: cloud metadata (IPv4 and AWS's IPv6), private, CGNAT and link-local addresses.
UNREACHABLE = ("169.254.169.254", "fd00:ec2::254", "10.0.0.1", "172.16.0.1", "192.168.0.1", "100.64.0.1",
               "fe80::1")
KUBE_DNS_LABELS = {"k8s-app": "kube-dns"}
QUOTA_KEYS = ("requests.ephemeral-storage", "limits.ephemeral-storage")


def renders(options: ClusterOptions | None = None) -> dict[str, list[dict]]:
    """`app/plan` → the namespace's and the instance's manifests, with the template's default settings."""
    options = options or ClusterOptions()
    result = {}
    for slug, template in templates_load(str(ROOT / "service-templates")).items():
        for plan in template.plans:
            names = instance_names(namespace_prefix="customer-", user_id=1, service_slug=slug, subscription_id=1,
                                   subdomain="scan", cluster_domain=options.cluster_domain)
            result[f"{slug}/{plan.slug}"] = namespace_manifests(
                namespace=names.namespace, user_id=1, plans=[plan], options=options) + instance_manifests(
                template=template, plan=plan, settings=settings_defaults(template),
                secrets={secret.name: "scan" for secret in template.secrets}, names=names, subscription_id=1,
                options=options)
    return result


def _default_deny(policies: list[dict], namespace: str, direction: str) -> bool:
    rules = "egress" if direction == "Egress" else "ingress"
    return any(p["metadata"].get("namespace") == namespace and p["spec"].get("podSelector") == {}
               and direction in p["spec"].get("policyTypes", []) and not p["spec"].get(rules) for p in policies)


def _network_findings(manifests: list[dict]) -> list[str]:
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    found = []
    for namespace in (m["metadata"]["name"] for m in manifests if m["kind"] == "Namespace"):
        for direction in ("Ingress", "Egress"):
            if not _default_deny(policies, namespace, direction):
                found.append(f"namespace {namespace}: no default-deny {direction.lower()} policy")
    for pod in pods_of(manifests):
        who = f"pod {pod.labels.get('app.kubernetes.io/instance', '?')}/" \
              f"{pod.labels.get('app.kubernetes.io/component', '?')}"
        if not selecting(policies, pod, "Egress"):
            found.append(f"{who}: no egress policy selects it")
        for ip in UNREACHABLE:
            if egress_allowed(policies, pod, Address(ip), 80):
                found.append(f"{who}: can reach {ip}")
        # Pods that are not the cluster DNS, one of them passing for it in the tenant's own namespace.
        for other in (Pod("kube-system", {"k8s-app": "metrics-server"}), Pod(pod.namespace, KUBE_DNS_LABELS),
                      Pod("other-tenant", KUBE_DNS_LABELS)):
            if egress_allowed(policies, pod, other, 53, "UDP"):
                found.append(f"{who}: can send DNS queries to a pod in {other.namespace} besides the cluster DNS")
    return found


def _storage_findings(manifests: list[dict]) -> list[str]:
    found = []
    for workload in (m for m in manifests if m["kind"] in WORKLOADS):
        spec = workload["spec"]["template"]["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            resources = container.get("resources") or {}
            for kind in ("requests", "limits"):
                if "ephemeral-storage" not in (resources.get(kind) or {}):
                    found.append(f"{workload['kind']} {workload['metadata']['name']} container {container['name']}: "
                                 f"no ephemeral-storage {kind}")
    for namespace in (m["metadata"]["name"] for m in manifests if m["kind"] == "Namespace"):
        quotas = [m for m in manifests if m["kind"] == "ResourceQuota" and m["metadata"]["namespace"] == namespace]
        for key in QUOTA_KEYS:
            if not any(key in q["spec"].get("hard", {}) for q in quotas):
                found.append(f"namespace {namespace}: no ResourceQuota caps {key}")
        ranges = [m for m in manifests if m["kind"] == "LimitRange" and m["metadata"]["namespace"] == namespace]
        if not any("ephemeral-storage" in (limit.get("default") or {}) for r in ranges for limit in r["spec"]["limits"]
                   if limit.get("type") == "Container"):
            found.append(f"namespace {namespace}: no LimitRange default for ephemeral-storage")
    return found


def _pod_security_findings(manifests: list[dict]) -> list[str]:
    # The same judgement as `flask catalog-scan`: root containers, added or kept capabilities, privilege escalation.
    return [f"{f.workload.replace('/', ' ', 1)} container {f.container}: {f.kind} ({f.detail})"
            for f in pod_findings(manifests) if f.failing]


def findings(manifests: list[dict]) -> list[str]:
    """What is missing or open in one render; empty when it is sound."""
    return _network_findings(manifests) + _storage_findings(manifests) + _pod_security_findings(manifests)


def main() -> int:
    rendered = renders()
    total = 0
    for name, manifests in rendered.items():
        for finding in findings(manifests):
            print(f"{name}: {finding}")
            total += 1
    count = sum(len(manifests) for manifests in rendered.values())
    print(f"policy scan: {len(rendered)} app × plan renders, {count} manifests, {total} finding(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
