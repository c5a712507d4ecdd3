"""The status sweep's tasks: the minute's periodic sweep, and the watch that sweeps every few seconds while
something is provisioning or rolling out. Both stand by while the cluster watcher leads (its Lease is fresh):
they are its fallback."""
import time

from flask import current_app
from huey import crontab
from huey.constants import EmptyData

from portal.instances import sweep, watching
from portal.jobs.services import job_run
from portal.provisioning.cluster import ClusterError
from portal.tasks import huey, periodic_task, task
from portal.unit_of_work import follow_up_handler

WATCH_FLAG = "instances-watch"


def watch_start() -> None:
    """Start one watch chain unless a live one is running.

    A running chain refreshes the flag every round; a flag older than three rounds belongs to a
    chain that died with its consumer, and is taken over.
    """
    if watching.status_keeper(current_app.config).watcher:
        return  # the watcher shows progress as it happens
    interval = current_app.config["WATCH_INTERVAL_SECONDS"]
    now = time.time()
    if not huey.storage.put_if_empty(WATCH_FLAG, str(now).encode()):
        stamp = huey.storage.peek_data(WATCH_FLAG)
        if stamp is not EmptyData and float(stamp) > now - 3 * interval - 5:
            return
        huey.storage.put_data(WATCH_FLAG, str(now).encode())
    instances_watch.schedule(args=(1,), delay=interval)


@periodic_task(crontab(minute="*"))
def instances_sweep() -> dict:
    return job_run("status-sweep", status_sweep_or_stand_by).result


def status_sweep_or_stand_by() -> dict:
    """The full sweep only while the watcher is down (one GET of its Lease decides); the usage sample either way."""
    keeper = watching.status_keeper(current_app.config)
    if keeper.watcher:
        return {"in_charge": keeper.describe(), "sampled": sweep.usage_sample()}
    return {**sweep.instances_sweep().as_dict(), "in_charge": keeper.describe()}


@task()
def instances_watch(round_number: int = 1) -> str:
    """Sweep every few seconds while something is provisioning or rolling out, so progress shows at once."""
    huey.storage.put_data(WATCH_FLAG, str(time.time()).encode())
    if watching.status_keeper(current_app.config).watcher:
        huey.storage.delete_data(WATCH_FLAG)
        return "watcher"
    try:
        result = sweep.instances_sweep()
    except ClusterError:
        result = None  # the cluster hiccuped: look again next round
    waiting = result is None or result.provisioning or result.rolling_out
    if waiting and round_number < current_app.config["WATCH_MAX_ROUNDS"]:
        instances_watch.schedule(args=(round_number + 1,), delay=current_app.config["WATCH_INTERVAL_SECONDS"])
        return "watching"
    huey.storage.delete_data(WATCH_FLAG)
    return "settled"


# Cluster work that leaves pods coming up (a setup, a restart, new settings) asks for the watch by name.
follow_up_handler("instances.watch", watch_start)
