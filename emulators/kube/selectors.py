"""Label and field selectors, parsed and matched with the real server's semantics."""
import re

from .errors import bad_request

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[A-Za-z0-9]?(?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_TOKEN = re.compile(r"\s*(?:(?P<op>!=|==|=|!|\(|\)|,|>|<)|(?P<word>[^\s!=(),<>]+))")

# Field selectors a real server accepts beyond metadata.name/metadata.namespace; others are a 400.
EXTRA_FIELDS = {
    "Pod": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"},
    "Node": {"spec.unschedulable"},
    "Namespace": {"status.phase"},
    "Secret": {"type"},
}


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise bad_request(f"unable to parse requirement: invalid character at position {position} in {text!r}")
        position = match.end()
        tokens.append(("op", match["op"]) if match["op"] else ("word", match["word"]))
    return tokens


def parse_labels(text: str | None) -> list[tuple[str, str, tuple]]:
    """Requirements (key, operator, values); operators: exists, !exists, =, !=, in, notin, gt, lt."""
    if not text or not text.strip():
        return []
    tokens, position, requirements = _tokens(text), 0, []

    def peek():
        return tokens[position] if position < len(tokens) else (None, None)

    def fail(why: str):
        raise bad_request(f"unable to parse requirement: {why} in label selector {text!r}")

    while True:
        negated = peek() == ("op", "!")
        if negated:
            position += 1
        kind, key = peek()
        if kind != "word":
            fail("expected a label key")
        _check(key, _KEY, fail, "key")
        position += 1
        kind, op = peek()
        if negated or kind is None or (kind, op) == ("op", ","):
            requirements.append((key, "!exists" if negated else "exists", ()))
        elif kind == "op" and op in ("=", "==", "!="):
            position += 1
            kind, value = peek()
            if kind == "word":
                position += 1
            elif (kind, value) in ((None, None), ("op", ",")):
                value = ""
            else:
                fail(f"expected a value after {op!r}")
            _check(value, _VALUE, fail, "value")
            requirements.append((key, "!=" if op == "!=" else "=", (value,)))
        elif kind == "op" and op in (">", "<"):
            position += 1
            kind, value = peek()
            if kind != "word" or not value.isdigit():
                fail(f"expected an integer after {op!r}")
            position += 1
            requirements.append((key, "gt" if op == ">" else "lt", (int(value),)))
        elif kind == "word" and op in ("in", "notin"):
            position += 1
            if peek() != ("op", "("):
                fail(f"expected '(' after {op!r}")
            position += 1
            values = []
            while True:
                kind, value = peek()
                if kind == "word":
                    _check(value, _VALUE, fail, "value")
                    values.append(value)
                    position += 1
                    kind, value = peek()
                if (kind, value) == ("op", ","):
                    position += 1
                    continue
                if (kind, value) == ("op", ")"):
                    position += 1
                    break
                fail("expected ',' or ')' in a set")
            requirements.append((key, op, tuple(values)))
        else:
            fail(f"found {op!r}, expected: in, notin, =, ==, !=, gt, lt")
        kind, op = peek()
        if kind is None:
            return requirements
        if (kind, op) != ("op", ","):
            fail(f"found {op!r}, expected ','")
        position += 1


def _check(text: str, pattern: str, fail, what: str) -> None:
    if not re.fullmatch(pattern, text) or (what == "value" and len(text) > 63):
        fail(f"invalid label {what} {text!r}")


def labels_match(requirements, labels: dict | None) -> bool:
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and present and value == values[0]:
            return False
        if op == "in" and value not in values:
            return False
        if op == "notin" and present and value in values:
            return False
        if op in ("gt", "lt"):
            if not present or not re.fullmatch(r"-?\d+", value or ""):
                return False
            if (op == "gt" and not int(value) > values[0]) or (op == "lt" and not int(value) < values[0]):
                return False
    return True


def parse_fields(text: str | None, kind: str) -> list[tuple[str, bool, str]]:
    """Requirements (field path, equal?, value) joined by ','; unsupported fields are a 400 as for real."""
    if not text or not text.strip():
        return []
    requirements = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*", part)
        if not match:
            raise bad_request(f"invalid selector: {text!r}; can't understand {part!r}")
        path, op, value = match.groups()
        if path not in ("metadata.name", "metadata.namespace") and path not in EXTRA_FIELDS.get(kind, ()):
            raise bad_request(f'field label not supported: {path}')
        requirements.append((path, op != "!=", value))
    return requirements


def fields_match(requirements, obj: dict) -> bool:
    for path, equal, value in requirements:
        current = obj
        for part in path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if isinstance(current, bool):
            current = "true" if current else "false"
        current = "" if current is None else str(current)
        if (current == value) != equal:
            return False
    return True


def selector_string(selector: dict | None) -> str:
    """A LabelSelector object (matchLabels/matchExpressions) written as a selector string."""
    selector = selector or {}
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, op, values = expression["key"], expression["operator"], expression.get("values") or []
        if op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {op.lower()} ({','.join(values)})")
    return ",".join(parts)


def selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """Whether a LabelSelector object selects these labels (an empty selector selects everything)."""
    return labels_match(parse_labels(selector_string(selector)), labels)
