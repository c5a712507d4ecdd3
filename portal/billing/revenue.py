"""The monthly revenue summary for staff: net totals in the email, every payment and refund in a CSV attachment."""
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.accounts.selectors import staff_members
from portal.billing.models import Invoice, Refund
from portal.billing.states import PAID_ONCE
from portal.catalog.models import Plan
from portal.extensions import db
from portal.notifications.services import email_queue
from portal.rendering import csv_text
from portal.subscriptions.models import Subscription
from portal.timestamps import month_start, utcnow
from portal.unit_of_work import use_case


@use_case
def revenue_summary_send(now: datetime | None = None) -> dict:
    """Email every staff member last month's revenue, net of refunds, once per month: each invoice paid in the month
    (a refunded one too) and each refund or chargeback made in it (a negative amount) in the CSV."""
    now = now or utcnow()
    start, end = month_start(now, 1), month_start(now)
    with_plan = joinedload(Invoice.subscription).joinedload(Subscription.plan).joinedload(Plan.service)
    invoices = db.session.scalars(
        select(Invoice).where(Invoice.state.in_(PAID_ONCE), Invoice.paid_at >= start, Invoice.paid_at < end)
        .options(joinedload(Invoice.user), with_plan).order_by(Invoice.paid_at)).all()
    refunds = db.session.scalars(
        select(Refund).where(Refund.refunded_at >= start, Refund.refunded_at < end)
        .options(joinedload(Refund.invoice).joinedload(Invoice.user), joinedload(Refund.invoice).options(with_plan))
        .order_by(Refund.refunded_at, Refund.id)).all()
    rows = [(invoice.paid_at, [invoice.number, invoice.paid_at.isoformat(), invoice.user.email,
                               invoice.subscription.plan.service.name, invoice.subscription.plan.name, invoice.kind,
                               int(invoice.amount_idr), invoice.state, invoice.payment_type or ""])
            for invoice in invoices]
    rows += [(refund.refunded_at, [refund.invoice.number, refund.refunded_at.isoformat(), refund.invoice.user.email,
                                   refund.invoice.subscription.plan.service.name,
                                   refund.invoice.subscription.plan.name, f"refund ({refund.kind})",
                                   -int(refund.amount), refund.invoice.state, refund.invoice.payment_type or ""])
             for refund in refunds]
    attachment = csv_text(
        ["invoice", "paid_at", "customer", "app", "plan", "kind", "amount_idr", "state", "payment_type"],
        (row for _, row in sorted(rows, key=lambda pair: pair[0])))
    refunded = sum(int(refund.amount) for refund in refunds)
    paid = sum(int(i.amount_idr) for i in invoices) - refunded
    month = f"{start:%Y-%m}"
    for user in staff_members():
        email_queue(template="revenue_summary", recipient=user.email, user_id=user.id, key=f"revenue:{month}:{user.id}",
                    context={"month": f"{start:%B %Y}", "paid_idr": paid, "count": len(invoices),
                             "refunded_idr": refunded,
                             "attachments": [{"filename": f"revenue-{month}.csv", "content_type": "text/csv",
                                              "data": attachment}]})
    return {"month": month, "invoices": len(invoices), "paid_idr": paid, "refunded_idr": refunded}
