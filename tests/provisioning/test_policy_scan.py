"""The policy scan (`flask catalog-scan`): no root container, no added capability and no network isolation gap in
any app x plan, and the scan does find them where they are (WordPress as it ran before: root, default capabilities;
egress settings that leave the metadata service or the cluster reachable)."""
import dataclasses

import pytest

from portal.provisioning.policy import catalog_scan, network_findings, pod_findings, scan_renders, unreachable_addresses
from tests.provisioning.test_manifests import OPTIONS, TEMPLATES

pytestmark = pytest.mark.smoke


def test_no_app_and_plan_has_a_failing_finding_and_the_notes_are_the_explained_ones():
    results = catalog_scan(templates=TEMPLATES, options=OPTIONS)
    assert {where.split("/")[0] for where, _ in results} == set(TEMPLATES)
    assert [f for _, f in results if f.failing] == []
    writable = {(where.split("/")[0], f.container) for where, f in results if f.kind == "writable root"}
    assert writable == {("ghost", "app")}


def test_the_scan_finds_root_and_capabilities_in_the_old_wordpress_pod():
    old_wordpress = {"kind": "Deployment", "metadata": {"name": "wordpress-1-app"},
                     "spec": {"template": {"spec": {
                         "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "fsGroup": 33},
                         "containers": [{"name": "app", "image": "wordpress:6.8-apache",
                                         "securityContext": {"allowPrivilegeEscalation": False}}]}}}}
    kinds = {f.kind for f in pod_findings([old_wordpress])}
    assert {"root container", "capabilities kept", "writable root", "tag without digest"} == kinds
    raw = {"kind": "Pod", "metadata": {"name": "x"},
           "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 0},
                    "containers": [{"name": "c", "image": "busybox:1.37.0",
                                    "securityContext": {"capabilities": {"add": ["NET_RAW"], "drop": ["ALL"]},
                                                        "readOnlyRootFilesystem": True}}]}}
    found = {(f.kind, f.detail) for f in pod_findings([raw])}
    assert ("root container", "runs as uid 0") in found and ("added capability", "NET_RAW") in found
    assert ("privilege escalation", "allowPrivilegeEscalation is not false") in found


def test_the_command_reports_no_root_container_and_no_added_capability(app):
    result = app.test_cli_runner().invoke(args=["catalog-scan"])
    assert result.exit_code == 0, result.output
    assert "0 root containers, 0 added capabilities, 0 network isolation gaps, 0 failing findings in all." \
        in result.output
    assert "FAIL" not in result.output


def test_every_render_is_isolated_and_the_cluster_ranges_are_among_the_addresses_tried():
    rendered = scan_renders(templates=TEMPLATES, options=OPTIONS)
    assert {kind for manifests in rendered.values() for kind in (m["kind"] for m in manifests)} >= {
        "Namespace", "NetworkPolicy", "Deployment"}
    assert {where: network_findings(manifests, options=OPTIONS) for where, manifests in rendered.items()} == {
        where: [] for where in rendered}
    options = dataclasses.replace(OPTIONS, cluster_cidrs=("198.18.0.0/15", "2001:db8:42::/56"))
    assert {"169.254.169.254", "fd00:ec2::254", "198.18.0.1", "2001:db8:42::1"} <= set(unreachable_addresses(options))


def test_the_command_reports_the_egress_gaps_of_this_installs_settings(app):
    # An operator who narrowed the excepted ranges to 10.0.0.0/8 and moved the cluster to 198.18.0.0/15.
    app.config.update(K8S_EGRESS_EXCEPT_CIDRS=("10.0.0.0/8",), K8S_CLUSTER_CIDRS=("198.18.0.0/15",))
    result = app.test_cli_runner().invoke(args=["catalog-scan"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    for ip in ("169.254.169.254", "192.168.0.1", "100.64.0.1"):
        assert f"FAIL n8n/starter Deployment/n8n-1-app: egress open: can reach {ip}" in lines, ip
    # Still excepted: the operator's 10.0.0.0/8, and the cluster's ranges (the builder adds them to every except).
    assert not any("can reach 10.0.0.1" in line or "can reach 198.18.0.1" in line for line in lines)
    gaps = sum(1 for line in lines if line.startswith("FAIL") and ": egress open: " in line)
    assert gaps > 0 and f"0 root containers, 0 added capabilities, {gaps} network isolation gaps, {gaps} failing " \
                        f"findings in all." in result.output
    assert "Some pods are not hardened or not isolated." in result.output
