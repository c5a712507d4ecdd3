"""SECURITY.md names, for each threat, the test that covers it: every file and test it names must exist."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_named_in_the_threat_model_exists():
    text = (ROOT / "SECURITY.md").read_text()
    current_file = None
    missing = []
    # References look like `tests/x/test_y.py::test_name`, or `::test_name` for the file named just before.
    for path, name in re.findall(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`", text):
        if path:
            current_file = ROOT / path
            if not current_file.exists():
                missing.append(path)
                continue
        if name:
            source = current_file.read_text() if current_file and current_file.exists() else ""
            if not re.search(rf"^(?:def|async def) {name}\b|^def {name}\(", source, re.MULTILINE) and \
                    not re.search(rf"def {name}\(", source):
                missing.append(f"{current_file.relative_to(ROOT) if current_file else '?'}::{name}")
    assert missing == []
    assert len(re.findall(r"`tests/", text)) >= 25
