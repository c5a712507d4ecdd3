"""Service templates: the three apps load, a broken file fails loudly at start-up, a fourth app is one file."""
import shutil
import textwrap
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from portal import create_app
from portal.catalog.templates import TemplateError, template_load, templates_load
from portal.config import ROOT

pytestmark = pytest.mark.smoke
TEMPLATES = ROOT / "service-templates"


def test_the_three_apps_load_with_their_plans():
    templates = templates_load(str(TEMPLATES))
    assert set(templates) == {"n8n", "ghost", "wordpress"}
    assert [p.slug for p in templates["n8n"].plans] == ["starter", "pro", "business"]
    assert templates["ghost"].components[1].image.startswith("mysql:8.4.")
    assert templates["wordpress"].components[1].image.startswith("mysql:8")
    assert templates["n8n"].components[1].image.startswith("postgres:")


def broken(tmp_path: Path, slug: str, change) -> Path:
    data = yaml.safe_load((TEMPLATES / f"{slug}.yaml").read_text())
    change(data)
    path = tmp_path / f"{slug}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("change, field, message", [
    (lambda d: d.update(colour="red"), "colour", "unknown field"),
    (lambda d: d["components"][0].update(replica=2), "components.0.replica", "unknown field"),
    (lambda d: d["components"][0]["env"].append({"name": "X", "value": "{{ params.nope }}"}),
     "components[0].env", "params.nope"),
    (lambda d: d["components"][0]["env"].append({"name": "Y", "secret": "nope"}), "components[0].env", "'nope'"),
    (lambda d: d["components"][0].update(port=70000), "components.0.port", "less than or equal to 65535"),
    (lambda d: d["components"][0].pop("image"), "components.0.image", "Field required"),
    (lambda d: d["plans"][0].update(price_idr=-5), "plans.0.price_idr", "greater than or equal to 0"),
    (lambda d: d["components"][1].update(exposed=True), "components", "exactly one component"),
    (lambda d: d.update(slug="other"), "slug", "must match the file name"),
    (lambda d: d["components"][0].update(image="n8nio/n8n:1"), "components.0.image", "the tag '1' floats"),
    (lambda d: d["components"][0].update(image="n8nio/n8n:latest"), "components.0.image", "'latest' floats"),
    (lambda d: d["components"][0].update(image="n8nio/n8n"), "components.0.image", "has no tag"),
    (lambda d: d["components"][1].update(image="postgres:16-alpine"), "components.1.image", "'16-alpine' floats"),
    (lambda d: d["components"][0].update(image="n8nio/n8n@sha256:" + "a" * 64), "components.0.image",
     "keep the release tag beside the digest"),
    (lambda d: d["components"][0].update(image="n8nio/n8n:1.121.3@sha256:abc"), "components.0.image",
     "is not an image reference"),
    (lambda d: d["components"][0]["security"].update(run_as_non_root=False), "components.0.security",
     'Pod Security "restricted" needs true'),
    (lambda d: d["components"][0]["security"].update(add_capabilities=["NET_RAW"]), "components.0.security",
     "allows only NET_BIND_SERVICE, not NET_RAW"),
    (lambda d: d["components"][0]["security"].update(sysctls={"net.core.somaxconn": "1024"}),
     "components.0.security", "net.core.somaxconn is not a sysctl Pod Security allows"),
    (lambda d: d["components"][0]["security"].update(run_as_user=0), "components.0.security.run_as_user",
     "greater than or equal to 1"),
    (lambda d: d["components"][0]["security"].update(read_only_root_filesystem=False), "components.0.security",
     "say why the image needs a writable root filesystem"),
    (lambda d: d["components"][0]["scratch"].append({"name": "data", "mount_path": "/x", "size_mb": 5}),
     "components.0", "name 'data' appears twice"),
    (lambda d: d["components"][0]["scratch"][0].pop("size_mb"), "components.0.scratch.0.size_mb", "Field required"),
    (lambda d: d["components"][1].update(ephemeral_storage_share=0.5), "components",
     "the ephemeral_storage_share values add up to more than 1"),
    (lambda d: d["components"][0].update(ephemeral_storage_share=0), "components.0.ephemeral_storage_share",
     "greater than 0"),
])
def test_a_broken_template_names_the_file_and_the_field(tmp_path, change, field, message):
    path = broken(tmp_path, "n8n", change)
    with pytest.raises(TemplateError) as error:
        template_load(path)
    text = str(error.value)
    assert text.startswith("n8n.yaml:")
    assert field in text and message in text


