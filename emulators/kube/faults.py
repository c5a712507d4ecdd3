"""Injected faults: failing API calls, and pods that crash-loop, never get ready, or cannot pull their image."""
from dataclasses import asdict, dataclass

from ..serving import FailRule

POD_FAULTS = ("image_pull_fails", "crash_loop", "never_ready")  # in order of precedence when several match
FAIL_STATUSES = (500, 409, 422, 403, "timeout")  # 422 Invalid, 403 quota exceeded


@dataclass
class PodFault:
    kind: str
    namespace: str
    name_prefix: str
    since: float

    def matches(self, pod: dict) -> bool:
        metadata = pod["metadata"]
        return metadata.get("namespace") == self.namespace and metadata["name"].startswith(self.name_prefix)


@dataclass
class PrintedLines:
    """Lines the matching pods' current containers printed at `at`, after their own (hostile output for tests)."""
    namespace: str
    name_prefix: str
    lines: list[str]
    at: float

    def matches(self, pod: dict) -> bool:
        metadata = pod["metadata"]
        return metadata.get("namespace") == self.namespace and metadata["name"].startswith(self.name_prefix)


class Faults:
    def __init__(self):
        self.fail_rules: list[FailRule] = []
        self.pod_faults: list[PodFault] = []
        self.printed: list[PrintedLines] = []

    def fail_next(self, count: int, status=500, method: str | None = None, path_contains: str | None = None):
        if status not in FAIL_STATUSES:
            raise ValueError(f"status must be one of {FAIL_STATUSES}, not {status!r}")
        if count < 1:
            raise ValueError("count must be at least 1")
        self.fail_rules.append(FailRule(int(count), status, method, path_contains))

    def take_failure(self, method: str, path: str) -> FailRule | None:
        """The rule that makes this call fail, counting it down; None when the call goes through."""
        for rule in self.fail_rules:
            if rule.matches(method, path):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.fail_rules.remove(rule)
                return rule
        return None

    def add_pod_fault(self, kind: str, namespace: str, name_prefix: str, now: float) -> None:
        if kind not in POD_FAULTS:
            raise ValueError(f"unknown pod fault {kind!r}; known: {', '.join(POD_FAULTS)}")
        self.pod_faults = [f for f in self.pod_faults
                           if (f.kind, f.namespace, f.name_prefix) != (kind, namespace, name_prefix)]
        self.pod_faults.append(PodFault(kind, namespace, name_prefix, now))

    def print_log(self, namespace: str, name_prefix: str, lines: list[str], now: float) -> None:
        if not all(isinstance(line, str) and "\n" not in line for line in lines):
            raise ValueError("lines must be strings without line breaks")
        self.printed = [p for p in self.printed if (p.namespace, p.name_prefix) != (namespace, name_prefix)]
        self.printed.append(PrintedLines(namespace, name_prefix, list(lines), now))

    def printed_for(self, pod: dict) -> PrintedLines | None:
        return next((printed for printed in self.printed if printed.matches(pod)), None)

    def pod_fault(self, pod: dict) -> PodFault | None:
        for kind in POD_FAULTS:
            for fault in self.pod_faults:
                if fault.kind == kind and fault.matches(pod):
                    return fault
        return None

    def describe(self) -> dict:
        return {"failNext": [asdict(rule) for rule in self.fail_rules],
                "pods": [asdict(fault) for fault in self.pod_faults],
                "printed": [asdict(printed) for printed in self.printed]}
