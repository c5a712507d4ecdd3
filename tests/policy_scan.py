"""Policy scan: every app × plan rendered as the portal renders it, and what would leave a tenant exposed.

Run it with `.venv/bin/python -m tests.policy_scan` (README, "Policy scan"): one line per finding, exit status 1
when there is any. tests/security/test_policy_scan.py runs it in the suite.
"""
import sys

from portal.catalog.templates import templates_load
from portal.config import ROOT
from portal.provisioning.manifests import ClusterOptions
from portal.provisioning.policy import WORKLOAD_KINDS as WORKLOADS
from portal.provisioning.policy import network_findings, pod_findings, scan_renders

QUOTA_KEYS = ("requests.ephemeral-storage", "limits.ephemeral-storage")


def renders(options: ClusterOptions | None = None) -> dict[str, list[dict]]:
    """`app/plan` → the namespace's and the instance's manifests, with the template's default settings."""
    return scan_renders(templates=templates_load(str(ROOT / "service-templates")), options=options or ClusterOptions(),
                        namespace_prefix="customer-")


def _network_findings(manifests: list[dict]) -> list[str]:
    # The same judgement as `flask catalog-scan`: default-deny, egress to where no tenant may connect, DNS.
    return [f"{f.workload.replace('/', ' ', 1)}: {f.detail}"
            for f in network_findings(manifests, options=ClusterOptions())]


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
