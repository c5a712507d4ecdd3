"""Reading an instance for its owner: subscription, status, events, usage, and what it is made of."""
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload

from portal.catalog.models import Plan, Service
from portal.domains.models import CustomDomain
from portal.domains.names import unicode_name
from portal.extensions import db
from portal.instances.models import ResourceSample
from portal.provisioning.cluster import instance_url, is_emulated
from portal.rendering import translated
from portal.subscriptions.models import InstanceEvent, InstanceStatus, Subscription
from portal.subscriptions.states import RUNNING, STAFF_DECIDES, VISIBLE
from portal.timestamps import UtcDateTime, utcnow

# Labels are lazy: translated when a page renders them, in its reader's language.
PROGRESS_STEPS = (("step.namespace", _l("Namespace")), ("step.secret", _l("Secrets")), ("step.volumes", _l("Storage")),
                  ("step.workloads", _l("Workloads")), ("step.network", _l("Network")), ("step.ingress", _l("Address")),
                  ("step.scheduled", _l("Scheduled")), ("step.started", _l("Started")), ("ready", _l("Ready")))


@dataclass(frozen=True)
class InstanceAddress:
    """An instance's address as customers read it (url) and where "Open" takes their browser (open_url)."""
    host: str
    shown: str  # the host as read (an internationalised domain in Unicode)
    url: str
    open_url: str
    emulated: bool  # on the built-in emulated cluster: no real containers, "Open" shows its placeholder page


def instance_address(*, subdomain: str, primary_domain: str | None = None) -> InstanceAddress:
    """The customer's own primary domain once it serves the app over TLS (the provider's address then redirects
    to it), else the provider's address. An internationalised domain reads in Unicode and opens by its ASCII."""
    config = current_app.config
    host = primary_domain or f"{subdomain}.{config['K8S_CLUSTER_DOMAIN']}"
    shown = unicode_name(host) if primary_domain else host
    return InstanceAddress(host=host, shown=shown, url=f"https://{shown}", open_url=instance_url(config, host),
                           emulated=is_emulated(config))


# The customer's own primary domain when it is live (verified, its certificate issued), for the statements below.
PRIMARY_DOMAIN = (select(CustomDomain.name)
                  .where(CustomDomain.subscription_id == Subscription.id, CustomDomain.is_primary,
                         CustomDomain.dns_state == "verified", CustomDomain.certificate_state == "issued")
                  .limit(1).correlate(Subscription).scalar_subquery())


def instance_for(*, user_id: int, subscription_id: int) -> Subscription | None:
    """The customer's own subscription, or None (another customer's id looks exactly like a missing one)."""
    return db.session.scalar(
        select(Subscription).where(Subscription.id == subscription_id, Subscription.user_id == user_id,
                                   Subscription.state.in_(VISIBLE))
        .options(joinedload(Subscription.plan).joinedload(Plan.service)))


# Built once, as the statements below: the instance page and its poll are 40 % of the page traffic, and building
# a statement cost about as much as running it.
@cache
def _instance_with_status_statement():
    # Built on first use, not at import: its eager loads configure every mapper, which needs every model
    # imported (a process such as the watcher imports this module before the app has loaded them all).
    return (select(Subscription, InstanceStatus, PRIMARY_DOMAIN)
            .outerjoin(InstanceStatus, InstanceStatus.subscription_id == Subscription.id)
            .where(Subscription.id == bindparam("subscription_id"), Subscription.user_id == bindparam("user_id"),
                   Subscription.state.in_(VISIBLE))
            .options(joinedload(Subscription.plan).joinedload(Plan.service)))


def instance_with_status(*, user_id: int, subscription_id: int
                         ) -> tuple[Subscription, InstanceStatus | None, str | None] | None:
    """instance_for(), its status row and its live primary domain in one query (the status poll is a quarter of
    all page traffic)."""
    found = db.session.execute(_instance_with_status_statement(),
                               {"user_id": user_id, "subscription_id": subscription_id}).first()
    return (found[0], found[1], found[2]) if found else None


# Built once: constructing a statement this size costs three times what running it does, and this one runs
# for every poll of every instance page.
_INSTANCE_VERSION = (
    select(Subscription.id, Subscription.state, Subscription.subdomain, Subscription.current_period_end,
           Subscription.cancel_at_period_end, Subscription.suspension_reason, Subscription.state_note,
           Subscription.state_changed_at, Plan.id, Plan.name, Service.name, Service.logo,
           InstanceStatus.phase, InstanceStatus.ready, InstanceStatus.restart_count, InstanceStatus.node_name,
           InstanceStatus.last_error, InstanceStatus.components, InstanceStatus.rollout,
           select(func.max(InstanceEvent.id)).where(InstanceEvent.subscription_id == Subscription.id)
           .scalar_subquery(),
           select(func.count(InstanceEvent.id)).where(InstanceEvent.subscription_id == Subscription.id)
           .scalar_subquery(), PRIMARY_DOMAIN)
    .join(Plan, Plan.id == Subscription.plan_id).join(Service, Service.id == Plan.service_id)
    .outerjoin(InstanceStatus, InstanceStatus.subscription_id == Subscription.id)
    .where(Subscription.id == bindparam("subscription_id"), Subscription.user_id == bindparam("user_id"),
           Subscription.state.in_(VISIBLE)))


def instance_version(*, user_id: int, subscription_id: int) -> tuple | None:
    """Everything the page's status block renders from the database, as plain values in one query (the
    subscription, its plan and app, its status, the newest event and how many there are), or None when the
    instance is not the reader's: enough to tell an unchanged poll without loading or rendering anything."""
    # Through the connection: the ORM's execution path costs more than this one-row read of plain columns.
    found = db.session.connection().execute(_INSTANCE_VERSION,
                                            {"user_id": user_id, "subscription_id": subscription_id}).first()
    return tuple(found) if found else None


