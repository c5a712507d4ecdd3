"""The policy scan (`flask catalog-scan`): no root container and no added capability in any app x plan, and the
scan does find them in a pod that has them (WordPress as it ran before: root, default capabilities)."""
import pytest

from portal.provisioning.policy import catalog_scan, pod_findings
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
    assert "0 root containers, 0 added capabilities, 0 failing findings in all." in result.output
    assert "FAIL" not in result.output
