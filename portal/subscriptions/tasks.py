"""The life cycle's periodic tasks; each runs under its own lock and records its run."""
from huey import crontab

from portal.jobs.services import job_run
from portal.subscriptions import lifecycle
from portal.tasks import periodic_task


@periodic_task(crontab(minute="10"))
def reminders_send() -> dict:
    return job_run("reminders", lifecycle.reminders_send).result


@periodic_task(crontab(minute="*/15"))
def expiry_process() -> dict:
    return job_run("expiry", lifecycle.expiry_process).result


@periodic_task(crontab(minute="20"))
def retention_process() -> dict:
    return job_run("retention", lifecycle.retention_process).result

