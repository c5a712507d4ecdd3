"""Housekeeping on a schedule: data past its retention goes (ops reads every domain's tables, being above them)."""
from huey import crontab

from portal.jobs.services import job_run
from portal.ops.cleanup import data_cleanup
from portal.tasks import periodic_task


@periodic_task(crontab(minute="40", hour="3"))
def cleanup() -> dict:
    return job_run("cleanup", data_cleanup).result
