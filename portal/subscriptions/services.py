"""The subscription life cycle: each transition checks the state, records an event, then enqueues the work.

pending_payment → provisioning → active → suspended → provisioning (resumed) …; provisioning →
provisioning_failed → provisioning (retry); suspended / active / provisioning_failed → terminated;
pending_payment → cancelled (the table is in states.py). Anything else is an IllegalTransition.
"""
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.accounts.services import user_by_email
from portal.catalog.models import Plan, Service
from portal.catalog.parameters import settings_clean, subdomain_problem
from portal.catalog.selectors import template_for
from portal.extensions import db
from portal.links import absolute_url
from portal.notifications.services import staff_alert, subscription_email
from portal.phrases import N_, Phrase, phrase
from portal.subscriptions.events import instance_event_record
from portal.subscriptions.metrics import PROVISIONING
from portal.subscriptions.models import Subscription
from portal.subscriptions.rollouts import instance_rollout_start
from portal.subscriptions.states import CANCELLABLE, ENDED, REVIVAL, TRANSITIONS
from portal.timestamps import utcnow
from portal.unit_of_work import after_commit, use_case


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str):
        super().__init__(f"a subscription cannot go from {current} to {target}")
        self.current, self.target = current, target


class SubdomainUnavailable(Exception):
    """The address cannot be used (format, reserved or taken); the text is for the customer."""


class SubdomainTaken(SubdomainUnavailable):
    pass


def _locked(subscription_id: int) -> Subscription:
    subscription = db.session.get(Subscription, subscription_id, with_for_update=True, populate_existing=True)
    if subscription is None:
        raise LookupError(f"no subscription {subscription_id}")
    return subscription


def _move(subscription: Subscription, target: str, *, kind: str, message: str | Phrase, level: str = "info") -> None:
    if target not in TRANSITIONS[subscription.state]:
        raise IllegalTransition(subscription.state, target)
    subscription.state = target
    subscription.state_changed_at = utcnow()
    instance_event_record(subscription_id=subscription.id, kind=kind, message=message, level=level)


@use_case
def subscription_create(*, user_id: int, plan_id: int, subdomain: str, settings: dict) -> Subscription:
    """A new subscription awaiting payment; settings and subdomain are checked here, whoever calls."""
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise LookupError(f"no plan {plan_id}")
    problem = subdomain_problem(subdomain)
    if problem:
        raise SubdomainUnavailable(problem)
    clean = settings_clean(template_for(plan.service.slug), settings)
    subscription = Subscription(user_id=user_id, plan_id=plan.id, subdomain=subdomain, settings=clean,
                                state="pending_payment", state_changed_at=utcnow())
    db.session.add(subscription)
    try:
        db.session.flush()
    except IntegrityError as exc:
        raise SubdomainTaken(_("This address is already taken. Please choose another.")) from exc
    instance_event_record(subscription_id=subscription.id, kind="created",
                          message=N_("Order created, awaiting payment."))
    return subscription


@use_case
def subscription_paid(*, subscription_id: int, period_days: int, now: datetime | None = None) -> Subscription:
    """Payment received for a new subscription: its period starts and provisioning begins."""
    now = now or utcnow()
    subscription = _locked(subscription_id)
    _move(subscription, "provisioning", kind="paid", message=N_("Payment received. Preparing your instance."))
    subscription_period_extend(subscription_id=subscription_id, days=period_days, now=now)
    after_commit("instance.provision", subscription_id=subscription_id)
    return subscription


@use_case
def subscription_period_extend(*, subscription_id: int, days: int, now: datetime | None = None,
                               paid: bool = True) -> datetime:
    """The one writer of the period end; returns the new end. A paid period starts at the later of now and the
    current end (a first payment or a lapsed subscription pays from today, not for the days it lapsed); staff
    credit (`paid=False`) is added to the end as it stands, since it gives back days already lost."""
    subscription = db.session.get(Subscription, subscription_id, with_for_update=True)
    if subscription is None:
        raise LookupError(f"no subscription {subscription_id}")
    now = now or utcnow()
    end = subscription.current_period_end
    start = (end or now) if not paid else max(now, end or now)
    subscription.current_period_end = start + timedelta(days=days)
    return subscription.current_period_end


