"""Reading what the operations tests check: deploy/ manifests, the Dockerfile, config.py's variables."""
import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
COMPOSE = ROOT / "docker-compose.yml"
OPERATIONS_GUIDE = ROOT / "docs" / "operations.md"

# Variables the image's processes read besides the portal's settings: docker/entrypoint.sh's
# process sizes and gunicorn's own FORWARDED_ALLOW_IPS.
ENTRYPOINT_VARIABLES = {"APP_DIR", "VENV", "FLASK_APP", "BIND", "PORT", "WEB_CONCURRENCY", "WEB_THREADS", "WEB_TIMEOUT",
                        "WEB_GRACEFUL_TIMEOUT", "HUEY_WORKERS", "HUEY_SHUTDOWN_TIMEOUT", "MIGRATIONS_WAIT_SECONDS",
                        "MIGRATIONS_POLL_SECONDS", "FORWARDED_ALLOW_IPS", "GUNICORN_CMD_ARGS",
                        "PROMETHEUS_MULTIPROC_DIR"}


def deploy_files() -> list[Path]:
    """The manifests: every YAML file in deploy/ except kustomize's own file."""
    return sorted(path for path in DEPLOY.glob("*.yaml") if path.name != "kustomization.yaml")


def deploy_documents() -> list[dict]:
    return [doc for path in deploy_files() for doc in yaml.safe_load_all(path.read_text()) if doc]


def one(kind: str, name: str | None = None) -> dict:
    found = [doc for doc in deploy_documents()
             if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''} in deploy/, found {len(found)}"
    return found[0]


def pod_templates() -> list[tuple[str, dict]]:
    """(name, pod spec) of every workload in deploy/."""
    return [(doc["metadata"]["name"], doc["spec"]["template"]["spec"]) for doc in deploy_documents()
            if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]


# config.py's helpers that read one variable each, named by their first argument.
CONFIG_READERS = ("env", "_flag", "_networks", "_labels")


def _is_environment_lookup(function: ast.expr) -> bool:
    """os.environ.get, environ.get or os.getenv."""
    if not isinstance(function, ast.Attribute):
        return False
    owner = function.value
    if function.attr == "get":
        return "environ" in (getattr(owner, "attr", None), getattr(owner, "id", None))
    return function.attr == "getenv" and getattr(owner, "id", None) == "os"


def config_variables() -> set[str]:
    """Every environment variable portal/config.py reads: env("X"), _flag("X"), _networks("X"), _labels("X"),
    os.environ.get("X"), os.environ["X"]."""
    tree = ast.parse((ROOT / "portal" / "config.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            function = node.func
            if (isinstance(function, ast.Name) and function.id in CONFIG_READERS) or _is_environment_lookup(function):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and getattr(node.value, "attr", None) == "environ" \
                and isinstance(node.slice, ast.Constant):
            names.add(node.slice.value)
    return names


def dockerfile_stages() -> list[dict]:
    """Each stage of the Dockerfile: its base, name and instructions (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, argument = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", argument.strip(), re.IGNORECASE)
            stages.append({"base": match.group(1), "name": match.group(2), "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((instruction, argument.strip()))
    return stages
