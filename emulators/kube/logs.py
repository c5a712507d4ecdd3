"""Synthetic container logs for `GET .../pods/NAME/log`: deterministic per pod, growing with the cluster clock."""
# A run's lines are indexed: start-up lines come 50 ms apart from the run's start, then steady lines
# at the app's rate; a crashed run ends with its app's error lines. Any line can be made from its
# index alone, so tails and since-filters of long logs cost only the lines returned.
import math
import random

from . import pods
from .errors import bad_request
from .lifecycle import Run
from .logtext import BOOT, CRASH, RATE, STEADY, app_of

BOOT_GAP_SECONDS = 0.05
RETAINED_LINES = 10_000  # older lines are gone, as after the kubelet's log rotation


class RunLog:
    def __init__(self, app: str, seed: str, run: Run, now: float):
        self.app, self.seed, self.run = app, seed, run
        self.boot, self.steady, self.crash = BOOT[app], STEADY[app], CRASH[app] if run.crashed else []
        self.rate = RATE[app]
        self.steady_from = run.start + len(self.boot) * BOOT_GAP_SECONDS
        until = run.end if run.end is not None else now
        self.boot_count = sum(1 for i in range(len(self.boot)) if run.start + i * BOOT_GAP_SECONDS <= until)
        steady = 0
        if self.rate and until >= self.steady_from and self.boot_count == len(self.boot):
            steady = math.floor((until - self.steady_from) * self.rate)
            if run.crashed and steady and self.steady_from + steady / self.rate >= until:
                steady -= 1  # a crashed run's last word is its error
        self.steady_count = steady
        self.total = self.boot_count + steady + len(self.crash)

    def time(self, index: int) -> float:
        if index < self.boot_count:
            return self.run.start + index * BOOT_GAP_SECONDS
        if index < self.boot_count + self.steady_count:
            return self.steady_from + (index - self.boot_count + 1) / self.rate
        return self.run.end

    def first_since(self, since: float) -> int:
        """The index of the first line at or after `since`."""
        if since <= self.run.start:
            return 0
        for index in range(self.boot_count):
            if self.time(index) >= since:
                return index
        if self.steady_count:
            offset = max(0, math.ceil((since - self.steady_from) * self.rate - 1 - 1e-9))
            index = self.boot_count + offset
            while index < self.boot_count + self.steady_count and self.time(index) < since:
                index += 1
            if index < self.boot_count + self.steady_count:
                return index
        end = self.boot_count + self.steady_count
        return end if self.crash and self.run.end >= since else self.total

    def text(self, index: int, wall) -> str:
        rng = random.Random(f"{self.seed}:{index}")
        moment = wall(self.time(index))
        if index < self.boot_count:
            return self.boot[index](rng, moment)
        if index < self.boot_count + self.steady_count:
            return rng.choice(self.steady)(rng, moment)
        return self.crash[index - self.boot_count - self.steady_count](rng, moment)


def _flag(query, name: str) -> bool:
    return (query.get(name) or "").lower() in ("true", "1")


def _number(query, name: str, minimum: int) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"{name}: Invalid value: {value!r}: must be an integer") from None
    if number < minimum:
        raise bad_request(f"{name}: Invalid value: {number}: must be greater than or equal to {minimum}")
    return number


def _waiting_reason(reason: str) -> str:
    return "trying and failing to pull image" if reason in ("ErrImagePull", "ImagePullBackOff") else reason


def pod_log(state, pod: dict, query) -> str:
    """The text the kubelet would return for this pod's container, honouring the log options."""
    name = pod["metadata"]["name"]
    spec = pod["spec"]
    main, init = spec.get("containers") or [], spec.get("initContainers") or []
    wanted = query.get("container")
    if not wanted:
        if len(main) != 1:
            raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                              f"[{' '.join(c['name'] for c in main)}]"
                              + (f" or one of the init containers: [{' '.join(c['name'] for c in init)}]"
                                 if init else ""))
        wanted = main[0]["name"]
    container = next((c for c in main + init if c["name"] == wanted), None)
    if container is None:
        raise bad_request(f"container {wanted} is not valid for pod {name}")
    since_seconds, tail = _number(query, "sinceSeconds", 1), _number(query, "tailLines", 0)
    limit_bytes = _number(query, "limitBytes", 1)
    if since_seconds is not None and query.get("sinceTime"):
        raise bad_request("at most one of sinceTime or sinceSeconds may be specified")
    life = state.lives.get(pod["metadata"]["uid"])
    now = state.now()
    run, app = _choose_run(state, pod, life, container, container in init, _flag(query, "previous"), now)
    log = RunLog(app, f"{pod['metadata']['uid']}/{wanted}/{run.index}", run, now)
    first = max(0, log.total - RETAINED_LINES)
    since = -math.inf
    if since_seconds is not None:
        since = now - since_seconds
        first = max(first, log.first_since(since))
    if query.get("sinceTime"):
        try:
            since = state.clock.from_stamp(query["sinceTime"]) - 1e-6  # stamps carry microseconds at best
        except ValueError:
            raise bad_request(f"sinceTime: Invalid value: {query['sinceTime']!r}: must be RFC 3339") from None
        first = max(first, log.first_since(since))
    printed = state.faults.printed_for(pod) if not _flag(query, "previous") else None
    extra = [(printed.at, text) for text in printed.lines] if printed is not None and printed.at >= since else []
    if tail is not None:
        first = max(first, log.total - max(0, tail - len(extra)))
        extra = extra[len(extra) - min(tail, len(extra)):]
    stamps = _flag(query, "timestamps")
    lines = []
    for at, text in [(log.time(index), log.text(index, state.clock.wall)) for index in range(first, log.total)] + extra:
        lines.append(f"{state.clock.stamp_nano(at)} {text}" if stamps else text)
    body = "".join(line + "\n" for line in lines)
    if limit_bytes is not None:
        body = body.encode()[:limit_bytes].decode(errors="ignore")
    return body


def _choose_run(state, pod, life, container, is_init: bool, previous: bool, now: float) -> tuple[Run, str]:
    name, pod_name = container["name"], pod["metadata"]["name"]
    if life is None or life.node is None:
        raise bad_request(f'container "{name}" in pod "{pod_name}" is waiting to start: ContainerCreating')
    if is_init:
        clock = pods.clock_of(state, life)
        if previous:
            raise bad_request(f'previous terminated container "{name}" in pod "{pod_name}" not found')
        return Run(0, clock.origin, min(now, clock.starts_at) if now >= clock.starts_at else None), "init"
    item = pods.view(state, pod, life, container, now)
    if previous:
        if item.previous is None or item.previous.end is None:
            raise bad_request(f'previous terminated container "{name}" in pod "{pod_name}" not found')
        return item.previous, app_of(container.get("image", ""))
    if item.current is None:
        raise bad_request(f'container "{name}" in pod "{pod_name}" is waiting to start: '
                          f'{_waiting_reason(item.reason)}')
    return item.current, app_of(container.get("image", ""))
