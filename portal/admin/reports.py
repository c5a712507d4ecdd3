"""Money and fleet figures for the overview and the reports: each one aggregate query, none per row."""
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal.billing.models import Invoice, Refund
from portal.billing.states import PAID_ONCE
from portal.catalog.models import Plan, Service
from portal.extensions import db
from portal.notifications.models import Email
from portal.provisioning.models import Node
from portal.subscriptions.models import InstanceStatus, Subscription
from portal.subscriptions.states import BILLABLE, HOLDS_RESOURCES
from portal.timestamps import month_start, utcnow


def _month_of(column):
    """'YYYY-MM' of a timestamp, in UTC, on either database."""
    if db.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


@dataclass(frozen=True)
class RevenueRow:
    month: str
    app: str
    invoices: int
    amount_idr: int  # net: paid in the month, less what went back in it
    refunded_idr: int = 0


def _app_of(query):
    return (query.join(Subscription, Subscription.id == Invoice.subscription_id)
            .join(Plan, Plan.id == Subscription.plan_id).join(Service, Service.id == Plan.service_id))


def revenue_rows(*, start: datetime, end: datetime) -> list[RevenueRow]:
    """Revenue in [start, end) by month and app, net of refunds: an invoice counts in the month it was paid (a refunded
    one too), each refund or chargeback against it in the month it happened."""
    month = _month_of(Invoice.paid_at).label("month")
    figures: dict[tuple[str, str], list] = {}
    for label, app, count, total in db.session.execute(_app_of(
            select(month, Service.name, func.count(Invoice.id), func.sum(Invoice.amount_idr)).select_from(Invoice))
            .where(Invoice.state.in_(PAID_ONCE), Invoice.paid_at >= start, Invoice.paid_at < end)
            .group_by(month, Service.name)):
        figures[(label, app)] = [count, int(total or 0), 0]
    month = _month_of(Refund.refunded_at).label("month")
    for label, app, total in db.session.execute(_app_of(
            select(month, Service.name, func.sum(Refund.amount)).select_from(Refund)
            .join(Invoice, Invoice.id == Refund.invoice_id))
            .where(Refund.refunded_at >= start, Refund.refunded_at < end).group_by(month, Service.name)):
        figures.setdefault((label, app), [0, 0, 0])[2] = int(total or 0)
    return [RevenueRow(label, app, count, paid - refunded, refunded)
            for (label, app), (count, paid, refunded) in sorted(figures.items())]


def revenue_months(*, start: datetime, end: datetime) -> list[tuple[str, int]]:
    """Revenue per month in [start, end) net of refunds, every month listed; no joins."""
    month = _month_of(Invoice.paid_at).label("month")
    found = dict(db.session.execute(select(month, func.sum(Invoice.amount_idr)).where(
        Invoice.state.in_(PAID_ONCE), Invoice.paid_at >= start, Invoice.paid_at < end).group_by(month)).all())
    month = _month_of(Refund.refunded_at).label("month")
    refunded = dict(db.session.execute(select(month, func.sum(Refund.amount)).where(
        Refund.refunded_at >= start, Refund.refunded_at < end).group_by(month)).all())
    return [(label, int(found.get(label) or 0) - int(refunded.get(label) or 0))
            for label in months_between(start, end)]


def months_between(start: datetime, end: datetime) -> list[str]:
    months, cursor = [], start
    while cursor < end:
        months.append(f"{cursor:%Y-%m}")
        cursor = month_start(cursor, -1)
    return months


def revenue_by_month(rows: list[RevenueRow], months: list[str]) -> list[tuple[str, int]]:
    totals = dict.fromkeys(months, 0)
    for row in rows:
        totals[row.month] = totals.get(row.month, 0) + row.amount_idr
    return list(totals.items())


def revenue_by_app(rows: list[RevenueRow]) -> list[tuple[str, int, int]]:
    """(app, invoices, amount) over the rows, the largest first."""
    totals: dict[str, list[int]] = {}
    for row in rows:
        entry = totals.setdefault(row.app, [0, 0])
        entry[0] += row.invoices
        entry[1] += row.amount_idr
    return sorted(((app, count, amount) for app, (count, amount) in totals.items()), key=lambda r: -r[2])


def overview(now: datetime | None = None) -> dict:
    """Everything the overview shows, in a handful of aggregate queries."""
    now = now or utcnow()
    # One pass over subscriptions grouped by (state, plan), no joins; the few plans are mapped here.
    plans = {plan.id: plan for plan in db.session.scalars(select(Plan).options(joinedload(Plan.service)))}
    active_by_app: dict[str, int] = {}
    states: dict[str, int] = {}
    mrr = 0.0
    for state, plan_id, count in db.session.execute(
            select(Subscription.state, Subscription.plan_id, func.count())
            .where(Subscription.state.in_(HOLDS_RESOURCES))
            .group_by(Subscription.state, Subscription.plan_id)):
        plan = plans[plan_id]
        states[state] = states.get(state, 0) + count
        if state == "active":
            active_by_app[plan.service.name] = active_by_app.get(plan.service.name, 0) + count
        if state in BILLABLE:
            # Monthly recurring revenue: each plan's price scaled to 30 days, times its paying subscriptions.
            mrr += plan.price_idr * 30 / plan.period_days * count
    mrr = round(mrr)
    degraded = db.session.scalar(
        select(func.count()).select_from(Subscription)
        .join(InstanceStatus, InstanceStatus.subscription_id == Subscription.id)
        .where(Subscription.state == "active", InstanceStatus.ready.is_(False)))
    nodes = db.session.execute(select(func.count(Node.id), func.count(Node.id).filter(Node.ready.is_(True)))).one()
    start = month_start(now, 11)
    months = revenue_months(start=start, end=month_start(now, -1))
    return {"active_by_app": sorted(active_by_app.items()), "active": states.get("active", 0),
            "provisioning": states.get("provisioning", 0), "failed": states.get("provisioning_failed", 0),
            "suspended": states.get("suspended", 0), "degraded": degraded, "mrr_idr": mrr,
            "revenue_this_month_idr": months[-1][1], "months": months,
            "nodes_total": nodes[0], "nodes_ready": nodes[1],
            "failed_emails": db.session.scalar(select(func.count(Email.id)).where(Email.state == "failed"))}


def day_start(day, days_later: int = 0) -> datetime:
    """The first instant (UTC) of `day`, or of the day `days_later` after it."""
    return datetime.combine(day + timedelta(days=days_later), time(), UTC)
