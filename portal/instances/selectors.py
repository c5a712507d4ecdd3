"""Reading an instance for its owner: subscription, status, events, usage, and what it is made of."""
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.catalog.models import Plan
from portal.extensions import db
from portal.instances.models import InstanceEvent, InstanceStatus, ResourceSample
from portal.subscriptions.models import Subscription
from portal.timestamps import utcnow

VISIBLE_STATES = ("pending_payment", "provisioning", "provisioning_failed", "active", "suspended")
TRANSITIONAL = ("provisioning",)
PROGRESS_STEPS = (("step.namespace", "Namespace"), ("step.secret", "Secrets"), ("step.volumes", "Storage"),
                  ("step.workloads", "Workloads"), ("step.network", "Network"), ("step.ingress", "Address"),
                  ("step.scheduled", "Scheduled"), ("step.started", "Started"), ("ready", "Ready"))


def instance_for(*, user_id: int, subscription_id: int) -> Subscription | None:
    """The customer's own subscription, or None (another customer's id looks exactly like a missing one)."""
    return db.session.scalar(
        select(Subscription).where(Subscription.id == subscription_id, Subscription.user_id == user_id,
                                   Subscription.state.in_(VISIBLE_STATES))
        .options(joinedload(Subscription.plan).joinedload(Plan.service)))


def status_of(subscription_id: int) -> InstanceStatus | None:
    return db.session.get(InstanceStatus, subscription_id)


def events_of(subscription_id: int, limit: int = 40) -> list[InstanceEvent]:
    return list(db.session.scalars(select(InstanceEvent).where(InstanceEvent.subscription_id == subscription_id)
                                   .order_by(InstanceEvent.id.desc()).limit(limit)))


def progress_of(subscription: Subscription) -> list[tuple[str, bool]]:
    """The provisioning steps since the last (re)provisioning began, each done or not yet."""
    kinds = set(db.session.scalars(select(InstanceEvent.kind).where(
        InstanceEvent.subscription_id == subscription.id,
        InstanceEvent.created_at >= subscription.state_changed_at - timedelta(seconds=1))))
    done = [(label, kind in kinds) for kind, label in PROGRESS_STEPS]
    if subscription.state == "active":
        done = [(label, True) for label, _ in done]
    return done


def samples_of(subscription_id: int, hours: int = 6) -> list[ResourceSample]:
    since = utcnow() - timedelta(hours=hours)
    return list(db.session.scalars(select(ResourceSample).where(
        ResourceSample.subscription_id == subscription_id, ResourceSample.taken_at >= since)
        .order_by(ResourceSample.taken_at)))


def health_of(subscription: Subscription, status: InstanceStatus | None) -> str:
    """ready / degraded / down / starting / offline, for badges."""
    if subscription.state in ("pending_payment", "suspended"):
        return "offline"
    if status is None or subscription.state == "provisioning":
        return "starting"
    if status.ready:
        return "ready"
    components = status.components or {}
    if any(c.get("ready") for c in components.values()):
        return "degraded"
    return "down"
