"""The policy scan of rendered manifests: what a hardened pod must not have and where a tenant must not connect.

Found in plain manifest dicts (no cluster needed): root containers, added capabilities and the like, and, read
through the NetworkPolicy evaluator, a namespace without default-deny, a pod no egress policy governs, a pod that
can reach the metadata service, private, carrier-grade NAT, link-local or cluster addresses, or send DNS queries
to anything but the cluster DNS.
"""
import ipaddress
from dataclasses import dataclass

from portal.catalog.parameters import settings_defaults
from portal.catalog.templates import ServiceTemplate, image_parts
from portal.provisioning.manifests import ClusterOptions, instance_manifests, instance_names, namespace_manifests
from portal.provisioning.network_policy import Address, Pod, egress_allowed, selecting

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
# Where no tenant may connect: cloud metadata (IPv4 and AWS's IPv6), private, CGNAT and link-local addresses.
# The cluster's own pod and service ranges (K8S_CLUSTER_CIDRS) are added per scan.
UNREACHABLE = ("169.254.169.254", "fd00:ec2::254", "10.0.0.1", "172.16.0.1", "192.168.0.1", "100.64.0.1",
               "fe80::1")
NETWORK = {"no default-deny", "no egress policy", "egress open", "DNS open"}
# What fails the scan; notes (a writable root the template explains, a tag without its digest) are reported only.
FAILING = {"root container", "added capability", "capabilities kept", "privilege escalation", "privileged"} | NETWORK


@dataclass(frozen=True)
class Finding:
    workload: str
    container: str
    kind: str
    detail: str

    @property
    def failing(self) -> bool:
        return self.kind in FAILING

    @property
    def subject(self) -> str:
        """What it is about: a workload's container, or a namespace or a workload's pods (network findings)."""
        return f"{self.workload} {self.container}" if self.container else self.workload


def _pod_spec(manifest: dict) -> dict | None:
    if manifest.get("kind") == "Pod":
        return manifest.get("spec") or {}
    if manifest.get("kind") in WORKLOAD_KINDS:
        return ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


def pod_findings(manifests: list[dict]) -> list[Finding]:
    """Every container's problems, judged as the kubelet and Pod Security would: container settings override the
    pod's, and a container that does not promise non-root with a non-zero uid counts as root."""
    findings = []
    for manifest in manifests:
        spec = _pod_spec(manifest)
        if spec is None:
            continue
        workload = f"{manifest['kind']}/{manifest['metadata']['name']}"
        pod = spec.get("securityContext") or {}
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            name = container.get("name", "")
            security = container.get("securityContext") or {}

            def found(kind: str, detail: str, name=name, workload=workload) -> None:
                findings.append(Finding(workload, name, kind, detail))

            non_root = security.get("runAsNonRoot", pod.get("runAsNonRoot"))
            uid = security.get("runAsUser", pod.get("runAsUser"))
            if uid == 0:
                found("root container", "runs as uid 0")
            elif non_root is not True:
                found("root container", "runAsNonRoot is not true: the image's own user (often root) runs")
            capabilities = security.get("capabilities") or {}
            if capabilities.get("add"):
                found("added capability", ", ".join(capabilities["add"]))
            if "ALL" not in (capabilities.get("drop") or []):
                found("capabilities kept", "does not drop ALL (the runtime's defaults include NET_RAW)")
            if security.get("allowPrivilegeEscalation") is not False:
                found("privilege escalation", "allowPrivilegeEscalation is not false")
            if security.get("privileged"):
                found("privileged", "privileged: true")
            if security.get("readOnlyRootFilesystem") is not True:
                found("writable root", "readOnlyRootFilesystem is not true")
            image = container.get("image", "")
            try:
                _, _, digest = image_parts(image)
            except ValueError:
                digest = None
            if not digest:
                found("tag without digest", f"{image} (run `flask catalog-pin` where the registry is reachable)")
    return findings


