"""The subscription state machine: its transitions, its named state sets, and what a customer may do in each state."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l

from portal.timestamps import utcnow

TRANSITIONS = {
    "pending_payment": {"provisioning", "cancelled"},
    "provisioning": {"active", "provisioning_failed", "suspended", "terminated"},
    "provisioning_failed": {"provisioning", "suspended", "terminated"},
    "active": {"provisioning", "suspended", "terminated"},
    "suspended": {"provisioning", "terminated"},
    "terminated": set(),
    "cancelled": set(),
}
# Outside the table on purpose: a cancelled order is over for every action of ours, and comes back only when
# its payment arrives late and the order can still be fulfilled (billing decides that; subscription_revive moves it).
REVIVAL = ("cancelled", "provisioning")
# Every state, in the order of a subscription's life (the table's check constraint lists these).
STATES = ("pending_payment", "provisioning", "provisioning_failed", "active", "suspended", "terminated", "cancelled")
# Nothing follows these: the subscription is over.
ENDED = ("terminated", "cancelled")
# Its namespace, volume and quota exist on the cluster (a suspended one is scaled to zero but keeps its data).
HOLDS_RESOURCES = ("provisioning", "provisioning_failed", "active", "suspended")
# What the customer's instance list shows: everything not over.
VISIBLE = ("pending_payment", "provisioning", "provisioning_failed", "active", "suspended")
# Their pods run (or are being made): the rest are scaled to zero or gone.
RUNNING = ("active", "provisioning", "provisioning_failed")
# The status sweep reads the cluster for these: their pods should be there.
WATCHED = RUNNING
# A customer may still end these (at the period's end, or now).
CANCELLABLE = RUNNING
# The instance page shows setup progress only in these.
SETTING_UP = ("provisioning", "provisioning_failed")
# What a subscription in these states brings in every month (suspended for non-payment does not).
BILLABLE = ("active", "provisioning")
# A period end that still runs out in these: the daily expiry job acts on them (a provisioning one waits for
# its setup to finish first).
EXPIRING = ("active", "provisioning_failed")
# The admin list's "expiring within N days" filter: subscriptions whose paid period matters to staff.
EXPIRY_WATCHED = ("active", "suspended", "provisioning")
# Their backups are looked after: kept (suspended: until termination), and after termination the last one for a
# while (BACKUP_RETENTION_AFTER_TERMINATION_DAYS).
KEEPS_BACKUPS = ("active", "suspended", "terminated")
# Staff's backup health page lists these: the instances whose data exists (a suspended one is not backed up anew).
BACKUPS_WATCHED = ("active", "suspended")
# Staff may move the period end of these (a goodwill extension), and terminate them.
STAFF_EXTENDABLE = HOLDS_RESOURCES

# Why a suspended subscription is stopped (the table's check constraint lists these).
SUSPENSION_REASONS = ("non_payment", "staff", "customer", "refunded", "chargeback")
# The money went back (a full refund, or the customer's bank reversed the payment): no job ends these after the
# retention period, since a refund may be settled with the customer either way; staff resume or terminate them.
STAFF_DECIDES = ("refunded", "chargeback")
# Each reason in staff's words (the admin subscription page's "Suspended: ..."); the customer's words are on their
# instance page (templates/_macros/suspension.html) and in the suspension's timeline entry.
SUSPENSION_WORDS = {
    "non_payment": _l("the period ended without payment"),
    "staff": _l("by staff"),
    "customer": _l("cancelled by the customer"),
    "refunded": _l("the payment was refunded in full"),
    "chargeback": _l("the customer's bank reversed the payment (chargeback)"),
}


@dataclass(frozen=True)
class Actions:
    """What the customer's pages offer for one subscription, decided here rather than in the templates."""
    pay: bool = False
    open: bool = False
    restart: bool = False
    settings: bool = False
    renew: bool = False
    cancel_at_period_end: bool = False
    keep: bool = False
    cancel_now: bool = False
    view_problem: bool = False


def renewal_due(subscription, now: datetime | None = None) -> bool:
    """Within the renewal notice window (when the renewal invoice and reminders go out), or past the end."""
    if subscription.current_period_end is None or subscription.cancel_at_period_end:
        return False
    notice = timedelta(days=current_app.config["RENEWAL_NOTICE_DAYS"])
    return subscription.current_period_end <= (now or utcnow()) + notice


def allowed_actions(subscription, *, ready: bool = False, rolling_out: bool = False,
                    now: datetime | None = None) -> Actions:
    """The actions for a subscription in its state; `ready` and `rolling_out` come from the instance's status."""
    state = subscription.state
    active = state == "active"
    return Actions(
        pay=state == "pending_payment",
        open=active and ready,
        restart=restartable(subscription),
        settings=state in HOLDS_RESOURCES,
        renew=(active and renewal_due(subscription, now))
        or (state == "suspended" and subscription.suspension_reason == "non_payment"),
        cancel_at_period_end=state in CANCELLABLE and not subscription.cancel_at_period_end,
        keep=state in CANCELLABLE and subscription.cancel_at_period_end,
        cancel_now=state in CANCELLABLE,
        view_problem=state == "provisioning_failed" or (active and not ready and not rolling_out),
    )


def staff_actions(subscription) -> frozenset[str]:
    """What the admin subscription page offers staff (the staff services still check): wider than the customer's,
    since staff suspend, resume and retry, and never pay or renew."""
    state = subscription.state
    offered = {
        "suspend": state in RUNNING,
        "resume": state == "suspended",
        "retry": state == "provisioning_failed",
        "restart": restartable(subscription),
        "extend": state in STAFF_EXTENDABLE,
        "terminate": state in HOLDS_RESOURCES,
        "cancel_order": state == "pending_payment",  # billing refuses one whose payment is under review
    }
    return frozenset(action for action, allowed in offered.items() if allowed)


def restartable(subscription) -> bool:
    """Only a running instance is restarted: the restart service refuses the rest, the pages offer it only then."""
    return subscription.state == "active"
