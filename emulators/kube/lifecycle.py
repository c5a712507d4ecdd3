"""The life of a pod's containers on the cluster clock: starting, running, ready, crash-looping, failing to pull."""
# Everything here is a pure function of times, so state can be evaluated lazily whenever it is read.
# A pod scheduled at `origin` starts its containers at origin + ready_delay/2 and is ready at
# origin + ready_delay.
import math
from dataclasses import dataclass

CRASH_RUN_SECONDS = 2.0  # how long a crash-looping container runs before it exits with code 1
BACKOFF_CAP_SECONDS = 300.0  # the kubelet's longest CrashLoopBackOff
_CAPPED_FROM = 6  # first restart whose back-off reaches the cap (10s doubling: 10, 20, 40, 80, 160, 300)


@dataclass(frozen=True)
class Run:
    """One container run; index counts runs over the container's life (it seeds the run's logs)."""
    index: int
    start: float
    end: float | None  # None while running
    crashed: bool = False


@dataclass
class ContainerView:
    state: str  # waiting | running | terminated
    reason: str = ""
    message: str = ""
    ready: bool = False
    restarts: int = 0
    current: Run | None = None  # the run `kubectl logs` shows
    previous: Run | None = None  # the run `kubectl logs --previous` shows
    next_change: float = math.inf


@dataclass
class PodClock:
    """The inputs of a pod's timeline."""
    origin: float  # when the current healthy attempt began (scheduling, or a fault being cleared)
    ready_delay: float
    banked_restarts: int = 0
    banked_last: Run | None = None

    @property
    def starts_at(self) -> float:
        return self.origin + self.ready_delay / 2

    @property
    def ready_at(self) -> float:
        return self.origin + self.ready_delay


def backoff(restart: int) -> float:
    return min(10.0 * 2 ** (restart - 1), BACKOFF_CAP_SECONDS)


def _run_start(first_end: float, k: int) -> float:
    """Start of crash run k >= 1: run 1 restarts at once, later runs after a doubling back-off."""
    start = first_end
    for j in range(1, min(k, _CAPPED_FROM)):
        start += CRASH_RUN_SECONDS + backoff(j)
    if k > _CAPPED_FROM:
        start += (k - _CAPPED_FROM) * (CRASH_RUN_SECONDS + BACKOFF_CAP_SECONDS)
    return start


def _crash_index(first_end: float, t: float) -> int:
    """The last crash run (>= 1) that has started by t (t >= first_end)."""
    k = 1
    while k < _CAPPED_FROM and _run_start(first_end, k + 1) <= t:
        k += 1
    if k == _CAPPED_FROM:
        k += int((t - _run_start(first_end, k)) // (CRASH_RUN_SECONDS + BACKOFF_CAP_SECONDS))
    return k


def healthy(clock: PodClock, t: float, ready_allowed: bool = True) -> ContainerView:
    if t < clock.starts_at:
        return ContainerView("waiting", "ContainerCreating", restarts=clock.banked_restarts,
                             previous=clock.banked_last, next_change=clock.starts_at)
    current = Run(clock.banked_restarts, clock.starts_at, None)
    ready = ready_allowed and t >= clock.ready_at
    return ContainerView("running", ready=ready, restarts=clock.banked_restarts, current=current,
                         previous=clock.banked_last,
                         next_change=clock.ready_at if ready_allowed and not ready else math.inf)


def crash_looping(clock: PodClock, since: float, t: float) -> ContainerView:
    """Runs, exits with 1, restarts after a growing back-off; ready never, restart count growing."""
    if t < clock.starts_at:
        return healthy(clock, t)
    first_end = max(clock.starts_at, since) + CRASH_RUN_SECONDS
    base = clock.banked_restarts
    first = Run(base, clock.starts_at, None)
    if t < first_end:
        ready = t < since and t >= clock.ready_at
        return ContainerView("running", ready=ready, restarts=base, current=first, previous=clock.banked_last,
                             next_change=min(first_end, since if t < since else math.inf,
                                             clock.ready_at if t < clock.ready_at else math.inf))
    k = _crash_index(first_end, t)
    start = _run_start(first_end, k)
    end = start + CRASH_RUN_SECONDS
    before = Run(base + k - 1, _run_start(first_end, k - 1) if k > 1 else clock.starts_at,
                 start if k == 1 else _run_start(first_end, k - 1) + CRASH_RUN_SECONDS, True)
    if t < end:
        return ContainerView("running", restarts=base + k, current=Run(base + k, start, None), previous=before,
                             next_change=end)
    wait = backoff(k)
    return ContainerView("waiting", "CrashLoopBackOff", f"back-off {int(wait)}s restarting failed container",
                         restarts=base + k, current=Run(base + k, start, end, True), previous=before,
                         next_change=end + wait)


def never_ready(clock: PodClock, t: float) -> ContainerView:
    return healthy(clock, t, ready_allowed=False)


def image_pull_failing(clock: PodClock, t: float) -> ContainerView:
    if t < clock.starts_at:
        return ContainerView("waiting", "ErrImagePull", "failed to pull and unpack image: not found",
                             restarts=clock.banked_restarts, previous=clock.banked_last,
                             next_change=clock.starts_at)
    return ContainerView("waiting", "ImagePullBackOff", "Back-off pulling image",
                         restarts=clock.banked_restarts, previous=clock.banked_last)


def last_terminated(view: ContainerView) -> Run | None:
    """What `lastState.terminated` reports: the run before the current one, if any ended."""
    if view.state == "waiting" and view.current is not None:
        return view.current
    return view.previous
