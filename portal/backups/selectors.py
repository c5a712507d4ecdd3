"""What the backup pages show: an instance's backups and restores, what its owner may do, and staff's health view."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.backups.models import Backup, Restore
from portal.extensions import db
from portal.provisioning.velero import FAILED_PHASES, SUCCEEDED
from portal.subscriptions.models import Subscription
from portal.subscriptions.states import BACKUPS_WATCHED, VISIBLE
from portal.timestamps import utcnow

IN_FLIGHT = ("requested", "restoring", "switching")
PHASE_WORDS = {"Requested": ("Requested", "secondary"), "New": ("Starting", "info"),
               "InProgress": ("In progress", "info"),
               "Completed": ("Completed", "success"), "PartiallyFailed": ("Partly failed", "warning"),
               "Failed": ("Failed", "danger"), "FailedValidation": ("Failed", "danger"),
               "Deleting": ("Being deleted", "secondary")}
RESTORE_WORDS = {"requested": _l("Starting"), "restoring": _l("Restoring into a fresh copy"),
                 "switching": _l("Switching over"), "completed": _l("Restored"), "failed": _l("Failed")}


@dataclass(frozen=True)
class BackupRow:
    id: int
    name: str
    taken_at: datetime
    size_bytes: int | None
    word: str
    tone: str
    kept_until: datetime | None
    origin: str
    failure_reason: str | None
    restorable: bool
    running: bool


@dataclass(frozen=True)
class BackupsView:
    rows: list[BackupRow]
    restores: list[Restore]
    can_back_up: bool
    manual_left: int
    manual_limit: int
    restore_running: Restore | None
    refusal: str | None  # why "Back up now" / "Restore" are not offered

    @property
    def settled(self) -> bool:
        return self.restore_running is None and not any(row.running for row in self.rows)


def owned_instance(*, user_id: int, subscription_id: int) -> Subscription | None:
    """The customer's own instance (not over yet), or None: another customer's id looks like a missing one."""
    return db.session.scalar(select(Subscription).where(
        Subscription.id == subscription_id, Subscription.user_id == user_id, Subscription.state.in_(VISIBLE)))


def backups_view(subscription: Subscription) -> BackupsView:
    backups = list(db.session.scalars(select(Backup).where(
        Backup.subscription_id == subscription.id, Backup.deleted_at.is_(None))
        .order_by(Backup.created_at.desc(), Backup.id.desc()).limit(60)))
    restores = list(db.session.scalars(select(Restore).where(Restore.subscription_id == subscription.id)
                                       .order_by(Restore.id.desc()).limit(5)))
    running = next((r for r in restores if r.state in IN_FLIGHT), None)
    limit = current_app.config["BACKUP_MANUAL_PER_DAY"]
    taken = db.session.scalar(select(func.count(Backup.id)).where(
        Backup.subscription_id == subscription.id, Backup.origin == "manual",
        Backup.created_at >= utcnow() - timedelta(days=1)))
    active = subscription.state == "active"
    refusal = None
    if not active:
        refusal = (_l("Backups are kept while the instance is stopped; it can be backed up and restored once it runs "
                      "again.") if subscription.state == "suspended" else _l("Backups start once the instance runs."))
    elif running is not None:
        refusal = _l("A restore is in progress.")
    rows = [BackupRow(id=b.id, name=b.name, taken_at=b.completed_at or b.started_at or b.created_at,
                      size_bytes=b.size_bytes, word=PHASE_WORDS.get(b.phase, (b.phase, "secondary"))[0],
                      tone=PHASE_WORDS.get(b.phase, (b.phase, "secondary"))[1], kept_until=b.expires_at,
                      origin=b.origin, failure_reason=b.failure_reason,
                      restorable=active and running is None and b.phase == SUCCEEDED,
                      running=b.phase not in (SUCCEEDED, *FAILED_PHASES))
            for b in backups]
    return BackupsView(rows=rows, restores=restores, can_back_up=active and running is None and taken < limit,
                       manual_left=max(0, limit - taken), manual_limit=limit, restore_running=running,
                       refusal=refusal)


@dataclass(frozen=True)
class BackupHealth:
    subscription_id: int
    subdomain: str
    state: str
    last_success: datetime | None
    age_hours: float | None
    failures: int  # in the last 7 days
    last_failure: str | None
    stale: bool


def backup_health() -> list[BackupHealth]:
    """Every running or stopped instance's backup health, the worst first."""
    hours = current_app.config["BACKUP_ALERT_HOURS"]
    now = utcnow()
    week = now - timedelta(days=7)
    subscriptions = list(db.session.scalars(select(Subscription).where(
        Subscription.state.in_(BACKUPS_WATCHED)).order_by(Subscription.id)))
    ids = [s.id for s in subscriptions]
    last = dict(db.session.execute(select(Backup.subscription_id, func.max(Backup.completed_at)).where(
        Backup.subscription_id.in_(ids), Backup.phase == SUCCEEDED).group_by(Backup.subscription_id)).all())
    failures = dict(db.session.execute(select(Backup.subscription_id, func.count(Backup.id)).where(
        Backup.subscription_id.in_(ids), Backup.phase.in_(FAILED_PHASES), Backup.created_at >= week)
        .group_by(Backup.subscription_id)).all())
    reasons = {}
    for subscription_id, reason in db.session.execute(select(Backup.subscription_id, Backup.failure_reason).where(
            Backup.subscription_id.in_(ids), Backup.phase.in_(FAILED_PHASES)).order_by(Backup.created_at)):
        reasons[subscription_id] = reason
    rows = []
    for subscription in subscriptions:
        success = last.get(subscription.id)
        age = (now - success).total_seconds() / 3600 if success else None
        since = success or subscription.state_changed_at
        stale = subscription.state == "active" and (now - since) > timedelta(hours=hours)
        rows.append(BackupHealth(subscription.id, subscription.subdomain, subscription.state, success, age,
                                 failures.get(subscription.id, 0), reasons.get(subscription.id), stale))
    return sorted(rows, key=lambda r: (not r.stale, -r.failures, -(r.age_hours or 0)))
