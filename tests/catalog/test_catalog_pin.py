"""`flask catalog-pin` against a registry on loopback: tags resolved to the digests the registry serves (token
challenge, index Accept types), written into the files with everything else kept; a refusal writes nothing."""
import shutil
from pathlib import Path

import pytest

from portal.catalog.registry import MANIFEST_TYPES, Registry, RegistryError, repository_of
from portal.catalog.templates import image_parts, template_load, templates_check
from portal.config import ROOT
from tests.catalog.registry import INDEX, LoopbackRegistry

pytestmark = pytest.mark.smoke
TEMPLATES = ROOT / "service-templates"


def hub_repository(image: str) -> tuple[str, str]:
    name, tag, _ = image_parts(image)
    return (name if "/" in name else f"library/{name}"), tag


def catalog_images() -> list[str]:
    return [c.image for _, template, _ in templates_check(str(TEMPLATES)) for c in template.components]


@pytest.fixture
def registry():
    tags = {}
    for image in catalog_images():
        repository, tag = hub_repository(image)
        tags.setdefault(repository, []).append(tag)
    registry = LoopbackRegistry(tags).start()
    yield registry
    registry.stop()


@pytest.fixture
def app_config(tmp_path):
    folder = tmp_path / "service-templates"
    shutil.copytree(TEMPLATES, folder)
    return {"SERVICE_TEMPLATES_DIR": str(folder)}


def files(app) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(Path(app.config["SERVICE_TEMPLATES_DIR"]).glob("*.yaml"))}


def pin(app, registry, *extra):
    return app.test_cli_runner().invoke(args=["catalog-pin", "--docker-hub-url", registry.url, *extra])


def test_every_image_is_pinned_to_the_digest_its_tag_resolves_to(app, registry):
    before = files(app)
    result = pin(app, registry)
    assert result.exit_code == 0, result.output
    after = files(app)
    for name, text in before.items():
        template = template_load(Path(app.config["SERVICE_TEMPLATES_DIR"]) / name)
        for component in template.components:
            image_name, tag, digest = image_parts(component.image)
            repository, _ = hub_repository(f"{image_name}:{tag}")
            assert digest == registry.expected_digest(repository, tag), component.image
            assert f"{name} {component.name}: pinned {component.image}" in result.output
        # Only the image lines changed: comments, order and layout are the operator's.
        changed = [(old, new) for old, new in zip(text.splitlines(), after[name].splitlines(), strict=True)
                   if old != new]
        assert changed and all("image:" in old and new.startswith(old + "@sha256:") for old, new in changed)
    manifest_requests = [r for r in registry.requests if "/manifests/" in r["path"]]
    assert {r["method"] for r in manifest_requests} == {"HEAD"}
    assert all(r["accept"].split(", ")[:2] == [INDEX, MANIFEST_TYPES[1]] for r in manifest_requests)
    tokens = [r for r in registry.requests if r["path"] == "/token"]
    assert tokens and tokens[0]["query"]["scope"][0].startswith("repository:")

    again = pin(app, registry)
    assert again.exit_code == 0 and "pinned" not in again.output and "unchanged" in again.output
    assert files(app) == after


def test_a_registry_that_refuses_writes_nothing_and_says_why(app, registry):
    before = files(app)
    registry.refuse_tokens = True
    result = pin(app, registry)
    assert result.exit_code != 0
    assert "refused an anonymous pull token (HTTP 401)" in result.output
    assert "Nothing was written." in result.output
    assert files(app) == before


@pytest.mark.parametrize("fault, message", [
    ("unknown tag", "has no such tag (HTTP 404)"),
    ("rate limit", "rate limit was reached (HTTP 429)"),
])
def test_one_failing_image_leaves_every_file_unchanged(app, registry, fault, message):
    before = files(app)
    if fault == "unknown tag":
        registry.tags["library/wordpress"] = []  # the last file: the others resolve before it fails
    else:
        registry.rate_limited = True
    result = pin(app, registry)
    assert result.exit_code != 0 and message in result.output
    assert files(app) == before


def test_check_reports_without_writing_and_a_bumped_tag_replaces_a_stale_digest(app, registry):
    before = files(app)
    result = pin(app, registry, "--check")
    assert result.exit_code != 0 and "would pin" in result.output
    assert files(app) == before
    assert pin(app, registry).exit_code == 0
    assert pin(app, registry, "--check").exit_code == 0
    # An operator bumps the tag and leaves the old digest: pinning again replaces it with the new tag's digest.
    path = Path(app.config["SERVICE_TEMPLATES_DIR"]) / "n8n.yaml"
    stale = template_load(path).components[0].image
    path.write_text(path.read_text().replace("n8nio/n8n:1.121.3@", "n8nio/n8n:1.121.4@"))
    registry.tags["n8nio/n8n"].append("1.121.4")
    assert pin(app, registry).exit_code == 0
    image = template_load(path).components[0].image
    assert image == f"n8nio/n8n:1.121.4@{registry.expected_digest('n8nio/n8n', '1.121.4')}" and image != stale


def test_without_the_digest_header_the_manifest_body_is_hashed(registry):
    registry.omit_digest_header = True
    digest = Registry(docker_hub_url=registry.url).digest("ghost", "6.45.0-alpine")
    assert digest == registry.expected_digest("library/ghost", "6.45.0-alpine")
    assert [r["method"] for r in registry.requests if "/manifests/" in r["path"]][-1] == "GET"


def test_a_registry_that_can_only_offer_an_old_manifest_type_is_refused(registry):
    client = Registry(docker_hub_url=registry.url)
    # A client that asks for no manifest list gets another manifest and another digest: the gateway never does.
    original = registry.answer

    def strip_accept(handler, method):
        del handler.headers["Accept"]
        original(handler, method)

    registry.answer = strip_accept
    with pytest.raises(RegistryError, match="manifest.v1"):
        client.digest("ghost", "6.45.0-alpine")


@pytest.mark.parametrize("name, base, path", [
    ("ghost", "https://registry-1.docker.io", "library/ghost"),
    ("n8nio/n8n", "https://registry-1.docker.io", "n8nio/n8n"),
    ("docker.n8n.io/n8nio/n8n", "https://docker.n8n.io", "n8nio/n8n"),
    ("localhost:5000/shop/app", "http://localhost:5000", "shop/app"),
    ("127.0.0.1:5000/shop/app", "http://127.0.0.1:5000", "shop/app"),
])
def test_image_names_map_to_registries_as_docker_reads_them(name, base, path):
    repository = repository_of(name)
    assert (repository.base_url, repository.path) == (base, path)
