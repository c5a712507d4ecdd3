"""Backup work as Huey tasks: make a requested backup, watch it, mirror Velero, alert, and restore step by step."""
from flask import current_app
from huey import crontab
from huey.exceptions import TaskLockedException

from portal.backups import services
from portal.backups.models import Backup, Restore
from portal.extensions import db
from portal.jobs.services import job_run
from portal.provisioning.cluster import ClusterError
from portal.tasks import lock, periodic_task, task
from portal.unit_of_work import follow_up_handler

LOCK_RETRY_SECONDS = 2
FINISHED = ("Completed", "PartiallyFailed", "Failed", "FailedValidation")


@task()
def backup_create(backup_id: int, attempt: int = 1) -> str:
    try:
        outcome = services.backup_create(backup_id=backup_id)
    except ClusterError as exc:
        db.session.rollback()
        if exc.transient and attempt < current_app.config["PROVISION_MAX_ATTEMPTS"]:
            backup_create.schedule((backup_id, attempt + 1),
                                   delay=current_app.config["PROVISION_RETRY_BASE_SECONDS"] * 2 ** (attempt - 1))
            return "retrying"
        raise
    if outcome == "created":
        backup_watch.schedule((backup_id, 1), delay=current_app.config["WATCH_INTERVAL_SECONDS"])
    return outcome


@task()
def backup_watch(backup_id: int, round_number: int = 1) -> str:
    """Mirror Velero every few seconds while the customer's backup runs, so the page shows it finish."""
    try:
        backups_mirror()
    except ClusterError:
        db.session.rollback()
    backup = db.session.get(Backup, backup_id)
    if backup is not None and backup.phase not in FINISHED and round_number < current_app.config["WATCH_MAX_ROUNDS"]:
        backup_watch.schedule((backup_id, round_number + 1), delay=current_app.config["WATCH_INTERVAL_SECONDS"])
        return "watching"
    return "done"


def backups_mirror() -> dict:
    return job_run("backups-sync", services.backups_sync).result


@periodic_task(crontab(minute="*/5"))
def backups_sync() -> dict:
    return backups_mirror()


@periodic_task(crontab(minute="17"))
def backups_health() -> dict:
    return job_run("backups-health", services.backups_health_check).result


@task()
def restore_advance(restore_id: int, attempt: int = 1) -> str:
    """One step of a restore under the instance's lock; waiting steps come back every few seconds."""
    restore = db.session.get(Restore, restore_id)
    if restore is None:
        return "gone"
    config = current_app.config
    try:
        with lock(f"instance-{restore.subscription_id}", seconds=config["PROVISION_LOCK_SECONDS"]):
            outcome = services.restore_advance(restore_id=restore_id)
    except TaskLockedException:
        restore_advance.schedule((restore_id, attempt), delay=LOCK_RETRY_SECONDS)
        return "locked"
    except ClusterError as exc:
        db.session.rollback()
        if exc.transient and attempt < config["PROVISION_MAX_ATTEMPTS"]:
            restore_advance.schedule((restore_id, attempt + 1),
                                     delay=config["PROVISION_RETRY_BASE_SECONDS"] * 2 ** (attempt - 1))
            return "retrying"
        return services.restore_give_up(restore_id=restore_id, error=exc)
    if outcome == "waiting":
        restore_advance.schedule((restore_id, 1), delay=config["WATCH_INTERVAL_SECONDS"])
    return outcome


follow_up_handler("backup.create", lambda *, backup_id: backup_create(backup_id))
follow_up_handler("restore.advance", lambda *, restore_id: restore_advance(restore_id))
