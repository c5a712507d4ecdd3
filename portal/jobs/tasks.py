"""Housekeeping and reporting jobs."""
from huey import crontab

from portal.jobs.cleanup import data_cleanup
from portal.jobs.revenue import revenue_summary_send
from portal.jobs.services import job_run
from portal.tasks import periodic_task


@periodic_task(crontab(minute="40", hour="3"))
def cleanup() -> dict:
    return job_run("cleanup", data_cleanup).result


@periodic_task(crontab(minute="0", hour="6", day="1"))
def revenue_summary() -> dict:
    return job_run("revenue-summary", revenue_summary_send).result
