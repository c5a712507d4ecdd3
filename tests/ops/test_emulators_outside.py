"""The emulators (emulators/) serve make run, the tests and bench; the image, deploy/ and the portal leave them out."""
import ast
import re

from tests.ops.manifests import DEPLOY, ROOT, dockerfile_stages

EMULATORS = ROOT / "emulators"


def _imports(path) -> set[str]:
    """The absolute modules a Python file imports (relative imports stay inside their package)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return modules


def _copied_sources() -> list[str]:
    """What the Dockerfile's COPY lines take from the build context (not from another stage)."""
    sources = []
    for stage in dockerfile_stages():
        for instruction, argument in stage["instructions"]:
            parts = argument.split()
            if instruction != "COPY" or any(part.startswith("--from") for part in parts):
                continue
            sources += [part.rstrip("/") for part in parts if not part.startswith("--")][:-1]
    return sources


def test_the_emulators_are_a_top_level_package_beside_bench():
    assert (EMULATORS / "kube" / "__main__.py").is_file() and (EMULATORS / "midtrans" / "__main__.py").is_file()
    assert not (ROOT / "portal" / "emulators").exists()


def test_the_image_copies_no_emulator():
    sources = _copied_sources()
    assert "portal" in sources  # the check below looks at what is really copied
    for source in sources:
        copied = ROOT / source
        assert source.split("/")[0] != "emulators", source
        inside = [copied] if copied.is_file() else [copied, *copied.rglob("*")]
        assert not any(path.name == "emulators" or "emulator" in path.stem for path in inside
                       if path.is_dir() or path.suffix == ".py"), source
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert "emulators" in ignored  # kept out of the build context too, as bench/ and tests/ are


def test_nothing_the_image_runs_imports_the_emulators():
    for path in [ROOT / "wsgi.py", *(ROOT / "portal").rglob("*.py"), *(ROOT / "migrations").rglob("*.py")]:
        for module in _imports(path):
            assert module.split(".")[0] != "emulators" and not module.startswith("portal.emulators"), \
                f"{path.relative_to(ROOT)} imports {module}"


def test_deploy_names_a_real_cluster_and_no_emulator():
    for path in DEPLOY.glob("*.yaml"):
        text = path.read_text()
        assert "emulators" not in text and "KUBE_EMULATOR" not in text and "MIDTRANS_SNAP_BASE_URL" not in text, path
    assert re.search(r"^\s*KUBE_MODE: incluster$", (DEPLOY / "configmap.yaml").read_text(), re.MULTILINE)
