"""Every pod of every app and plan meets Pod Security "restricted" at the version namespaces pin: no root, no
capability kept or added, read-only roots with sized scratch where the image allows, exact image releases."""
import pytest
from kubernetes.utils import parse_quantity

from emulators.kube.pod_security import evaluate, parse_version
from portal.catalog.templates import image_parts
from portal.provisioning.manifests import POD_SECURITY_VERSION, RESTRICTED_POD_SECURITY, namespace_manifests
from tests.provisioning.test_manifests import CASES, OPTIONS, SAMPLE_SETTINGS, TEMPLATES, render

pytestmark = pytest.mark.smoke
# The components whose image cannot run with a read-only root, each saying why in its template.
WRITABLE_ROOT = {("ghost", "app")}


def pods(slug: str, plan_slug: str, sample: int) -> list[tuple[str, dict]]:
    return [(m["metadata"]["name"], m["spec"]["template"])
            for m in render(slug, plan_slug, SAMPLE_SETTINGS[slug][sample])
            if m["kind"] in ("Deployment", "StatefulSet")]


@pytest.mark.parametrize("slug, plan_slug, sample", CASES)
def test_every_pod_passes_restricted_at_the_pinned_version(slug, plan_slug, sample):
    namespace = namespace_manifests(namespace="customer-7", user_id=7, plans=[TEMPLATES[slug].plan(plan_slug)],
                                    options=OPTIONS)[0]
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    version = parse_version(labels["pod-security.kubernetes.io/enforce-version"])
    assert version == (1, 31)
    for name, template in pods(slug, plan_slug, sample):
        assert evaluate("restricted", version, template["metadata"], template["spec"]) == [], name
        # ...and still at the latest rules this checker knows, which warn and audit report.
        assert evaluate("restricted", parse_version("latest"), template["metadata"], template["spec"]) == [], name


@pytest.mark.parametrize("slug, plan_slug, sample", CASES)
def test_no_root_container_no_added_capability_and_scratch_is_sized(slug, plan_slug, sample):
    for name, template in pods(slug, plan_slug, sample):
        spec = template["spec"]
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] > 0, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security.get("runAsUser", pod_security["runAsUser"]) != 0
            assert security["capabilities"] == {"drop": ["ALL"]}, name  # nothing added back
            assert security["allowPrivilegeEscalation"] is False
            component = container["name"]
            assert security["readOnlyRootFilesystem"] is ((slug, component) not in WRITABLE_ROOT), name
            for mount in container["volumeMounts"]:
                volume = volumes[mount["name"]]
                assert "persistentVolumeClaim" in volume or volume["emptyDir"]["sizeLimit"].endswith("Mi"), mount
        for sysctl in pod_security.get("sysctls", []):
            assert sysctl["name"] == "net.ipv4.ip_unprivileged_port_start"


@pytest.mark.parametrize("slug, plan_slug, sample", CASES)
def test_scratch_volumes_fit_inside_the_pods_scratch_disk_limit(slug, plan_slug, sample):
    # emptyDirs count against the pod's ephemeral storage: a sizeLimit above the containers' limits would never
    # be the one that evicts, and the plan's figure would be a promise the pod cannot keep.
    for name, template in pods(slug, plan_slug, sample):
        spec = template["spec"]
        scratch = sum(parse_quantity(v["emptyDir"]["sizeLimit"]) for v in spec["volumes"] if "emptyDir" in v)
        limits = sum(parse_quantity(c["resources"]["limits"]["ephemeral-storage"]) for c in spec["containers"])
        assert scratch < limits, (name, scratch, limits)


def test_wordpress_runs_as_www_data_and_binds_port_80_through_the_safe_sysctl():
    app = next(t for name, t in pods("wordpress", "starter", 0) if name.endswith("-app"))
    assert app["spec"]["securityContext"]["runAsUser"] == 33
    assert app["spec"]["securityContext"]["sysctls"] == [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    assert app["spec"]["containers"][0]["ports"][0]["containerPort"] == 80
    mounts = {m["mountPath"] for m in app["spec"]["containers"][0]["volumeMounts"]}
    assert {"/var/www/html", "/run", "/tmp"} <= mounts


def test_the_templates_list_which_images_need_a_writable_root_and_why():
    writable = {(slug, c.name): c.security.writable_root_reason for slug, t in TEMPLATES.items()
                for c in t.components if not c.security.read_only_root_filesystem}
    assert set(writable) == WRITABLE_ROOT
    assert all(len(reason) > 20 for reason in writable.values())
    # Every read-only component has scratch space for /tmp.
    for slug, template in TEMPLATES.items():
        for component in template.components:
            if component.security.read_only_root_filesystem:
                assert "/tmp" in {s.mount_path for s in component.scratch}, (slug, component.name)


def test_every_image_is_an_exact_release():
    for template in TEMPLATES.values():
        for component in template.components:
            name, tag, _digest = image_parts(component.image)
            assert tag and tag != "latest" and tag[0].isdigit() and tag.count(".") >= 1, component.image
            assert tag.split("-")[0].count(".") == (1 if name == "postgres" else 2), component.image


def test_namespace_labels_pin_the_enforced_version_and_warn_at_latest():
    assert RESTRICTED_POD_SECURITY["pod-security.kubernetes.io/enforce-version"] == POD_SECURITY_VERSION == "v1.31"
    assert RESTRICTED_POD_SECURITY["pod-security.kubernetes.io/warn-version"] == "latest"