def test_a_component_without_a_scratch_disk_share_gets_its_memory_share(tmp_path):
    path = broken(tmp_path, "n8n", lambda d: [c.pop("ephemeral_storage_share") for c in d["components"]])
    assert [c.ephemeral_storage_share for c in template_load(path).components] == [0.7, 0.3]


def test_start_up_fails_loudly_on_a_broken_template(tmp_path):
    broken(tmp_path, "ghost", lambda d: d["components"][0].pop("image"))
    with pytest.raises(TemplateError, match=r"ghost\.yaml: components\.0\.image"):
        create_app({"SERVICE_TEMPLATES_DIR": str(tmp_path), "SECRET_KEY": "k", "TESTING": True})


def test_an_image_may_carry_its_digest_beside_the_release_tag(tmp_path):
    digest = "sha256:" + "0123456789abcdef" * 4
    path = broken(tmp_path, "n8n", lambda d: d["components"][0].update(image=f"n8nio/n8n:1.121.3@{digest}"))
    assert template_load(path).components[0].image == f"n8nio/n8n:1.121.3@{digest}"


def test_a_file_that_is_not_yaml_is_reported(tmp_path):
    (tmp_path / "bad.yaml").write_text("slug: [unclosed\n")
    with pytest.raises(TemplateError, match="bad.yaml: cannot be read as YAML"):
        template_load(tmp_path / "bad.yaml")


FOURTH_APP = textwrap.dedent("""
    slug: uptime-kuma
    name: Uptime Kuma
    description: A self-hosted monitoring tool for your websites and services.
    category: Monitoring
    version: "1.23"
    plans:
      - {slug: mini, name: Mini, cpu_millicores: 250, memory_mb: 512, storage_gb: 2, price_idr: 39000}
    parameters:
      - {name: timezone, label: Timezone, type: timezone, default: Asia/Jakarta}
    components:
      - name: app
        image: louislam/uptime-kuma:1.23.16
        port: 3001
        exposed: true
        cpu_share: 1
        memory_share: 1
        env:
          - {name: TZ, value: "{{ params.timezone }}"}
        volumes:
          - {name: data, mount_path: /app/data, storage_share: 1}
        probes:
          readiness: {tcp_port: 3001}
          liveness: {tcp_port: 3001}
        security: {run_as_user: 1000, fs_group: 1000}
        scratch:
          - {name: tmp, mount_path: /tmp, size_mb: 64}
""")


@pytest.fixture
def app_config(tmp_path):
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    (folder / "uptime-kuma.yaml").write_text(FOURTH_APP)
    return {"SERVICE_TEMPLATES_DIR": str(folder)}


def test_a_fourth_app_is_one_file(app, client):
    """Seeded, listed in the catalog, and rendered to schema-valid manifests."""
    from portal.catalog.selectors import service_templates
    from portal.catalog.services import catalog_seed
    from portal.provisioning.manifests import ClusterOptions, instance_manifests, instance_names

    templates = service_templates()
    catalog_seed(templates=templates)
    page = client.get("/catalog").get_data(as_text=True)
    assert "Uptime Kuma" in page and "Rp39,000" in page
    template = templates["uptime-kuma"]
    names = instance_names(namespace_prefix="customer-", user_id=1, service_slug=template.slug,
                           subscription_id=5, subdomain="status-page", cluster_domain="localtest.me")
    manifests = instance_manifests(template=template, plan=template.plans[0], settings={"timezone": "Asia/Jakarta"},
                                   secrets={}, names=names, subscription_id=5, options=ClusterOptions())
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.34", strict=True)
    assert {m["kind"] for m in manifests} == {"Secret", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service",
                                             "NetworkPolicy", "Ingress"}