@use_case
def subscription_reprovision(*, subscription_id: int, reason: str | Phrase) -> Subscription:
    """Back to provisioning to apply again: a retry after failure, a resume, or changed settings."""
    subscription = _locked(subscription_id)
    _move(subscription, "provisioning", kind="provisioning", message=reason)
    subscription.suspension_reason = None
    after_commit("instance.provision", subscription_id=subscription_id)
    return subscription


@use_case
def subscription_activate(*, subscription_id: int) -> Subscription | None:
    """All components ready: the instance is live. None when it was no longer provisioning."""
    subscription = _locked(subscription_id)
    if subscription.state != "provisioning":
        return None
    setup_seconds = (utcnow() - subscription.state_changed_at).total_seconds()
    _move(subscription, "active", kind="ready", message=N_("Your instance is ready."))
    PROVISIONING.observe(max(setup_seconds, 0.0))
    return subscription


@use_case
def subscription_provisioning_failed(*, subscription_id: int, reason: str) -> Subscription | None:
    """Setup given up: the subscription shows the reason, staff and the customer are told. None when it was no
    longer provisioning."""
    subscription = _locked(subscription_id)
    if subscription.state != "provisioning":
        return None
    _move(subscription, "provisioning_failed", kind="failed", level="error",
          message=phrase("Provisioning failed: %(reason)s", reason=reason))
    subscription.state_note = reason[:2000]
    key = f"provisioning-failed:{subscription.id}:{int(subscription.state_changed_at.timestamp())}"
    staff_alert(key=key, title=f"Provisioning failed for subscription #{subscription.id}",
                message=f"{subscription.subdomain}: {reason}")
    subscription_email(subscription, "provisioning_failed", key=key,
                       link=absolute_url("instances.show", subscription_id=subscription.id))
    return subscription


@use_case
def subscription_suspend(*, subscription_id: int, reason: str, note: str = "") -> Subscription:
    """Scale to zero and take the address offline; the data stays."""
    subscription = _locked(subscription_id)
    _move(subscription, "suspended", kind="suspended",
          message={"non_payment": N_("Suspended: the period ended without payment."),
                   "customer": N_("Cancelled: the instance is stopped; its data is kept until the retention period "
                                  "ends."),
                   "refunded": N_("Suspended: the payment was refunded in full. Your data is kept."),
                   "chargeback": N_("Suspended: your bank reversed the payment. Your data is kept."),
                   }.get(reason) or (phrase("Suspended by staff: %(note)s", note=note) if note.strip()
                                     else N_("Suspended by staff.")), level="warning")
    subscription.suspension_reason = reason
    subscription.state_note = note[:2000]
    after_commit("instance.suspend", subscription_id=subscription_id)
    return subscription


@use_case
def subscription_resume(*, subscription_id: int) -> Subscription:
    subscription = db.session.get(Subscription, subscription_id)
    if subscription.state != "suspended":
        raise IllegalTransition(subscription.state, "provisioning")
    return subscription_reprovision(subscription_id=subscription_id, reason=N_("Resuming your instance."))


@use_case
def subscription_terminate(*, subscription_id: int, note: str | Phrase = "") -> Subscription:
    """End it for good: the instance's objects are deleted from the cluster."""
    subscription = _locked(subscription_id)
    _move(subscription, "terminated", kind="terminated", level="warning",
          message=note or N_("Terminated."))
    after_commit("instance.terminate", subscription_id=subscription_id)
    return subscription


@use_case
def subscription_cancel(*, subscription_id: int, reason: str | Phrase = "") -> Subscription:
    subscription = _locked(subscription_id)
    _move(subscription, "cancelled", kind="cancelled",
          message=phrase("Order cancelled before payment: %(reason)s", reason=reason) if reason
          else N_("Order cancelled before payment."))
    return subscription


