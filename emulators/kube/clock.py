"""Cluster time: a (possibly fake) monotonic clock, mapped to wall-clock timestamps for objects and logs."""
import datetime as dt
import time


class ClusterClock:
    """Every time-based state is measured on `now()`; timestamps shown to clients follow it too.

    Tests pass a fake clock they advance; `advance()` adds an offset so that a separate process
    (or a browser test) can move a real-clock emulator forward without waiting.
    """

    def __init__(self, clock=None):
        self._clock = clock or time.monotonic
        self._offset = 0.0
        self._origin = self._clock()
        self._wall_origin = time.time()

    def now(self) -> float:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += float(seconds)

    def snapshot(self) -> dict:
        """Where the clock stands, for a state file."""
        return {"now": self.now(), "wall": time.time(), "origin": self._origin, "wallOrigin": self._wall_origin}

    def resume(self, saved: dict) -> None:
        """Carry on from a snapshot as a real cluster would have: the wall time since it was taken has passed,
        and times recorded before map to the same timestamps (so a pod Ready then is Ready now)."""
        self._origin, self._wall_origin = saved["origin"], saved["wallOrigin"]
        self._offset = saved["now"] + max(0.0, time.time() - saved["wall"]) - self._clock()

    def wall(self, t: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._wall_origin + (t - self._origin), dt.UTC)

    def stamp(self, t: float) -> str:
        """RFC 3339 to the second, as in metadata.creationTimestamp."""
        return self.wall(t).strftime("%Y-%m-%dT%H:%M:%SZ")

    def stamp_nano(self, t: float) -> str:
        """RFC 3339 with nanoseconds, as the kubelet prefixes log lines with timestamps=true."""
        wall = self.wall(t)
        return wall.strftime("%Y-%m-%dT%H:%M:%S.") + f"{wall.microsecond:06d}000Z"

    def from_stamp(self, text: str) -> float:
        """The cluster time of an RFC 3339 timestamp (raises ValueError when it is not one)."""
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(text)
        return self._origin + (parsed.timestamp() - self._wall_origin)
