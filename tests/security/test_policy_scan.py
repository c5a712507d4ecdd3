"""The policy scan (tests/policy_scan.py, README "Policy scan") finds nothing today, and finds each gap it looks for."""
import copy
import subprocess
import sys

import pytest

from portal.config import ROOT
from tests.policy_scan import findings, renders

pytestmark = pytest.mark.smoke
RENDERS = renders()


def test_every_app_and_plan_passes_the_scan():
    assert len(RENDERS) == 8  # n8n and WordPress in three plans, Ghost in two
    assert {name: findings(manifests) for name, manifests in RENDERS.items()} == {name: [] for name in RENDERS}


def test_the_documented_command_runs_the_scan():
    result = subprocess.run([sys.executable, "-m", "tests.policy_scan"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith("app × plan renders, "
                                                           f"{sum(map(len, RENDERS.values()))} manifests, 0 finding(s)")


def _without(manifests: list[dict], name: str) -> list[dict]:
    return [m for m in manifests if m["metadata"]["name"] != name]


def _edited(manifests: list[dict], kind: str, name: str, change) -> list[dict]:
    manifests = copy.deepcopy(manifests)
    change(next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"].endswith(name)))
    return manifests


def _ingress_only(manifests: list[dict]) -> list[dict]:
    """The policies as they were before egress was governed: inbound rules only."""
    manifests = copy.deepcopy(manifests)
    for policy in (m for m in manifests if m["kind"] == "NetworkPolicy"):
        policy["spec"]["policyTypes"] = [t for t in policy["spec"]["policyTypes"] if t != "Egress"]
        policy["spec"].pop("egress", None)
    return [m for m in manifests if m["kind"] != "NetworkPolicy" or m["spec"]["policyTypes"]]


def _open_metadata(policy: dict) -> None:
    policy["spec"]["egress"][0]["to"][0]["ipBlock"]["except"].remove("169.254.0.0/16")


def _drop_container_limit(workload: dict) -> None:
    del workload["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["ephemeral-storage"]


def _run_as_root(workload: dict) -> None:
    workload["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(runAsNonRoot=False, runAsUser=0)


def _add_net_raw(workload: dict) -> None:
    workload["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_RAW"]


def _dns_anywhere(policy: dict) -> None:
    del policy["spec"]["egress"][0]["to"][0]["namespaceSelector"]


@pytest.mark.parametrize("break_it, finding", [
    (lambda m: _without(m, "default-deny"), "Namespace customer-1: no default-deny egress policy"),
    (_ingress_only, "Deployment n8n-1-app: no egress policy selects it"),
    (lambda m: _edited(m, "NetworkPolicy", "allow-internet", _open_metadata),
     "Deployment n8n-1-app: can reach 169.254.169.254"),
    (lambda m: _edited(m, "NetworkPolicy", "allow-dns", _dns_anywhere),
     "StatefulSet n8n-1-db: can send DNS queries to a pod in customer-1 besides the cluster DNS"),
    (lambda m: _edited(m, "StatefulSet", "-db", _drop_container_limit),
     "StatefulSet n8n-1-db container db: no ephemeral-storage limits"),
    (lambda m: _edited(m, "ResourceQuota", "portal-quota", lambda q: q["spec"]["hard"].pop("limits.ephemeral-storage")),
     "namespace customer-1: no ResourceQuota caps limits.ephemeral-storage"),
    (lambda m: _edited(m, "LimitRange", "portal-limits",
                       lambda r: r["spec"]["limits"][0]["default"].pop("ephemeral-storage")),
     "namespace customer-1: no LimitRange default for ephemeral-storage"),
    (lambda m: _edited(m, "Deployment", "-app", _run_as_root), "Deployment n8n-1-app container app: root container"),
    (lambda m: _edited(m, "Deployment", "-app", _add_net_raw),
     "Deployment n8n-1-app container app: added capability"),
])
def test_the_scan_reports_each_gap(break_it, finding):
    assert any(line.startswith(finding) for line in findings(break_it(RENDERS["n8n/starter"]))), \
        findings(break_it(RENDERS["n8n/starter"]))