def _default_deny(policies: list[dict], namespace: str, direction: str) -> bool:
    rules = "egress" if direction == "Egress" else "ingress"
    return any(p["metadata"].get("namespace") == namespace and p["spec"].get("podSelector") == {}
               and direction in p["spec"].get("policyTypes", []) and not p["spec"].get(rules) for p in policies)


def unreachable_addresses(options: ClusterOptions) -> tuple[str, ...]:
    """The addresses the scan tries from every pod: UNREACHABLE and the first of each of the cluster's ranges."""
    cluster = tuple(str(next(ipaddress.ip_network(cidr).hosts())) for cidr in options.cluster_cidrs)
    return UNREACHABLE + tuple(address for address in cluster if address not in UNREACHABLE)


def network_findings(manifests: list[dict], *, options: ClusterOptions) -> list[Finding]:
    """Each namespace without a default-deny policy each way, and each workload's pods that no egress policy
    selects, that can reach an address no tenant may reach, or that can send DNS queries to a pod other than the
    cluster DNS (a look-alike in its own namespace or another tenant's included)."""
    policies = [m for m in manifests if m.get("kind") == "NetworkPolicy"]
    found = []
    for namespace in (m["metadata"]["name"] for m in manifests if m.get("kind") == "Namespace"):
        for direction in ("Ingress", "Egress"):
            if not _default_deny(policies, namespace, direction):
                found.append(Finding(f"Namespace/{namespace}", "", "no default-deny",
                                     f"no default-deny {direction.lower()} policy"))
    dns_labels = dict(options.dns_pod_labels)
    addresses = unreachable_addresses(options)
    for workload in (m for m in manifests if m.get("kind") in WORKLOAD_KINDS):
        pod = Pod(workload["metadata"]["namespace"], workload["spec"]["template"]["metadata"].get("labels") or {})
        subject = f"{workload['kind']}/{workload['metadata']['name']}"
        if not selecting(policies, pod, "Egress"):
            found.append(Finding(subject, "", "no egress policy", "no egress policy selects it"))
        found += [Finding(subject, "", "egress open", f"can reach {ip}") for ip in addresses
                  if egress_allowed(policies, pod, Address(ip), 80)]
        for other in (Pod(options.dns_namespace, {"k8s-app": "metrics-server"}), Pod(pod.namespace, dns_labels),
                      Pod("other-tenant", dns_labels)):
            if egress_allowed(policies, pod, other, 53, "UDP"):
                found.append(Finding(subject, "", "DNS open", f"can send DNS queries to a pod in {other.namespace} "
                                                              f"besides the cluster DNS"))
    return found


def scan_renders(*, templates: dict[str, ServiceTemplate], options: ClusterOptions,
                 namespace_prefix: str = "scan-") -> dict[str, list[dict]]:
    """`app/plan` → a sample customer namespace's manifests and a sample instance's in it, with the template's
    default settings, rendered as provisioning renders them."""
    rendered = {}
    for slug, template in sorted(templates.items()):
        for plan in template.plans:
            names = instance_names(namespace_prefix=namespace_prefix, user_id=1, service_slug=slug, subscription_id=1,
                                   subdomain="scan", cluster_domain=options.cluster_domain)
            rendered[f"{slug}/{plan.slug}"] = namespace_manifests(
                namespace=names.namespace, user_id=1, plans=[plan], options=options) + instance_manifests(
                template=template, plan=plan, settings=settings_defaults(template),
                secrets={secret.name: "scan" for secret in template.secrets}, names=names, subscription_id=1,
                options=options)
    return rendered


def catalog_scan(*, templates: dict[str, ServiceTemplate], options: ClusterOptions) -> list[tuple[str, Finding]]:
    """Every app x plan rendered as a sample instance in its namespace, with each finding labelled `app/plan`."""
    results = []
    for where, manifests in scan_renders(templates=templates, options=options).items():
        results += [(where, finding) for finding in pod_findings(manifests) + network_findings(manifests,
                                                                                               options=options)]
    return results
