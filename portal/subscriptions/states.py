"""The subscription state machine: its transitions, its named state sets, and what a customer may do in each state."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

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
# A customer may still end these (at the period's end, or now).
CANCELLABLE = ("active", "provisioning", "provisioning_failed")
# Their pods run (or are being made): the rest are scaled to zero or gone.
RUNNING = ("active", "provisioning", "provisioning_failed")


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
        restart=active,
        settings=state in ("active", "provisioning", "provisioning_failed", "suspended"),
        renew=(active and renewal_due(subscription, now))
        or (state == "suspended" and subscription.suspension_reason == "non_payment"),
        cancel_at_period_end=state in CANCELLABLE and not subscription.cancel_at_period_end,
        keep=state in CANCELLABLE and subscription.cancel_at_period_end,
        cancel_now=state in CANCELLABLE,
        view_problem=state == "provisioning_failed" or (active and not ready and not rolling_out),
    )
