"""The Dockerfile and its entrypoint, checked statically (no Docker daemon here to build the image)."""
import ast
import importlib.metadata
import json
import os
import re
import shlex
import subprocess

from packaging.requirements import Requirement

from tests.ops.manifests import DOCKERFILE, ENTRYPOINT, ROOT, dockerfile_stages


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def instructions(stage: dict, name: str) -> list[str]:
    return [argument for instruction, argument in stage["instructions"] if instruction == name]


def test_three_stages_assets_build_runtime():
    stages = dockerfile_stages()
    assert [stage["name"] for stage in stages] == ["assets", "build", "runtime"]
    assert stages[0]["base"].startswith("node:")
    assert all(stage["base"].startswith("python:3.11-slim") for stage in stages[1:])


def test_runtime_runs_as_an_unprivileged_user_with_the_entrypoint():
    runtime = dockerfile_stages()[-1]
    users = instructions(runtime, "USER")
    assert len(users) == 1
    uid = users[0].split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so Kubernetes can verify runAsNonRoot
    last = [instruction for instruction, _ in runtime["instructions"]]
    assert last.index("USER") > max(i for i, name in enumerate(last) if name == "RUN")  # nothing runs as root after
    assert instructions(runtime, "EXPOSE") == ["8000"]
    assert json.loads(instructions(runtime, "ENTRYPOINT")[0]) == ["/app/docker/entrypoint.sh"]
    assert json.loads(instructions(runtime, "CMD")[0]) == ["web"]
    assert "/app" in instructions(runtime, "WORKDIR")
    assert any("docker/entrypoint.sh docker/entrypoint.sh" in copy for copy in instructions(runtime, "COPY"))


def test_vendor_assets_are_made_as_the_makefile_makes_them():
    makefile = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^(static/vendor/\S+):.*\n\t.*\bcp (node_modules/\S+) \$@", makefile, re.MULTILINE)
    vendor = re.search(r"^VENDOR := (.+)$", makefile, re.MULTILINE).group(1).split()
    assert sorted(target for target, _ in targets) == sorted(vendor)
    assets, _, runtime = dockerfile_stages()
    commands = " ".join(instructions(assets, "RUN"))
    assert "npm ci" in commands
    assert instructions(assets, "COPY") == ["package.json package-lock.json ./"]
    for target, source in targets:
        assert f"cp {source} {target}" in commands
    assert "--from=assets /build/static/vendor/ static/vendor/" in instructions(runtime, "COPY")


def _dev_only_packages() -> list[str]:
    build = dockerfile_stages()[1]
    argument = next(arg for arg in instructions(build, "ARG") if arg.startswith("DEV_ONLY_PACKAGES="))
    return shlex.split(argument.partition("=")[2])[0].split()


def _runtime_requirements() -> list[str]:
    """requirements.txt less the dev-only lines, filtered as the build stage's grep does."""
    dev_only = {normalised(name) for name in _dev_only_packages()}
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    return [line for line in lines if "==" in line and not line.startswith("#")
            and normalised(line.split("==")[0]) not in dev_only]


def test_the_venv_gets_requirements_txt_less_the_test_and_bench_tools():
    build, runtime = dockerfile_stages()[1:]
    run = " ".join(instructions(build, "RUN"))
    assert "python -m venv /opt/venv" in run and "/opt/venv/bin/pip install -r" in run
    assert instructions(build, "COPY") == ["requirements.txt /tmp/requirements.txt"]
    assert "--from=build /opt/venv /opt/venv" in instructions(runtime, "COPY")
    pinned = {normalised(line.split("==")[0]) for line in (ROOT / "requirements.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    dev_only = {normalised(name) for name in _dev_only_packages()}
    assert dev_only <= pinned, "a dev-only name that requirements.txt does not pin filters nothing"
    kept = {normalised(line.split("==")[0]) for line in _runtime_requirements()}
    assert {"gunicorn", "huey", "psycopg", "psycopg-binary", "kubernetes", "flask"} <= kept
    # The filter drops whole packages only: nothing kept depends on a dropped one...
    for name in kept:
        for requirement in importlib.metadata.requires(name) or []:
            parsed = Requirement(requirement)
            if parsed.marker is None or parsed.marker.evaluate({"extra": ""}):
                assert normalised(parsed.name) not in dev_only, f"{name} needs {parsed.name}"
    # ...and nothing the image runs imports one.
    dropped_modules = {module for module, dists in importlib.metadata.packages_distributions().items()
                       if any(normalised(dist) in dev_only for dist in dists)}
    for path in [ROOT / "wsgi.py", *(ROOT / "portal").rglob("*.py"), *(ROOT / "migrations").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for module in modules:
                assert module.split(".")[0] not in dropped_modules, f"{path.relative_to(ROOT)} imports {module}"


def test_dockerignore_keeps_local_state_out_and_what_is_copied_in():
    ignored = [line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert {".git", ".venv", "node_modules", "static/vendor", "instance"} <= set(ignored)
    for stage in dockerfile_stages():
        for copy in instructions(stage, "COPY"):
            parts = [part for part in copy.split() if not part.startswith("--")]
            if any(part.startswith("--from") for part in copy.split()):
                continue
            for source in parts[:-1]:
                source = source.rstrip("/")
                assert (ROOT / source).exists(), source
                assert not any(source == entry or source.startswith(entry + "/") for entry in ignored), source


def test_entrypoint_knows_every_role_and_is_valid_sh():
    assert os.access(ENTRYPOINT, os.X_OK)
    assert subprocess.run(["sh", "-n", str(ENTRYPOINT)]).returncode == 0
    script = ENTRYPOINT.read_text()
    roles = re.findall(r"^    ([a-z*-]+)\)$", script, re.MULTILINE)
    assert roles == ["web", "worker", "watcher", "migrate", "wait-migrations", "*"]
    assert "exec python -m portal.watcher" in script
    assert "portal.watcher" in (ROOT / "portal" / "launcher.py").read_text()
    assert "exec gunicorn" in script and "wsgi:app" in script
    # The consumer's module path is the one `make run` uses.
    assert "portal.worker.huey" in (ROOT / "portal" / "launcher.py").read_text()
    assert "exec huey_consumer portal.worker.huey" in script
    assert 'flask --app "$FLASK_APP" db upgrade' in script
    assert DOCKERFILE.read_text().count("ENTRYPOINT") == 1
