"""Running a periodic job once at a time, recording each run, and recording tasks that fail."""
import logging
from collections.abc import Callable

from flask import current_app
from huey.exceptions import TaskLockedException
from sqlalchemy import insert

from portal.extensions import db
from portal.jobs.models import JobRun, TaskFailure
from portal.tasks import lock
from portal.timestamps import utcnow
from portal.unit_of_work import atomic

log = logging.getLogger(__name__)


def job_run(name: str, work: Callable[[], dict]) -> JobRun:
    """Run `work` under the job's lock (a slow run never overlaps the next) and record how it went.

    A run that finds the lock taken is recorded as skipped; a failing run as failed, with the error.
    """
    run = JobRun(name=name, started_at=utcnow(), outcome="running", result={})
    try:
        with lock(f"job:{name}", seconds=current_app.config["JOB_LOCK_SECONDS"]):
            with atomic():  # the run shows as running while the work goes on in transactions of its own
                db.session.add(run)
            try:
                result = work() or {}
            except Exception as exc:
                db.session.rollback()
                log.exception("job %s failed", name)
                with atomic():
                    run = db.session.merge(run)
                    run.outcome, run.error, run.finished_at = "failed", f"{type(exc).__name__}: {exc}"[:2000], utcnow()
                raise
    except TaskLockedException:
        with atomic():
            run.outcome, run.finished_at = "skipped", utcnow()
            run.result = {"reason": "the previous run is still going"}
            db.session.add(run)
        return run
    with atomic():
        run = db.session.merge(run)
        run.outcome, run.result, run.finished_at = "ok", result, utcnow()
    return run


def task_failure_record(*, task: str, task_id: str, arguments: str, error: str, retries_left: int) -> None:
    """Keep a failed task for the jobs page, on a connection of its own: the failing task's session
    may hold half-done work that must not be committed with it."""
    with db.engine.begin() as connection:
        connection.execute(insert(TaskFailure).values(task=task[:100], task_id=task_id[:64],
                                                      arguments=arguments[:500], error=error[:4000],
                                                      retries_left=retries_left, failed_at=utcnow()))
