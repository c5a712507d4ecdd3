"""Reading an instance for its owner: subscription, status, events, usage, and what it is made of."""
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.catalog.models import Plan
from portal.extensions import db
from portal.instances.models import InstanceEvent, InstanceStatus, ResourceSample
from portal.provisioning.cluster import instance_url, is_emulated
from portal.subscriptions.models import Subscription
from portal.timestamps import utcnow

VISIBLE_STATES = ("pending_payment", "provisioning", "provisioning_failed", "active", "suspended")
TRANSITIONAL = ("provisioning",)
PROGRESS_STEPS = (("step.namespace", "Namespace"), ("step.secret", "Secrets"), ("step.volumes", "Storage"),
                  ("step.workloads", "Workloads"), ("step.network", "Network"), ("step.ingress", "Address"),
                  ("step.scheduled", "Scheduled"), ("step.started", "Started"), ("ready", "Ready"))


@dataclass(frozen=True)
class InstanceAddress:
    """An instance's address as customers read it (url) and where "Open" takes their browser (open_url)."""
    host: str
    url: str
    open_url: str
    emulated: bool  # on the built-in emulated cluster: no real containers, "Open" shows its placeholder page


def instance_address(*, subdomain: str) -> InstanceAddress:
    config = current_app.config
    host = f"{subdomain}.{config['K8S_CLUSTER_DOMAIN']}"
    return InstanceAddress(host=host, url=f"https://{host}", open_url=instance_url(config, host),
                           emulated=is_emulated(config))


def instance_for(*, user_id: int, subscription_id: int) -> Subscription | None:
    """The customer's own subscription, or None (another customer's id looks exactly like a missing one)."""
    return db.session.scalar(
        select(Subscription).where(Subscription.id == subscription_id, Subscription.user_id == user_id,
                                   Subscription.state.in_(VISIBLE_STATES))
        .options(joinedload(Subscription.plan).joinedload(Plan.service)))


def instance_with_status(*, user_id: int, subscription_id: int) -> tuple[Subscription, InstanceStatus | None] | None:
    """instance_for() and its status row in one query (the status poll is a quarter of all page traffic)."""
    found = db.session.execute(
        select(Subscription, InstanceStatus)
        .outerjoin(InstanceStatus, InstanceStatus.subscription_id == Subscription.id)
        .where(Subscription.id == subscription_id, Subscription.user_id == user_id,
               Subscription.state.in_(VISIBLE_STATES))
        .options(joinedload(Subscription.plan).joinedload(Plan.service))).first()
    return (found[0], found[1]) if found else None


def status_of(subscription_id: int) -> InstanceStatus | None:
    return db.session.get(InstanceStatus, subscription_id)


def events_of(subscription_id: int, limit: int = 40) -> list:
    """The newest events as plain rows (created_at, kind, level, message): shown, never changed."""
    return db.session.execute(select(InstanceEvent.created_at, InstanceEvent.kind, InstanceEvent.level,
                                     InstanceEvent.message)
                              .where(InstanceEvent.subscription_id == subscription_id)
                              .order_by(InstanceEvent.id.desc()).limit(limit)).all()


def progress_of(subscription: Subscription) -> list[tuple[str, bool]]:
    """The provisioning steps since the last (re)provisioning began, each done or not yet."""
    kinds = set(db.session.scalars(select(InstanceEvent.kind).where(
        InstanceEvent.subscription_id == subscription.id,
        InstanceEvent.created_at >= subscription.state_changed_at - timedelta(seconds=1))))
    done = [(label, kind in kinds) for kind, label in PROGRESS_STEPS]
    if subscription.state == "active":
        done = [(label, True) for label, _ in done]
    return done


def samples_of(subscription_id: int, hours: int = 6) -> list:
    """Usage samples of the last hours as plain rows (taken_at, cpu_millicores, memory_mb), oldest first:
    a full chart is 72 of them per instance page, far cheaper as rows than as ORM objects."""
    since = utcnow() - timedelta(hours=hours)
    return db.session.execute(select(ResourceSample.taken_at, ResourceSample.cpu_millicores, ResourceSample.memory_mb)
                              .where(ResourceSample.subscription_id == subscription_id,
                                     ResourceSample.taken_at >= since)
                              .order_by(ResourceSample.taken_at)).all()


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
