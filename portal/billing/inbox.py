"""The payment inbox: notifications stored at the webhook's door, confirmed with the status API and applied once."""
import logging
from datetime import timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from portal.billing.midtrans import PaymentGatewayUnavailable, PaymentRejected
from portal.billing.models import Invoice, PaymentNotification
from portal.billing.services import _parse_amount, gateway, invoice_apply_status
from portal.catalog.models import Plan
from portal.extensions import db
from portal.notifications.services import staff_alert
from portal.phrases import N_
from portal.subscriptions.models import Subscription
from portal.timestamps import utcnow
from portal.unit_of_work import use_case

log = logging.getLogger(__name__)

# Backoff between attempts to confirm a notification doubles from PAYMENT_INBOX_RETRY_SECONDS up to this.
RETRY_CAP = timedelta(minutes=30)
ALREADY_APPLIED = "already applied"


@use_case
def notification_apply(*, notification_id: int) -> str:
    """Confirm one stored notification with the status API and apply what Midtrans says, exactly once.

    The status API is asked before any lock is taken; then the notification is re-read under its row lock, and
    applied under the invoice's: a second apply of the same one (a second worker, the sweep after a lost task)
    waits for the first, finds it applied and does nothing. Returns what was done;
    when Midtrans cannot confirm it yet, the attempt is counted and the next one set (see `_deferred`).
    """
    notification = db.session.get(PaymentNotification, notification_id)
    if notification is None:
        return "missing"
    if notification.applied_at is not None:
        return f"{ALREADY_APPLIED}: {notification.result}"
    invoice = _invoice_for_payment(notification.invoice_id)
    try:
        confirmed = gateway().transaction_status(notification.order_id)
    except (PaymentGatewayUnavailable, PaymentRejected) as exc:
        return _deferred(notification, f"status API unavailable: {exc}")
    if confirmed is None:
        return _deferred(notification, N_("the status API does not know this order yet"))
    if _parse_amount(confirmed.get("gross_amount", "")) != Decimal(invoice.amount_idr):
        return _deferred(notification, f"the status API reports another amount "
                                       f"({str(confirmed.get('gross_amount'))[:20]})")
    # Held so the session keeps them (its identity map is weak) while the invoice is re-read under its lock.
    related = (invoice.user, invoice.subscription, invoice.subscription.plan)  # noqa: F841
    # Its own row lock, then the invoice's (in invoice_apply_status): the order every apply takes them in.
    notification = db.session.get(PaymentNotification, notification_id, with_for_update=True, populate_existing=True)
    if notification.applied_at is not None:  # another worker applied it while we asked Midtrans
        return f"{ALREADY_APPLIED}: {notification.result}"
    result = invoice_apply_status(invoice_id=invoice.id, order_id=notification.order_id,
                                  transaction_status=str(confirmed.get("transaction_status", "")),
                                  fraud_status=confirmed.get("fraud_status"),
                                  payment_type=confirmed.get("payment_type"), notification=notification,
                                  answer=confirmed)
    notification.applied_at, notification.result = utcnow(), str(result)[:200]
    notification.attempts += 1
    notification.next_attempt_at = notification.last_error = None
    return str(result)


def _invoice_for_payment(invoice_id: int) -> Invoice:
    """The invoice with everything a payment touches (its user, subscription, plan, service): one query."""
    return db.session.scalar(select(Invoice).where(Invoice.id == invoice_id).options(
        joinedload(Invoice.user),
        joinedload(Invoice.subscription).joinedload(Subscription.plan).joinedload(Plan.service)))


def _deferred(notification: PaymentNotification, reason: str) -> str:
    """Midtrans could not confirm the notification now: count the attempt and wait (doubling, capped) before the
    next, which the inbox sweep makes. Midtrans itself is never asked to send it again."""
    notification.attempts += 1
    notification.last_error = reason[:300]
    # The exponent stops growing once past the cap: a long outage must not overflow the delay.
    seconds = current_app.config["PAYMENT_INBOX_RETRY_SECONDS"] * 2 ** min(notification.attempts - 1, 20)
    notification.next_attempt_at = utcnow() + min(timedelta(seconds=seconds), RETRY_CAP)
    log.warning("payment notification %s waits (attempt %s): %s", notification.id, notification.attempts, reason)
    return f"waiting: {reason}"


def inbox_sweep() -> dict:
    """Apply what was stored and not applied: after a short grace (its own task may still be on the way), or once
    its next attempt is due. A lost task (Redis down at the webhook, a worker killed mid-way) is caught here;
    staff are alerted about any notification waiting longer than PAYMENT_INBOX_ALERT_MINUTES."""
    now = utcnow()
    grace = timedelta(seconds=current_app.config["PAYMENT_INBOX_GRACE_SECONDS"])
    due = db.session.scalars(select(PaymentNotification.id).where(
        PaymentNotification.applied_at.is_(None), PaymentNotification.received_at <= now - grace,
        or_(PaymentNotification.next_attempt_at.is_(None), PaymentNotification.next_attempt_at <= now))
        .order_by(PaymentNotification.id).limit(200)).all()
    db.session.rollback()
    outcome = {"due": len(due), "applied": 0, "waiting": 0}
    for notification_id in due:
        result = notification_apply(notification_id=notification_id)
        outcome["waiting" if result.startswith("waiting") else "applied"] += 1
    outcome["alerted"] = inbox_alert_overdue()
    return outcome


@use_case
def inbox_alert_overdue() -> int:
    """Tell staff, once per notification, about each one waiting longer than PAYMENT_INBOX_ALERT_MINUTES."""
    cutoff = utcnow() - timedelta(minutes=current_app.config["PAYMENT_INBOX_ALERT_MINUTES"])
    overdue = db.session.scalars(select(PaymentNotification).where(
        PaymentNotification.applied_at.is_(None), PaymentNotification.received_at <= cutoff)
        .order_by(PaymentNotification.id).limit(50)).all()
    alerted = 0
    for notification in overdue:
        alerted += staff_alert(
            key=f"payment-inbox-waiting:{notification.id}",
            title=f"Payment notification for {notification.order_id} not applied yet",
            message=f"Midtrans' {notification.transaction_status} notification for order {notification.order_id} "
                    f"has waited since {notification.received_at:%Y-%m-%d %H:%M} UTC "
                    f"({notification.attempts} attempts; last: {notification.last_error or 'none yet'}). "
                    f"It is retried on its own; see the payments page.") > 0
    return alerted
