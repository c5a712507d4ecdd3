"""The portal's own rollouts on an instance (restart, new settings): kept with its status, told apart from outages."""
from portal.extensions import db
from portal.phrases import N_, phrase
from portal.subscriptions.events import instance_event_record
from portal.subscriptions.models import InstanceStatus
from portal.timestamps import utcnow

ROLLOUT_STARTED = {"restart": ("restart_requested", N_("Restart requested.")),
                   "settings": ("settings", N_("Settings changed; applying them."))}
ROLLOUT_APPLIED = {"restart": ("restart", N_("Restarting: new containers are starting.")),
                   "settings": ("settings_applied", N_("New settings sent: new containers are starting."))}
ROLLOUT_DONE = {"restart": N_("Running again."), "settings": N_("Running again with your new settings.")}


def _status_row(subscription_id: int) -> InstanceStatus:
    status = db.session.get(InstanceStatus, subscription_id, with_for_update=True, populate_existing=True)
    if status is None:  # not swept yet: the sweep fills in the rest
        status = InstanceStatus(subscription_id=subscription_id, phase="Unknown", ready=False, restart_count=0,
                                components={})
        db.session.add(status)
    return status


def instance_rollout_start(*, subscription_id: int, kind: str) -> None:
    """The customer asked for a rollout: on the timeline, and on the status row (in the caller's transaction)."""
    status = _status_row(subscription_id)
    status.rollout, status.rollout_started_at, status.rollout_applied_at = kind, utcnow(), None
    event_kind, message = ROLLOUT_STARTED[kind]
    instance_event_record(subscription_id=subscription_id, kind=event_kind, message=message)


def instance_rollout_failed(*, subscription_id: int, reason: str) -> str | None:
    """The cluster refused the rollout (in the caller's transaction): it ends, on the timeline; returns its kind."""
    status = _status_row(subscription_id)
    kind, status.rollout, status.rollout_started_at, status.rollout_applied_at = status.rollout, None, None, None
    message = (phrase("Your new settings could not be applied: %(reason)s. Our team has been told.", reason=reason)
               if kind == "settings" else
               phrase("The restart could not be done: %(reason)s. Our team has been told.", reason=reason))
    instance_event_record(subscription_id=subscription_id, kind="rollout.failed", level="error", message=message)
    return kind


def instance_rollout_applied(*, subscription_id: int, kind: str) -> None:
    """The cluster was told (in the caller's transaction): from now on, ready workloads end the rollout."""
    status = _status_row(subscription_id)
    if status.rollout is None:  # a staff action or a retry with no request behind it: still the customer's pods
        status.rollout, status.rollout_started_at = kind, utcnow()
    status.rollout_applied_at = utcnow()
    event_kind, message = ROLLOUT_APPLIED[kind]
    instance_event_record(subscription_id=subscription_id, kind=event_kind, message=message)
