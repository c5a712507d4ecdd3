"""The suite's own rules, read from its source: fixtures are shared through plugins, the portal's time moves only
through its one clock, and no test replaces a portal function with one of its own."""
import ast
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests import conftest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*ROOT.joinpath("tests").rglob("*.py"), *ROOT.joinpath("bench").rglob("*.py")])


def _parsed():
    for path in SOURCES:
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), filename=str(path))


def _imported_modules(tree) -> list[str]:
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return modules


def test_no_module_imports_from_a_conftest():
    # pytest finds fixtures by name: importing one from a conftest registers it twice and hides where it lives.
    offenders = [(path, module) for path, tree in _parsed() for module in _imported_modules(tree)
                 if module.split(".")[-1] == "conftest"]
    assert offenders == []


def test_shared_fixtures_are_plugins_of_the_root_conftest():
    assert conftest.pytest_plugins and all(name.startswith("tests.fixtures.") for name in conftest.pytest_plugins)
    for name in conftest.pytest_plugins:
        assert ROOT.joinpath(*name.split(".")).with_suffix(".py").is_file(), name
    listed = {f"tests.fixtures.{path.stem}" for path in ROOT.joinpath("tests", "fixtures").glob("*.py")
              if path.stem != "__init__"}
    assert listed == set(conftest.pytest_plugins)


def test_the_portal_clock_is_set_only_by_the_travel_fixture():
    setters = sorted({path for path, tree in _parsed() for node in ast.walk(tree)
                      if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None))
                      == "clock_set"})
    assert setters == ["tests/fixtures/clock.py"]


def _portal_names(tree) -> set[str]:
    """Names this module binds to the portal's own modules, classes and functions."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "portal":
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names
                         if alias.name.split(".")[0] == "portal")
    return names


def _root_name(node) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def patches_of_portal_code(tree) -> list[str]:
    """Each `monkeypatch.setattr` / `mock.patch(.object)` whose target is portal code, as source text."""
    portal = _portal_names(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("setattr", "patch", "object", "dict") and node.args):
            continue
        target = node.args[0]
        if isinstance(target, ast.Constant) and isinstance(target.value, str):
            hit = target.value.split(".")[0] == "portal"
        else:
            hit = _root_name(target) in portal
        if hit:
            found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize("source, patched", [
    ("from portal.instances import sweep\nmonkeypatch.setattr(sweep, 'utcnow', f)", True),
    ("from portal.provisioning.cluster import Cluster\nmonkeypatch.setattr(Cluster, 'read_log', f)", True),
    ("import portal.admin.selectors\nmonkeypatch.setattr(portal.admin.selectors, 'LIMIT', 2)", True),
    ("from unittest import mock\nmock.patch('portal.billing.services.email_dispatch')", True),
    ("import kubernetes_validate\npatch.setattr(kubernetes_validate.utils, 'schema_contents', f)", False),
    ("monkeypatch.setenv('REDIS_URL', 'redis://127.0.0.1/3')", False),
])
def test_the_patch_finder_knows_a_patch_of_portal_code(source, patched):
    assert bool(patches_of_portal_code(ast.parse(source))) is patched


def test_no_test_replaces_portal_code():
    # A replaced function is not tested; faults, time and settings reach the code through its real seams
    # (the emulators' fault controls, the travel clock, the app's configuration, the queue). bench/ is not held
    # to this: its naive-sweep baseline swaps the sweep's gateway on purpose, to measure the one it replaced.
    assert {path: found for path, tree in _parsed() if path.startswith("tests/")
            and (found := patches_of_portal_code(tree))} == {}


def _make_dry_run(*targets: str) -> list[str]:
    """The commands `make` would run for these targets (nothing is run)."""
    done = subprocess.run(["make", "-n", *targets], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_make_test_runs_ruff_before_any_test():
    commands = _make_dry_run("test")
    lint = next(i for i, line in enumerate(commands) if "/ruff check" in line)
    first_pytest = next(i for i, line in enumerate(commands) if "/pytest" in line)
    assert lint < first_pytest
    assert commands[lint].split()[2:7] == ["portal", "tests", "bench", "migrations", "wsgi.py"]


def test_ruff_rules_are_configured():
    lint = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert {"E", "F", "W", "I", "B", "UP"} <= set(lint["select"])



def test_the_code_passes_ruff_as_make_lint_runs_it():
    command = next(line for line in _make_dry_run("lint") if "/ruff check" in line).split()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:]
