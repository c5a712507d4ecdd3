"""The house rules that hold by construction: the import contracts (pyproject.toml [tool.importlinter]: the
domains in layers with no cycle and no excused import) and one place that commits."""
import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from portal import DOMAINS

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold():
    lint_imports = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _contract(contract_id: str) -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return next(contract for contract in config["contracts"] if contract["id"] == contract_id)


def test_no_import_is_excused_from_the_cycle_rule():
    assert _contract("domains-acyclic").get("ignore_imports", []) == []


def test_every_domain_has_its_layer_and_every_module_a_place():
    contract = _contract("domain-layers")
    placed = [name.strip() for layer in contract["layers"] for name in layer.replace(":", "|").split("|")]
    assert contract["containers"] == ["portal"] and contract["exhaustive"] is True
    assert set(DOMAINS) <= set(placed) and len(placed) == len(set(placed))
    assert not contract.get("ignore_imports")


def _commits(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"]


def test_only_the_use_case_boundary_commits():
    """Services add and flush; the outermost use case commits (portal/unit_of_work.py), nobody else."""
    portal = ROOT / "portal"
    found = {str(path.relative_to(ROOT)): lines for path in sorted(portal.rglob("*.py"))
             if "emulators" not in path.parts and (lines := _commits(path))}
    assert found.keys() == {"portal/unit_of_work.py"}, found
