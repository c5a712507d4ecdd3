"""Backing instances up through Velero: "Back up now", mirroring what Velero did, one retry of a failed backup,
keeping and deleting backups as the subscription's life goes on, the 36-hour alert; restoring into a fresh
namespace and switching over only once the copy is healthy."""
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from portal.backups.models import Backup, Restore
from portal.extensions import db
from portal.notifications.services import staff_alert, subscription_email
from portal.phrases import N_, Phrase, as_phrase, nphrase, phrase, phrase_english
from portal.provisioning.cluster import MANAGED_SELECTOR, ClusterError, ObjectNotFound, VeleroAbsent
from portal.provisioning.manifests import dns_label
from portal.provisioning.services import (
    cluster,
    instance_switch_namespace,
    instance_target,
    namespace_discard_instance,
    restore_namespace_prepare,
    restored_settings,
    restored_workloads_ready,
    retention_days,
    velero_absent_alert,
    velero_labels,
)
from portal.provisioning.velero import (
    API_VERSION,
    BACKUP_LABEL,
    FAILED_PHASES,
    SCHEDULE_LABEL,
    SUCCEEDED,
    backup_manifest,
    delete_backup_request_manifest,
    restore_manifest,
)
from portal.subscriptions.events import instance_event_record
from portal.subscriptions.models import Subscription
from portal.subscriptions.states import KEEPS_BACKUPS
from portal.timestamps import utcnow
from portal.unit_of_work import after_commit, atomic, use_case

IN_FLIGHT = ("requested", "restoring", "switching")


class BackupRefused(Exception):
    """A backup or restore the customer may not have now; the message says why, in their words."""


def _velero_namespace() -> str:
    return current_app.config["VELERO_NAMESPACE"]


