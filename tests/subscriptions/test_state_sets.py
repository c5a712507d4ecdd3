"""The subscription state machine's named state sets live in one module, so no other module re-decides them."""
import ast
import re
from pathlib import Path

from portal.subscriptions import states

PORTAL = Path(__file__).resolve().parents[2] / "portal"
STATES_MODULE = PORTAL / "subscriptions" / "states.py"
# portal/billing/ is being reworked in parallel (issue 17, the billing points); its three sets (RUNNING,
# HOLDS_RESOURCES, and "not ENDED and not pending_payment") move to these names when that work merges. The lead
# deletes this line then, and the test holds billing too.


def _state_literals(path: Path):
    """Tuples, lists and sets written out of subscription state names (and nothing else) in one module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts and all(
                isinstance(element, ast.Constant) and element.value in states.TRANSITIONS for element in node.elts):
            yield f"{path.relative_to(PORTAL.parent)}:{node.lineno}"


def test_every_state_name_literal_set_lives_in_states_module():
    offenders = [where for path in sorted(PORTAL.rglob("*.py")) if path != STATES_MODULE
                 for where in _state_literals(path)]
    assert offenders == []


def test_the_scan_sees_the_sets_in_the_states_module():
    # Proves the scan would find a literal set if one were written outside: it finds the ones written here.
    assert list(_state_literals(STATES_MODULE))


def test_named_sets_only_hold_known_states():
    for name in ("HOLDS_RESOURCES", "WATCHED", "VISIBLE", "BILLABLE", "RUNNING", "CANCELLABLE", "SETTING_UP",
                 "ENDED", "STAFF_EXTENDABLE", "STATES"):
        assert set(getattr(states, name)) <= set(states.TRANSITIONS), name
    assert set(states.STATES) == set(states.TRANSITIONS)
    assert set(states.ENDED) == {state for state, moves in states.TRANSITIONS.items() if not moves}


def test_no_template_writes_out_a_set_of_states():
    listed = re.compile(r"""[(\[]\s*((?:['"]\w+['"]\s*,?\s*)+)[)\]]""")
    offenders = []
    for path in sorted((PORTAL.parent / "templates").rglob("*.html")):
        for match in listed.finditer(path.read_text()):
            names = re.findall(r"""['"](\w+)['"]""", match.group(1))
            if "," in match.group(1) and set(names) <= set(states.TRANSITIONS):  # a call's one argument is no set
                offenders.append(f"{path.relative_to(PORTAL.parent)}: {match.group(0)}")
    assert offenders == []
