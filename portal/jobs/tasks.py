"""Housekeeping jobs, and the record of tasks that fail."""
from huey import crontab
from huey.signals import SIGNAL_ERROR

from portal.jobs.cleanup import data_cleanup
from portal.jobs.services import job_run, task_failure_record
from portal.tasks import huey, in_app_context, periodic_task


@periodic_task(crontab(minute="40", hour="3"))
def cleanup() -> dict:
    return job_run("cleanup", data_cleanup).result


@huey.signal(SIGNAL_ERROR)
@in_app_context
def task_failed(signal, task, exc=None) -> None:
    task_failure_record(task=task.name, task_id=task.id, arguments=repr(task.args)[:500],
                        error=f"{type(exc).__name__}: {exc}", retries_left=task.retries or 0)
