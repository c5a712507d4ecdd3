"""The record of tasks that fail."""
from huey.signals import SIGNAL_ERROR

from portal.jobs.services import task_failure_record
from portal.tasks import huey, in_app_context


@huey.signal(SIGNAL_ERROR)
@in_app_context
def task_failed(signal, task, exc=None) -> None:
    task_failure_record(task=task.name, task_id=task.id, arguments=repr(task.args)[:500],
                        error=f"{type(exc).__name__}: {exc}", retries_left=task.retries or 0)
