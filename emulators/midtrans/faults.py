"""Injected failures: the next n matching API calls answer 500, 503, or hang and then time out (504)."""
from dataclasses import asdict

from ..serving import FailRule

FAIL_STATUSES = (500, 503, "timeout")


def parse_status(status):
    """500, "500", 503, "503" or "timeout" -> the FAIL_STATUSES value; ValueError otherwise."""
    if isinstance(status, str) and status.strip().isdigit():
        status = int(status)
    if status not in FAIL_STATUSES or isinstance(status, bool):
        raise ValueError(f"status must be one of {FAIL_STATUSES}, not {status!r}")
    return status


class Faults:
    def __init__(self):
        self.fail_rules: list[FailRule] = []

    def fail_next(self, count: int, status=500, method: str | None = None, path_contains: str | None = None):
        if int(count) < 1:
            raise ValueError("count must be at least 1")
        self.fail_rules.append(FailRule(int(count), parse_status(status), method, path_contains))

    def take_failure(self, method: str, path: str) -> FailRule | None:
        """The rule that makes this call fail, counting it down; None when the call goes through."""
        for rule in self.fail_rules:
            if rule.matches(method, path):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.fail_rules.remove(rule)
                return rule
        return None

    def clear(self) -> None:
        self.fail_rules.clear()

    def describe(self) -> list[dict]:
        return [asdict(rule) for rule in self.fail_rules]
