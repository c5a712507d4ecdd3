"""docs/operations.md cannot fall behind the code: every variable, every staff alert; the README points to it."""
import ast
import re

from tests.ops.manifests import ENTRYPOINT, ENTRYPOINT_VARIABLES, OPERATIONS_GUIDE, ROOT, config_variables


def documented_variables() -> set[str]:
    """Names in the first column of the guide's tables (several may share a row: `A`, `B`)."""
    names = set()
    for line in OPERATIONS_GUIDE.read_text().splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def test_every_variable_config_py_reads_is_documented():
    variables = config_variables()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "KUBE_MODE", "PORTAL_INSTANCE_DIR"} <= variables  # parser works
    missing = variables - documented_variables()
    assert not missing, f"add to docs/operations.md's configuration reference: {sorted(missing)}"


def test_every_variable_of_the_entrypoint_is_documented():
    read_by_script = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", ENTRYPOINT.read_text()))
    assert read_by_script <= ENTRYPOINT_VARIABLES, read_by_script - ENTRYPOINT_VARIABLES
    assert ENTRYPOINT_VARIABLES <= documented_variables(), ENTRYPOINT_VARIABLES - documented_variables()


def _alert_title(call: ast.Call, assigned: dict[str, ast.expr]) -> ast.expr | None:
    """A staff alert's title: staff_alert(title=...) or email_queue(template="staff_alert", context={"title": ...})."""
    keywords = {keyword.arg: keyword.value for keyword in call.keywords}
    if getattr(call.func, "id", None) == "staff_alert":
        title = keywords.get("title")
    elif isinstance(keywords.get("template"), ast.Constant) and keywords["template"].value == "staff_alert" \
            and isinstance(keywords.get("context"), ast.Dict):
        context = keywords["context"]
        title = next((value for key, value in zip(context.keys, context.values, strict=False)
                      if isinstance(key, ast.Constant) and key.value == "title"), None)
    else:
        return None
    if isinstance(title, ast.Name):  # title = f"..." earlier in the same function
        title = assigned.get(title.id)
    return title


def staff_alert_titles() -> list[list[str]]:
    """The fixed words of each staff alert's title in portal/, e.g. ["Instance down:"]."""
    titles = []
    for path in (ROOT / "portal").rglob("*.py"):
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) or function.name == "staff_alert":
                continue
            assigned = {node.targets[0].id: node.value for node in ast.walk(function)
                        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
            for call in (node for node in ast.walk(function) if isinstance(node, ast.Call)):
                title = _alert_title(call, assigned)
                if title is None:
                    continue
                parts = title.values if isinstance(title, ast.JoinedStr) else [title]
                titles.append([part.value.strip(" #") for part in parts
                               if isinstance(part, ast.Constant) and part.value.strip(" #")])
    return titles


def test_every_staff_alert_is_explained():
    titles = staff_alert_titles()
    assert len(titles) >= 5
    section = OPERATIONS_GUIDE.read_text().split("## Staff alert emails", 1)[1]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| ")]
    for words in titles:
        assert any(all(word in row for word in words) for row in rows), f"no row for the alert {words}"


def test_readme_keeps_its_two_commands_first_and_adds_the_third_way_after_them():
    readme = (ROOT / "README.md").read_text()
    assert readme.startswith("# Portal\n\n```\nmake run ")
    headings = re.findall(r"^## (.+)$", readme, re.MULTILINE)
    third = headings.index("The third way: docker compose")
    assert third > headings.index("What `make test` does")
    section = readme.split("## The third way: docker compose", 1)[1].split("\n## ", 1)[0]
    assert "docker compose up" in section and "docs/operations.md" in section
