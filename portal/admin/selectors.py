"""Read-only queries behind the admin pages."""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import User
from portal.audit.models import AuditEntry
from portal.billing.models import Invoice
from portal.catalog.models import Plan, Service
from portal.extensions import db
from portal.jobs.models import JobRun
from portal.subscriptions.models import Subscription
from portal.timestamps import utcnow
from portal.notifications.models import Email
from portal.provisioning.models import Node

PAGE_SIZE = 50


def outbox_page(*, state: str | None, page: int) -> tuple[list[Email], int]:
    """One page of the outbox, newest first, and the total count under the same filter."""
    query = select(Email)
    count = select(func.count(Email.id))
    if state:
        query = query.where(Email.state == state)
        count = count.where(Email.state == state)
    emails = db.session.scalars(
        query.order_by(Email.id.desc()).limit(PAGE_SIZE).offset((max(page, 1) - 1) * PAGE_SIZE)).all()
    return list(emails), db.session.scalar(count)


def nodes() -> list[Node]:
    return list(db.session.scalars(select(Node).order_by(Node.name)))


@dataclass
class Page:
    items: list
    total: int
    page: int
    size: int = PAGE_SIZE

    @property
    def has_next(self) -> bool:
        return self.page * self.size < self.total


def _page(query, count_query, page: int) -> Page:
    page = max(page, 1)
    items = db.session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).unique().all()
    return Page(list(items), db.session.scalar(count_query), page)


def users_page(*, search: str, page: int) -> Page:
    query, count = select(User), select(func.count(User.id))
    if search:
        pattern = f"%{search.lower()}%"
        condition = or_(User.email.like(pattern), func.lower(User.name).like(pattern))
        query, count = query.where(condition), count.where(condition)
    return _page(query.order_by(User.id.desc()), count, page)


def user_detail(user_id: int) -> dict | None:
    user = db.session.get(User, user_id)
    if user is None:
        return None
    return {"user": user,
            "subscriptions": list(db.session.scalars(select(Subscription).where(Subscription.user_id == user_id)
                                                     .options(joinedload(Subscription.plan).joinedload(Plan.service))
                                                     .order_by(Subscription.id.desc()))),
            "invoices": list(db.session.scalars(select(Invoice).where(Invoice.user_id == user_id)
                                                .order_by(Invoice.id.desc()).limit(50))),
            "audit": list(db.session.scalars(select(AuditEntry).where(
                or_(AuditEntry.actor_id == user_id, (AuditEntry.target_type == "user") & (AuditEntry.target_id == str(user_id))))
                .order_by(AuditEntry.id.desc()).limit(50)))}


def subscriptions_page(*, state: str | None, app_slug: str | None, search: str, expiring_days: int | None,
                       page: int) -> Page:
    conditions = []
    if state:
        conditions.append(Subscription.state == state)
    if app_slug:
        conditions.append(Service.slug == app_slug)
    if search:
        pattern = f"%{search.lower()}%"
        conditions.append(or_(Subscription.subdomain.like(pattern), User.email.like(pattern)))
    if expiring_days is not None:
        conditions.append(Subscription.current_period_end <= utcnow() + timedelta(days=expiring_days))
    base = select(Subscription).join(User, User.id == Subscription.user_id).join(Plan).join(Service).where(*conditions)
    count = select(func.count(Subscription.id)).join(User, User.id == Subscription.user_id).join(Plan).join(Service) \
        .where(*conditions)
    query = base.options(joinedload(Subscription.user), joinedload(Subscription.plan).joinedload(Plan.service)) \
        .order_by(Subscription.id.desc())
    return _page(query, count, page)


def subscription_detail(subscription_id: int) -> Subscription | None:
    return db.session.scalar(select(Subscription).where(Subscription.id == subscription_id)
                             .options(joinedload(Subscription.user), joinedload(Subscription.plan).joinedload(Plan.service)))


def audit_page(*, action: str | None, page: int) -> Page:
    query, count = select(AuditEntry).options(joinedload(AuditEntry.actor)), select(func.count(AuditEntry.id))
    if action:
        query, count = query.where(AuditEntry.action == action), count.where(AuditEntry.action == action)
    return _page(query.order_by(AuditEntry.id.desc()), count, page)


def last_job_runs() -> list[JobRun]:
    """The newest run of each job."""
    newest = select(JobRun.name, func.max(JobRun.id).label("id")).group_by(JobRun.name).subquery()
    return list(db.session.scalars(select(JobRun).join(newest, JobRun.id == newest.c.id).order_by(JobRun.name)))
