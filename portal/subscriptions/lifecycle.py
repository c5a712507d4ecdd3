"""The periodic life cycle: reminders, grace, suspension, deletion (renewal invoices and unpaid orders are billing's).

Each step reads "now" from the one clock, acts only on subscriptions whose dates say so, and keys
every email by its event, so running a step twice (or two consumers at once) does nothing twice.
"""
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import joinedload

from portal.catalog.models import Plan
from portal.extensions import db
from portal.links import absolute_url
from portal.notifications.services import subscription_email
from portal.phrases import N_
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import Subscription
from portal.subscriptions.states import EXPIRING, STAFF_DECIDES
from portal.timestamps import utcnow
from portal.unit_of_work import atomic

# Billing, a layer above, knows which subscriptions have a payment Midtrans may still settle (a card under review);
# create_app hands its query over (expiry_holds_connect), as the outbox gets accounts' answers.
_expiry_holds: list[Callable[[], Select]] = []


def expiry_holds_connect(held: Callable[[], Select]) -> None:
    """Leave the subscriptions `held()` selects (ids) alone at their period's end until their payment is decided."""
    _expiry_holds[:] = [held]


def _held() -> Select:
    if not _expiry_holds:
        raise RuntimeError("the expiry job reads billing's open payments through expiry_holds_connect, which "
                           "create_app() calls")
    return _expiry_holds[0]()


def _subscriptions(*conditions) -> list[Subscription]:
    return list(db.session.scalars(select(Subscription).where(*conditions)
                                   .options(joinedload(Subscription.plan).joinedload(Plan.service),
                                            joinedload(Subscription.user))))


def _day(moment: datetime) -> str:
    """The moment as ISO text: the email shows its day in the recipient's zone."""
    return moment.isoformat()


def reminders_send(now: datetime | None = None) -> dict:
    """One reminder per threshold (7, 3, 1 days before the end): the closest one the date has reached."""
    now = now or utcnow()
    thresholds = sorted(current_app.config["REMINDER_DAYS"])
    sent = 0
    for subscription in _subscriptions(Subscription.state == "active", Subscription.cancel_at_period_end.is_(False),
                                       Subscription.current_period_end > now,
                                       Subscription.current_period_end <= now + timedelta(days=max(thresholds))):
        with atomic():  # each subscription's step (transition and email) commits as one
            end = subscription.current_period_end
            days_left = (end - now).total_seconds() / 86400
            threshold = next(t for t in thresholds if days_left <= t)
            sent += subscription_email(subscription, "expiry_reminder",
                                   key=f"reminder:{subscription.id}:{end.date()}:{threshold}",
                                   days=threshold, period_end=_day(end))
    return {"reminders": sent}


def expiry_process(now: datetime | None = None) -> dict:
    """At the period's end: grace (warned), then suspension; a subscription ending by choice stops at once."""
    now = now or utcnow()
    grace = timedelta(days=current_app.config["GRACE_DAYS"])
    retention = timedelta(days=current_app.config["RETENTION_DAYS"])
    outcome = {"grace": 0, "suspended": 0}
    for subscription in _subscriptions(Subscription.state.in_(EXPIRING),
                                       Subscription.current_period_end <= now,
                                       # a renewal Midtrans may still settle (a card under review) holds it
                                       ~Subscription.id.in_(_held())):
        with atomic():  # each subscription's step (transition and email) commits as one
            end = subscription.current_period_end
            if subscription.cancel_at_period_end or now >= end + grace:
                reason = "customer" if subscription.cancel_at_period_end else "non_payment"
                subscriptions.subscription_suspend(subscription_id=subscription.id, reason=reason,
                                                   note=N_("The paid period ended.") if reason == "non_payment" else "")
                outcome["suspended"] += 1
                subscription_email(subscription, "suspended", key=f"suspended:{subscription.id}:{end.date()}",
                               reason=N_("the paid period ended without a renewal.") if reason == "non_payment"
                               else N_("you cancelled it at the end of its period."),
                               delete_on=_day(now + retention), renewable=reason == "non_payment")
            else:
                outcome["grace"] += subscription_email(subscription, "grace_started",
                                                   key=f"grace:{subscription.id}:{end.date()}",
                                                   period_end=_day(end), grace_end=_day(end + grace))
    return outcome


def retention_process(now: datetime | None = None) -> dict:
    """A suspension longer than the retention period ends in deletion; warned some days before. A suspension over
    returned money (STAFF_DECIDES) waits for staff instead: they resume or terminate it."""
    now = now or utcnow()
    retention = timedelta(days=current_app.config["RETENTION_DAYS"])
    warning = timedelta(days=current_app.config["RETENTION_WARNING_DAYS"])
    outcome = {"warned": 0, "terminated": 0}
    for subscription in _subscriptions(Subscription.state == "suspended",
                                       or_(Subscription.suspension_reason.is_(None),
                                           Subscription.suspension_reason.not_in(STAFF_DECIDES)),
                                       Subscription.state_changed_at <= now - retention + warning):
        with atomic():  # each subscription's step (transition and email) commits as one
            stopped = subscription.state_changed_at
            delete_on = stopped + retention
            key = f"{subscription.id}:{stopped:%Y%m%d%H%M}"
            if now >= delete_on:
                subscriptions.subscription_terminate(subscription_id=subscription.id,
                                                     note=N_("Terminated: the retention period is over."))
                outcome["terminated"] += 1
                subscription_email(subscription, "terminated", key=f"terminated:{key}",
                               link=absolute_url("catalog.index"))
            else:
                outcome["warned"] += subscription_email(subscription, "termination_warning",
                                                        key=f"termination-warning:{key}",
                                                    stopped_on=_day(stopped), delete_on=_day(delete_on),
                                                    renewable=subscription.suspension_reason == "non_payment")
    return outcome
