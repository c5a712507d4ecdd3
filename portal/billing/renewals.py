"""Billing's periodic steps of the life cycle: renewal invoices before a period ends, and new orders left unpaid
cancelled with their open invoices. Like the rest of the life cycle (subscriptions/lifecycle.py), each keys its
emails by event, so running it twice does nothing twice."""
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.billing import services as billing
from portal.billing.models import subscriptions_awaiting_midtrans
from portal.catalog.models import Plan
from portal.extensions import db
from portal.links import absolute_url
from portal.notifications.services import subscription_email
from portal.phrases import N_
from portal.subscriptions.models import Subscription
from portal.timestamps import utcnow
from portal.unit_of_work import atomic


def _subscriptions(*conditions) -> list[Subscription]:
    return list(db.session.scalars(select(Subscription).where(*conditions)
                                   .options(joinedload(Subscription.plan).joinedload(Plan.service),
                                            joinedload(Subscription.user))))


def renewals_issue() -> dict:
    """Renewal invoices some days before the period ends (not for subscriptions ending by choice)."""
    now = utcnow()
    notice = timedelta(days=current_app.config["RENEWAL_NOTICE_DAYS"])
    issued = 0
    for subscription in _subscriptions(Subscription.state == "active", Subscription.cancel_at_period_end.is_(False),
                                       Subscription.current_period_end <= now + notice,
                                       Subscription.current_period_end > now):
        with atomic():  # each subscription's step (transition and email) commits as one
            invoice = billing.invoice_issue_renewal(subscription_id=subscription.id)
            end = subscription.current_period_end
            issued += subscription_email(subscription, "renewal_invoice",
                                         key=f"renewal-invoice:{subscription.id}:{end.date()}",
                                         period_end=end.isoformat(), period_days=invoice.period_days,
                                         amount_idr=int(invoice.amount_idr),
                                         link=absolute_url("billing.invoice", invoice_id=invoice.id))
    return {"renewal_invoices": issued}


def unpaid_orders_cancel() -> dict:
    """New orders left unpaid for a day are cancelled, with their open invoices and Midtrans transactions; not one
    whose payment Midtrans may still settle (under review, pending, authorized): Midtrans' own answer ends those."""
    cutoff = utcnow() - timedelta(hours=current_app.config["UNPAID_ORDER_HOURS"])
    cancelled = 0
    for subscription in _subscriptions(Subscription.state == "pending_payment",
                                       Subscription.state_changed_at <= cutoff,
                                       ~Subscription.id.in_(subscriptions_awaiting_midtrans())):
        try:
            billing.order_cancel(subscription_id=subscription.id, reason=N_("It was not paid in time."))
        except billing.OrderNotCancellable:
            continue  # paid, or put under review, since it was read: nothing to cancel
        cancelled += 1
    return {"cancelled": cancelled}
