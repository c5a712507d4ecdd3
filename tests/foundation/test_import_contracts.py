"""The house rules that hold by construction: the import contracts (pyproject.toml [tool.importlinter]) and one
place that commits."""
import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold():
    lint_imports = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


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
