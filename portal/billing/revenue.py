"""The monthly revenue summary for staff: totals in the email, every paid invoice in a CSV attachment."""
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.accounts.selectors import staff_members
from portal.billing.models import Invoice
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
    """Email every staff member last month's paid invoices, once per month."""
    now = now or utcnow()
    start, end = month_start(now, 1), month_start(now)
    invoices = db.session.scalars(
        select(Invoice).where(Invoice.state.in_(PAID_ONCE), Invoice.paid_at >= start, Invoice.paid_at < end)
        .options(joinedload(Invoice.user), joinedload(Invoice.subscription).joinedload(Subscription.plan)
                 .joinedload(Plan.service)).order_by(Invoice.paid_at)).all()
    attachment = csv_text(
        ["invoice", "paid_at", "customer", "app", "plan", "kind", "amount_idr", "state", "payment_type"],
        ([invoice.number, invoice.paid_at.isoformat(), invoice.user.email, invoice.subscription.plan.service.name,
          invoice.subscription.plan.name, invoice.kind, int(invoice.amount_idr), invoice.state,
          invoice.payment_type or ""] for invoice in invoices))
    paid = sum(int(i.amount_idr) for i in invoices if i.state == "paid")
    month = f"{start:%Y-%m}"
    for user in staff_members():
        email_queue(template="revenue_summary", recipient=user.email, user_id=user.id, key=f"revenue:{month}:{user.id}",
                    context={"month": f"{start:%B %Y}", "paid_idr": paid, "count": len(invoices),
                             "attachments": [{"filename": f"revenue-{month}.csv", "content_type": "text/csv",
                                              "data": attachment}]})
    return {"month": month, "invoices": len(invoices), "paid_idr": paid}
