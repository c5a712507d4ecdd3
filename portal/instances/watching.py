"""Who keeps instances' status current: the cluster watcher while its Lease is fresh, else the minute sweep."""
import datetime as dt
from dataclasses import dataclass

from portal.provisioning.cluster import ClusterError, cluster_for
from portal.provisioning.leader import lease_read, parse_micro_time

LAST_EVENT = "portal/last-event"  # the leader's annotation on its Lease: when it last recorded a cluster change
LAST_RELIST = "portal/last-list"


@dataclass(frozen=True)
class StatusKeeper:
    watcher: bool
    leader: str | None = None
    last_event: dt.datetime | None = None
    down_since: dt.datetime | None = None
    lease_error: str | None = None  # the cluster's words when the Lease could not be read

    def describe(self) -> str:
        """In English, for the task's result and logs (the cluster page says the same in its reader's words)."""
        if self.watcher:
            event = f"{self.last_event:%Y-%m-%d %H:%M:%S} UTC" if self.last_event else "none yet"
            return f"watcher (leader {self.leader}, last event {event})"
        if self.down_since:
            return f"minute sweep (watcher down since {self.down_since:%Y-%m-%d %H:%M:%S} UTC)"
        if self.lease_error:
            return f"minute sweep (watcher down: its lease cannot be read: {self.lease_error})"
        return "minute sweep (watcher down: it has never run)"


def status_keeper(config) -> StatusKeeper:
    """Read the watcher's Lease (one GET): fresh means the watcher leads and the sweep stands by."""
    try:
        record = lease_read(cluster_for(config), namespace=config["WATCHER_LEASE_NAMESPACE"],
                            name=config["WATCHER_LEASE_NAME"])
    except ClusterError as error:
        return StatusKeeper(False, lease_error=error.message)
    if record is None:
        return StatusKeeper(False)
    # The Lease is written on the watcher's real clock, so it is read on the real clock (not the portal's, which
    # tests move): freshness is a fact about another process now.
    if record.fresh(dt.datetime.now(dt.UTC)):
        return StatusKeeper(True, leader=record.holder,
                            last_event=parse_micro_time(record.annotations.get(LAST_EVENT)))
    return StatusKeeper(False, down_since=record.expired_at)
