"""Staff actions on subscriptions: each through the same services the customer side and tasks use,
each recorded in the audit log in the action's own transaction."""

from flask_babel import gettext as _

from portal.audit.services import audit_record
from portal.billing import services as billing
from portal.extensions import db
from portal.instances.services import InstanceNotRunning, instance_restart_request
from portal.phrases import N_, day_of, nphrase, phrase
from portal.plain_text import has_control_characters
from portal.subscriptions import services as subscriptions
from portal.subscriptions.events import instance_event_record
from portal.subscriptions.models import Subscription
from portal.subscriptions.states import STAFF_EXTENDABLE
from portal.unit_of_work import use_case


class StaffActionRefused(Exception):
    pass


def _audit(action: str, subscription_id: int, actor_id: int, ip: str | None, **details) -> None:
    audit_record(action=action, actor_id=actor_id, target_type="subscription", target_id=subscription_id, ip=ip,
                 details=details)


def _check_reason(reason: str) -> None:
    # The reason reaches the customer's emails and timeline: one line of plain text.
    if has_control_characters(reason.strip()):
        raise StaffActionRefused(_("The reason must be one line of text: no line breaks, tabs or control characters."))


@use_case
def staff_suspend(*, subscription_id: int, reason: str, actor_id: int, ip: str | None = None) -> None:
    if not reason.strip():
        raise StaffActionRefused(_("Give a reason: the customer's timeline and the audit log show it."))
    _check_reason(reason)
    subscriptions.subscription_suspend(subscription_id=subscription_id, reason="staff", note=reason.strip()[:500])
    _audit("subscription.suspended", subscription_id, actor_id, ip, reason=reason.strip()[:500])


@use_case
def staff_cancel_order(*, subscription_id: int, reason: str, actor_id: int, ip: str | None = None) -> None:
    """Cancel an order awaiting payment (its open Midtrans transactions are closed after the commit)."""
    if not reason.strip():
        raise StaffActionRefused(_("Give a reason: the customer's timeline and the audit log show it."))
    _check_reason(reason)
    try:
        billing.order_cancel(subscription_id=subscription_id,
                             reason=phrase("Cancelled by our staff: %(reason)s", reason=reason.strip()[:400]))
    except billing.OrderNotCancellable as refused:
        raise StaffActionRefused(refused.message) from refused
    _audit("subscription.order_cancelled", subscription_id, actor_id, ip, reason=reason.strip()[:500])


@use_case
def staff_resume(*, subscription_id: int, actor_id: int, ip: str | None = None) -> None:
    subscriptions.subscription_resume(subscription_id=subscription_id)
    _audit("subscription.resumed", subscription_id, actor_id, ip)


@use_case
def staff_retry(*, subscription_id: int, actor_id: int, ip: str | None = None) -> None:
    subscription = db.session.get(Subscription, subscription_id)
    if subscription.state != "provisioning_failed":
        raise StaffActionRefused(_("Only a failed provisioning can be retried."))
    subscriptions.subscription_reprovision(subscription_id=subscription_id, reason=N_("Staff retried the setup."))
    _audit("subscription.provisioning_retried", subscription_id, actor_id, ip)


@use_case
def staff_restart(*, subscription_id: int, actor_id: int, ip: str | None = None) -> None:
    try:
        instance_restart_request(subscription_id=subscription_id)
    except InstanceNotRunning as refusal:
        raise StaffActionRefused(str(refusal)) from refusal
    _audit("subscription.restarted", subscription_id, actor_id, ip)


@use_case
def staff_extend(*, subscription_id: int, days: int, reason: str, actor_id: int, ip: str | None = None) -> None:
    if not 1 <= days <= 366:
        raise StaffActionRefused(_("Extend by 1 to 366 days."))
    if not reason.strip():
        raise StaffActionRefused(_("Give a reason for the extension."))
    _check_reason(reason)
    subscription = db.session.get(Subscription, subscription_id, with_for_update=True, populate_existing=True)
    if subscription.state not in STAFF_EXTENDABLE:
        raise StaffActionRefused(_("A %(state)s subscription cannot be extended.",
                                   state=subscription.state.replace("_", " ")))
    end = subscriptions.subscription_period_extend(subscription_id=subscription.id, days=days, paid=False)
    instance_event_record(subscription_id=subscription.id, kind="extended",
                          message=nphrase("Extended by %(num)d day to %(day)s.", "Extended by %(num)d days to %(day)s.",
                                          days, day=day_of(end)))
    _audit("subscription.extended", subscription_id, actor_id, ip, days=days, reason=reason.strip()[:500])


@use_case
def staff_terminate(*, subscription_id: int, confirmation: str, actor_id: int, ip: str | None = None) -> None:
    subscription = db.session.get(Subscription, subscription_id)
    if confirmation.strip() != subscription.subdomain:
        raise StaffActionRefused(_("Type the subscription's address exactly to terminate it."))
    subscriptions.subscription_terminate(subscription_id=subscription_id, note=N_("Terminated by staff."))
    _audit("subscription.terminated", subscription_id, actor_id, ip)