@use_case
def subscription_revive(*, subscription_id: int, period_days: int, now: datetime | None = None) -> Subscription:
    """A cancelled order whose payment arrived after all: its period starts and provisioning begins, as if paid
    in time. The caller has checked that its address is free and its plan still sells."""
    subscription = _locked(subscription_id)
    source, target = REVIVAL
    if subscription.state != source:
        raise IllegalTransition(subscription.state, target)
    subscription.state = target
    subscription.state_changed_at = utcnow()
    instance_event_record(subscription_id=subscription.id, kind="paid",
                          message=N_("Payment received after the order was cancelled. Preparing your instance."))
    subscription_period_extend(subscription_id=subscription_id, days=period_days, now=now)
    after_commit("instance.provision", subscription_id=subscription_id)
    return subscription


@use_case
def subscription_order_paid(*, email: str, app_slug: str, plan_slug: str, subdomain: str,
                            settings: dict | None = None) -> Subscription:
    """Create a subscription and mark it paid in one go: the shell's stand-in for checkout and payment."""
    user = user_by_email(email)
    if user is None:
        raise LookupError(f"no user with email {email}")
    plan = db.session.scalar(select(Plan).join(Service).where(Service.slug == app_slug, Plan.slug == plan_slug))
    if plan is None:
        raise LookupError(f"no plan {plan_slug!r} of {app_slug!r}")
    subscription = subscription_create(user_id=user.id, plan_id=plan.id, subdomain=subdomain, settings=settings or {})
    return subscription_paid(subscription_id=subscription.id, period_days=plan.period_days)


@use_case
def subscription_settings_update(*, subscription_id: int, settings: dict) -> Subscription:
    """Save new settings (validated against the template) and apply them to a running instance."""
    subscription = _locked(subscription_id)
    if subscription.state in ENDED:
        raise IllegalTransition(subscription.state, "provisioning")
    clean = settings_clean(template_for(subscription.plan.service.slug), settings)
    subscription.settings = clean
    subscription_settings_changed(subscription, message=N_("Settings changed."))
    return subscription


def subscription_settings_changed(subscription: Subscription, *, message: str | Phrase) -> None:
    """What any change of an instance's settings (its parameters, its mail server) sets going, in the caller's
    transaction, on a locked subscription: a running instance rolls with them, a failed setup is tried again."""
    if subscription.state == "active":
        # A running instance stays active: its pods roll with the new settings (a rollout, not a new setup).
        instance_rollout_start(subscription_id=subscription.id, kind="settings")
    else:
        instance_event_record(subscription_id=subscription.id, kind="settings", message=message)
    if subscription.state == "provisioning_failed":
        _move(subscription, "provisioning", kind="provisioning", message=N_("Applying your new settings."))
    if subscription.state == "active":
        after_commit("instance.apply_settings", subscription_id=subscription.id)
    elif subscription.state == "provisioning":
        after_commit("instance.provision", subscription_id=subscription.id)


@use_case
def subscription_cancel_at_period_end(*, subscription_id: int, cancel: bool = True) -> Subscription:
    """Stop renewing: the instance runs until its period ends (or undo that)."""
    subscription = _locked(subscription_id)
    if subscription.state not in CANCELLABLE:
        raise IllegalTransition(subscription.state, "cancelled at period end")
    subscription.cancel_at_period_end = cancel
    instance_event_record(subscription_id=subscription.id, kind="cancel_scheduled" if cancel else "cancel_undone",
                          message=N_("Will end when the paid period ends.") if cancel
                          else N_("Will renew as usual again."))
    return subscription


@use_case
def subscription_cancel_now(*, subscription_id: int) -> Subscription:
    """Stop the instance today; its data is kept for the retention period, then deleted."""
    return subscription_suspend(subscription_id=subscription_id, reason="customer",
                                note=N_("Cancelled by the customer."))