def status_of(subscription_id: int) -> InstanceStatus | None:
    return db.session.get(InstanceStatus, subscription_id)


_EVENTS_OF = (select(InstanceEvent.created_at, InstanceEvent.kind, InstanceEvent.level, InstanceEvent.message,
                     InstanceEvent.phrase)
              .where(InstanceEvent.subscription_id == bindparam("subscription_id"))
              .order_by(InstanceEvent.id.desc()).limit(bindparam("limit")))


def events_of(subscription_id: int, limit: int = 40) -> list:
    """The newest events as plain rows (created_at, kind, level, message): shown, never changed."""
    return db.session.execute(_EVENTS_OF, {"subscription_id": subscription_id, "limit": limit}).all()


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
    return db.session.execute(_SAMPLES_OF, {"subscription_id": subscription_id, "since": since}).all()


_SAMPLES_OF = (select(ResourceSample.taken_at, ResourceSample.cpu_millicores, ResourceSample.memory_mb)
               .where(ResourceSample.subscription_id == bindparam("subscription_id"),
                      ResourceSample.taken_at >= bindparam("since", type_=UtcDateTime))
               .order_by(ResourceSample.taken_at))


@dataclass(frozen=True)
class Badge:
    """The one status an instance shows, in plain words, with its colour (a Bootstrap tone); the label is lazy,
    in the reader's language when rendered."""
    key: str
    label: str
    tone: str

    @property
    def changing(self) -> bool:
        """Something is under way that settles by itself: the page polls until it does."""
        return self.key in CHANGING


CHANGING = ("setting_up", "starting", "restarting", "applying_settings")
BADGES = {key: Badge(key, label, tone) for key, label, tone in (
    ("awaiting_payment", _l("Awaiting payment"), "secondary"), ("setting_up", _l("Setting up"), "info"),
    ("setup_failed", _l("Setup failed"), "danger"), ("starting", _l("Starting"), "info"),
    ("running", _l("Running"), "success"), ("restarting", _l("Restarting"), "info"),
    ("applying_settings", _l("Applying settings"), "info"), ("not_responding", _l("Not responding"), "danger"),
    ("partly_responding", _l("Not responding"), "warning"), ("suspended", _l("Suspended"), "warning"),
    ("cancelled", _l("Cancelled"), "secondary"), ("deleted", _l("Deleted"), "secondary"))}
ROLLOUT_BADGES = {"restart": "restarting", "settings": "applying_settings"}


def instance_badge(subscription: Subscription, status: InstanceStatus | None) -> Badge:
    """Subscription state, instance status and the portal's own rollout, mapped onto one badge."""
    state = subscription.state
    if state != "active":
        return BADGES[{"pending_payment": "awaiting_payment", "provisioning": "setting_up",
                       "provisioning_failed": "setup_failed", "terminated": "deleted", "cancelled": "cancelled",
                       "suspended": "cancelled" if subscription.suspension_reason == "customer" else "suspended",
                       }[state]]
    if status is None:
        return BADGES["starting"]
    if status.rollout in ROLLOUT_BADGES:
        return BADGES[ROLLOUT_BADGES[status.rollout]]
    if status.ready:
        return BADGES["running"]
    if any(c.get("ready") for c in (status.components or {}).values()):
        return BADGES["partly_responding"]
    return BADGES["not_responding"]


@dataclass(frozen=True)
class Component:
    """One part of an instance (app, database) as its owner reads it."""
    name: str
    label: str
    word: str
    tone: str
    restarts: int
    problem: str | None


# A part's name and its state word as the reader reads them (a phase not listed shows as the cluster says it).
COMPONENT_LABELS = {"app": _l("App"), "db": _l("Database")}
PART_WORDS = {"stopped": _l("stopped"), "ready": _l("ready"), "running": _l("running"),
              "failed": _l("failed"), "succeeded": _l("succeeded"), "unknown": _l("unknown")}


def part_word(phase: str) -> str:
    """A part's state word; "pending" has its context, as an invoice is pending too and Indonesian words the two
    differently (a part is being set up, an invoice awaits payment)."""
    if phase == "pending":
        return pgettext("component state", "pending")
    return str(PART_WORDS.get(phase, phase))


def components_of(subscription: Subscription, status: InstanceStatus | None) -> list[Component]:
    """The parts as last seen; a stopped instance's parts are stopped, whatever the last sweep saw before."""
    running = subscription.state in RUNNING
    parts = []
    for name, seen in ((status.components or {}) if status else {}).items():
        label = COMPONENT_LABELS.get(name, name)
        if not running:
            parts.append(Component(name, label, part_word("stopped"), "secondary", seen.get("restarts", 0), None))
        elif seen.get("ready"):
            parts.append(Component(name, label, part_word("ready"), "success", seen.get("restarts", 0), None))
        else:
            phase = str(seen.get("phase", "unknown")).lower()
            parts.append(Component(name, label, part_word(phase), "warning",
                                   seen.get("restarts", 0), translated(seen.get("problem"))))
    return parts


def deletes_on(subscription: Subscription) -> datetime | None:
    """When a stopped instance's data is deleted (the retention period after it stopped); None otherwise, and
    None while staff decide (a suspension over returned money is never ended by the clock)."""
    if subscription.state != "suspended" or subscription.state_changed_at is None \
            or subscription.suspension_reason in STAFF_DECIDES:
        return None
    return subscription.state_changed_at + timedelta(days=current_app.config["RETENTION_DAYS"])