def _stamp(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _backup_name(instance: str, kind: str) -> str:
    """Unique like Velero's own names: the time, and a suffix for two in one second."""
    return dns_label(instance, kind, f"{utcnow():%y%m%d%H%M%S}", secrets.token_hex(2))


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Back up now ---------------------------------------------------------------------------------------------

@use_case
def backup_request(*, subscription_id: int, user_id: int | None) -> Backup:
    """The customer's "Back up now": recorded at once, made in the cluster right after the commit. At most
    BACKUP_MANUAL_PER_DAY in any 24 hours, and only of a running instance."""
    subscription = db.session.get(Subscription, subscription_id, with_for_update=True)
    if subscription is None or subscription.state != "active":
        raise BackupRefused(_("Only a running instance can be backed up."))
    limit = current_app.config["BACKUP_MANUAL_PER_DAY"]
    since = utcnow() - timedelta(days=1)
    taken = db.session.scalar(select(func.count(Backup.id)).where(
        Backup.subscription_id == subscription_id, Backup.origin == "manual", Backup.created_at >= since))
    if taken >= limit:
        raise BackupRefused(ngettext("You can back up %(num)d time a day, and you did already. Your daily backup "
                                     "still runs as usual.",
                                     "You can back up %(num)d times a day, and you did already. Your daily backup "
                                     "still runs as usual.", limit))
    if db.session.scalar(select(Restore.id).where(Restore.subscription_id == subscription_id,
                                                  Restore.state.in_(IN_FLIGHT))) is not None:
        raise BackupRefused(_("A restore is in progress; back up once it is done."))
    target = instance_target(subscription)
    backup = Backup(subscription_id=subscription_id, origin="manual", phase="Requested", requested_by_id=user_id,
                    source_namespace=target.names.namespace, created_at=utcnow(),
                    name=_backup_name(target.names.instance, "now"))
    db.session.add(backup)
    db.session.flush()
    instance_event_record(subscription_id=subscription_id, kind="backup.requested", message=N_("Backup requested."))
    after_commit("backup.create", backup_id=backup.id)
    return backup


def _backup_object(backup: Backup, subscription: Subscription) -> dict:
    target = instance_target(subscription)
    return backup_manifest(name=backup.name, velero_namespace=_velero_namespace(),
                           namespace=backup.source_namespace, subscription_id=subscription.id,
                           retention_days=retention_days(subscription.plan.slug),
                           labels={**velero_labels(subscription.id, target.names.instance),
                                   "portal/origin": backup.origin})


@use_case
def backup_create(*, backup_id: int) -> str:
    """Make a requested Backup in Velero. Velero absent: the backup fails with that reason and staff are told."""
    backup = db.session.get(Backup, backup_id)
    if backup is None or backup.phase != "Requested":
        return "skipped"
    try:
        cluster().velero_check(_velero_namespace())
        cluster().create_once(_backup_object(backup, backup.subscription))
    except VeleroAbsent as exc:
        backup.phase, backup.failure_reason = "Failed", N_("The backup service (Velero) is not installed in the "
                                                          "cluster.")
        velero_absent_alert(exc.message)
        return "failed"
    backup.phase = "New"
    return "created"


# --- mirroring Velero ----------------------------------------------------------------------------------------

def _failure_of(status: dict) -> str | None:
    if status.get("failureReason"):
        return status["failureReason"]
    if status.get("validationErrors"):
        return "; ".join(status["validationErrors"])
    if status.get("phase") in FAILED_PHASES:
        return f"{status.get('errors', 0)} errors (see `velero backup describe`)"
    return None


def backups_sync() -> dict:
    """Mirror every portal-made Velero Backup (phase, times, size, kept until); retry a failed one once; apply
    the life-cycle's retention (suspended: kept; terminated: the last one kept a while, the rest deleted)."""
    gateway = cluster()
    namespace = _velero_namespace()
    try:
        gateway.velero_check(namespace)
    except VeleroAbsent as exc:
        with atomic():
            velero_absent_alert(exc.message)
        return {"velero": "absent"}
    items = gateway.list_objects(API_VERSION, "Backup", namespace=namespace, selector=MANAGED_SELECTOR)
    sizes: dict[str, int] = {}
    for volume in gateway.list_objects(API_VERSION, "PodVolumeBackup", namespace=namespace):
        name = (volume["metadata"].get("labels") or {}).get(BACKUP_LABEL)
        progress = (volume.get("status") or {}).get("progress") or {}
        sizes[name] = sizes.get(name, 0) + int(progress.get("bytesDone") or 0)
    outcome = {"seen": len(items), "new": 0, "gone": 0, "retried": 0}
    with atomic():
        outcome.update(_mirror(items, sizes))
    outcome["retried"] = _retry_failed()
    outcome.update(_retention())
    return outcome


def _mirror(items: list[dict], sizes: dict[str, int]) -> dict:
    known = {b.name: b for b in db.session.scalars(select(Backup).where(Backup.deleted_at.is_(None)))}
    subscriptions = {s.id for s in db.session.scalars(select(Subscription).where(Subscription.id.in_(
        [int(i) for i in {(o["metadata"].get("labels") or {}).get("portal/subscription", "") for o in items}
         if i.isdigit()])))}
    seen, new = set(), 0
    for item in items:
        metadata, spec, status = item["metadata"], item.get("spec") or {}, item.get("status") or {}
        labels = metadata.get("labels") or {}
        subscription_id = labels.get("portal/subscription", "")
        if not subscription_id.isdigit() or int(subscription_id) not in subscriptions:
            continue
        name = metadata["name"]
        seen.add(name)
        backup = known.get(name)
        if backup is None:
            backup = Backup(name=name, subscription_id=int(subscription_id), phase="New",
                            origin="scheduled" if SCHEDULE_LABEL in labels else labels.get("portal/origin", "manual"),
                            source_namespace=(spec.get("includedNamespaces") or [""])[0],
                            created_at=_stamp(metadata.get("creationTimestamp")) or utcnow())
            db.session.add(backup)
            new += 1
        before = backup.phase
        backup.phase = status.get("phase") or "New"
        backup.started_at = _stamp(status.get("startTimestamp"))
        backup.completed_at = _stamp(status.get("completionTimestamp"))
        backup.expires_at = _stamp(status.get("expiration"))
        backup.failure_reason = _failure_of(status)
        if name in sizes:
            backup.size_bytes = sizes[name]
        if backup.phase != before and backup.phase in (SUCCEEDED, *FAILED_PHASES):
            _record_outcome(backup)
    gone = 0
    for name, backup in known.items():
        if name not in seen and backup.phase != "Requested":
            backup.deleted_at = utcnow()  # expired (Velero's garbage collection) or deleted
            gone += 1
    return {"new": new, "gone": gone}


def _record_outcome(backup: Backup) -> None:
    if backup.phase == SUCCEEDED:
        instance_event_record(subscription_id=backup.subscription_id, kind="backup.completed",
                              message=N_("Backup completed."))
        return
    instance_event_record(subscription_id=backup.subscription_id, kind="backup.failed", level="warning",
                          message=phrase("A backup failed: %(reason)s", reason=as_phrase(backup.failure_reason or ""))
                          if backup.origin == "retry" else
                          phrase("A backup failed: %(reason)s Trying again.",
                                 reason=as_phrase(backup.failure_reason or "")))
    if backup.origin == "retry":
        staff_alert(key=f"backup-failed-twice:{backup.name}", title=f"Backup failed twice for subscription "
                                                                    f"#{backup.subscription_id}",
                    message=f"{backup.name} failed after a retry: {backup.failure_reason}")


def _retry_failed() -> int:
    """A failed backup of a running instance is tried again once, at once."""
    failed = list(db.session.scalars(select(Backup).join(Subscription, Subscription.id == Backup.subscription_id)
                                     .where(Backup.phase.in_(FAILED_PHASES), Backup.origin != "retry",
                                            Backup.retried.is_(False), Backup.deleted_at.is_(None),
                                            Subscription.state == "active")))
    for original in failed:
        with atomic():
            subscription = original.subscription
            target = instance_target(subscription)
            retry = Backup(subscription_id=subscription.id, origin="retry", phase="New", retry_of_id=original.id,
                           source_namespace=target.names.namespace, created_at=utcnow(),
                           name=_backup_name(target.names.instance, "retry"))
            cluster().create_once(_backup_object(retry, subscription))
            original.retried = True
            db.session.add(retry)
    return len(failed)


def _retention() -> dict:
    """Suspended: the backups stay until termination (no expiry). Terminated: the last good backup stays
    BACKUP_RETENTION_AFTER_TERMINATION_DAYS after the termination, the others are deleted now. Running again:
    each backup expires after the plan's retention, counted from now."""
    gateway = cluster()
    namespace = _velero_namespace()
    kept_days = current_app.config["BACKUP_RETENTION_AFTER_TERMINATION_DAYS"]
    outcome = {"kept": 0, "deleted": 0, "unexpired": 0, "expiring": 0}
    rows = list(db.session.scalars(select(Backup).join(Subscription, Subscription.id == Backup.subscription_id)
                                   .where(Backup.deleted_at.is_(None), Backup.phase != "Requested",
                                          Subscription.state.in_(KEEPS_BACKUPS))
                                   .order_by(Backup.completed_at)))
    by_subscription: dict[int, list[Backup]] = {}
    for backup in rows:
        by_subscription.setdefault(backup.subscription_id, []).append(backup)
    for backups in by_subscription.values():
        subscription = backups[0].subscription
        good = [b for b in backups if b.phase == SUCCEEDED]
        for backup in backups:
            with atomic():
                if subscription.state == "suspended" and backup.expires_at is not None:
                    gateway.merge_patch(API_VERSION, "Backup", namespace, backup.name,
                                        {"status": {"expiration": None}})
                    backup.expires_at = None
                    outcome["unexpired"] += 1
                elif subscription.state == "active" and backup.expires_at is None and backup.completed_at:
                    until = utcnow() + timedelta(days=retention_days(subscription.plan.slug))
                    gateway.merge_patch(API_VERSION, "Backup", namespace, backup.name,
                                        {"status": {"expiration": _rfc3339(until)}})
                    backup.expires_at = until
                    outcome["expiring"] += 1
                elif subscription.state == "terminated":
                    until = subscription.state_changed_at + timedelta(days=kept_days)
                    if good and backup is good[-1]:
                        if backup.expires_at is None or abs((backup.expires_at - until).total_seconds()) > 1:
                            gateway.merge_patch(API_VERSION, "Backup", namespace, backup.name,
                                                {"status": {"expiration": _rfc3339(until)}})
                            backup.expires_at = until
                            outcome["kept"] += 1
                    else:
                        backup_delete(backup)
                        outcome["deleted"] += 1
    return outcome


def backup_delete(backup: Backup) -> None:
    """Delete a backup as `velero backup delete` does (a DeleteBackupRequest: its data goes from the object store
    too), in the caller's transaction."""
    cluster().create_once(delete_backup_request_manifest(
        name=dns_label(backup.name, "delete"), velero_namespace=_velero_namespace(), backup_name=backup.name,
        labels=velero_labels(backup.subscription_id, instance_target(backup.subscription).names.instance)))
    backup.deleted_at = utcnow()


# --- health --------------------------------------------------------------------------------------------------

@use_case
def backups_health_check() -> dict:
    """Alert staff about every running instance with no successful backup in BACKUP_ALERT_HOURS (once a day each)."""
    hours = current_app.config["BACKUP_ALERT_HOURS"]
    since = utcnow() - timedelta(hours=hours)
    last_success = select(func.max(Backup.completed_at)).where(
        Backup.subscription_id == Subscription.id, Backup.phase == SUCCEEDED).scalar_subquery()
    stale = list(db.session.execute(select(Subscription.id, Subscription.subdomain, last_success).where(
        Subscription.state == "active", Subscription.state_changed_at < since,
        func.coalesce(last_success, Subscription.state_changed_at) < since)))
    for subscription_id, subdomain, last in stale:
        staff_alert(key=f"backup-stale:{subscription_id}:{utcnow():%Y%m%d}",
                    title=f"No successful backup in {hours} hours: subscription #{subscription_id}",
                    message=f"{subdomain}: the last successful backup was "
                            f"{f'at {last:%Y-%m-%d %H:%M} UTC' if last else 'never'}. Check Velero "
                            "(`velero backup get`) and the instance's schedule.")
    return {"stale": len(stale)}


# --- restore -------------------------------------------------------------------------------------------------

@use_case
def restore_request(*, subscription_id: int, backup_id: int, confirmation: str, user_id: int | None) -> Restore:
    """Ask for a restore of a completed backup; the customer confirms by typing the instance's address."""
    subscription = db.session.get(Subscription, subscription_id, with_for_update=True)
    if subscription is None or subscription.state != "active":
        raise BackupRefused(_("Only a running instance can be restored."))
    if (confirmation or "").strip().lower() != subscription.subdomain:
        raise BackupRefused(_("Type %(address)s to confirm the restore.", address=subscription.subdomain))
    backup = db.session.get(Backup, backup_id)
    if backup is None or backup.subscription_id != subscription_id or backup.deleted_at is not None:
        raise BackupRefused(_("That backup is not available any more."))
    if backup.phase != SUCCEEDED:
        raise BackupRefused(_("Only a completed backup can be restored."))
    if db.session.scalar(select(Restore.id).where(Restore.subscription_id == subscription_id,
                                                  Restore.state.in_(IN_FLIGHT))) is not None:
        raise BackupRefused(_("A restore is already in progress."))
    restore = Restore(subscription_id=subscription_id, backup_id=backup.id, state="requested", created_at=utcnow(),
                      source_namespace=instance_target(subscription).names.namespace, requested_by_id=user_id)
    db.session.add(restore)
    db.session.flush()
    instance_event_record(subscription_id=subscription_id, kind="restore.requested",
                          message=phrase("Restore from the backup of %(time)s requested; your instance keeps running "
                                         "until the restored copy is ready.", time=backup.completed_at))
    after_commit("restore.advance", restore_id=restore.id)
    return restore


def restore_advance(*, restore_id: int) -> str:
    """One step of a restore, from wherever it stands; "waiting" asks to be called again. Cluster errors
    propagate (the task retries); a refusal of Velero's ends the restore with the instance as it was."""
    restore = db.session.get(Restore, restore_id)
    if restore is None or restore.state not in IN_FLIGHT:
        return "done"
    if restore.state == "requested":
        return _restore_start(restore)
    if restore.state == "restoring":
        return _restore_watch(restore)
    return _restore_switch(restore)


def _restore_start(restore: Restore) -> str:
    subscription = restore.subscription
    try:
        cluster().velero_check(_velero_namespace())
    except VeleroAbsent as exc:
        with atomic():
            velero_absent_alert(exc.message)
        return restore_fail(restore_id=restore.id, reason=N_("the backup service is not available in the "
                                                              "cluster right now; our team has been told"))
    target = instance_target(subscription)
    with atomic():
        restore.name = dns_label(target.names.instance, "restore", str(restore.id))
        restore.target_namespace = dns_label(f"{target.names.namespace}-r{restore.id}")
    restore_namespace_prepare(subscription_id=subscription.id, namespace=restore.target_namespace)
    cluster().create_once(restore_manifest(
        name=restore.name, velero_namespace=_velero_namespace(), backup_name=restore.backup.name,
        source_namespace=restore.backup.source_namespace, target_namespace=restore.target_namespace,
        subscription_id=subscription.id, labels=velero_labels(subscription.id, target.names.instance)))
    with atomic():
        restore.state = "restoring"
    return "waiting"


def _restore_watch(restore: Restore) -> str:
    item = cluster().get(API_VERSION, "Restore", _velero_namespace(), restore.name)
    if item is None:
        return restore_fail(restore_id=restore.id, reason=N_("the restore disappeared from the backup service"))
    status = item.get("status") or {}
    phase = status.get("phase") or "New"
    if phase in FAILED_PHASES:
        reason = status.get("failureReason") or "; ".join(status.get("validationErrors") or []) \
            or f"{status.get('errors', 0)} errors"
        return restore_fail(restore_id=restore.id, reason=phrase("the backup service stopped (%(phase)s): %(reason)s",
                                                                   phase=phase, reason=reason))
    timeout = timedelta(minutes=current_app.config["RESTORE_TIMEOUT_MINUTES"])
    if phase != SUCCEEDED:
        if utcnow() - restore.created_at > timeout:
            return restore_fail(restore_id=restore.id, reason=nphrase(
                "the backup service did not finish within %(num)d minute",
                "the backup service did not finish within %(num)d minutes", timeout.seconds // 60))
        return "waiting"
    ready, waiting = restored_workloads_ready(subscription_id=restore.subscription_id,
                                              namespace=restore.target_namespace)
    if not ready:
        if utcnow() - restore.created_at > timeout:
            return restore_fail(restore_id=restore.id, reason=nphrase(
                "the restored copy did not become healthy within %(num)d minute (%(waiting)s)",
                "the restored copy did not become healthy within %(num)d minutes (%(waiting)s)",
                timeout.seconds // 60, waiting=waiting))
        return "waiting"
    settings = restored_settings(subscription_id=restore.subscription_id, namespace=restore.target_namespace)
    with atomic():
        subscription = restore.subscription
        if settings is not None:
            subscription.settings = settings  # the settings the backup's data goes with
        subscription.namespace = restore.target_namespace
        restore.state = "switching"
    return _restore_switch(restore)


def _restore_switch(restore: Restore) -> str:
    instance_switch_namespace(subscription_id=restore.subscription_id, old_namespace=restore.source_namespace)
    with atomic():
        restore.state, restore.finished_at = "completed", utcnow()
        subscription = restore.subscription
        when = restore.backup.completed_at
        instance_event_record(subscription_id=subscription.id, kind="restore.completed",
                              message=phrase("Restored from the backup of %(time)s; the instance runs from the "
                                             "restored data now.", time=when))
        subscription_email(subscription, "restore_finished", key=f"restore-finished:{restore.id}",
                           backup_time=when.isoformat())
    return "done"


def restore_fail(*, restore_id: int, reason: str | Phrase) -> str:
    """End a restore that cannot finish: its half-made copy is removed, the instance runs on as it was, and the
    customer reads why."""
    restore = db.session.get(Restore, restore_id)
    if restore.target_namespace and restore.state != "switching":
        try:
            namespace_discard_instance(subscription_id=restore.subscription_id, namespace=restore.target_namespace)
        except ObjectNotFound:
            pass
    with atomic():
        restore.state, restore.finished_at = "failed", utcnow()
        restore.reason, restore.reason_phrase = phrase_english(reason)[:2000], as_phrase(reason)
        subscription = restore.subscription
        instance_event_record(subscription_id=subscription.id, kind="restore.failed", level="error",
                              message=phrase("The restore did not work: %(reason)s. Your instance runs as before.",
                                             reason=as_phrase(reason)))
        subscription_email(subscription, "restore_failed", key=f"restore-failed:{restore.id}",
                           reason=as_phrase(reason), backup_time=restore.backup.completed_at.isoformat())
    return "failed"


def restore_give_up(*, restore_id: int, error: ClusterError) -> str:
    """The cluster kept failing: end the restore (before the switch) rather than leave it hanging."""
    db.session.rollback()
    restore = db.session.get(Restore, restore_id)
    if restore is None or restore.state not in IN_FLIGHT or restore.state == "switching":
        return "kept"
    return restore_fail(restore_id=restore_id, reason=phrase("the cluster refused it (%(reason)s: %(message)s)",
                                                         reason=error.reason or "error", message=error.message))
