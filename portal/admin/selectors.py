"""Read-only queries behind the admin pages."""
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import User
from portal.audit.models import AuditEntry
from portal.billing.models import Invoice, Refund, invoice_number
from portal.catalog.models import Plan, Service
from portal.extensions import db
from portal.jobs.models import JobRun, TaskFailure
from portal.notifications.models import Email
from portal.provisioning.models import Node
from portal.subscriptions.models import InstanceEvent, InstanceStatus, Subscription
from portal.subscriptions.states import EXPIRY_WATCHED
from portal.timestamps import utcnow

PAGE_SIZE = 50


def nodes() -> list[Node]:
    return list(db.session.scalars(select(Node).order_by(Node.name)))


def instances_per_node() -> dict[str, int]:
    return dict(db.session.execute(select(InstanceStatus.node_name, func.count()).where(
        InstanceStatus.node_name.is_not(None)).group_by(InstanceStatus.node_name)).all())


def node_detail(name: str) -> dict | None:
    node = db.session.scalar(select(Node).where(Node.name == name))
    if node is None:
        return None
    on_node = select(InstanceStatus.subscription_id).where(InstanceStatus.node_name == name)
    return {"node": node,
            "instances": list(db.session.scalars(
                select(Subscription).where(Subscription.id.in_(on_node))
                .options(joinedload(Subscription.user), joinedload(Subscription.plan).joinedload(Plan.service))
                .order_by(Subscription.id.desc()).limit(PAGE_SIZE))),
            "instance_count": db.session.scalar(select(func.count()).select_from(on_node.subquery())),
            "events": list(db.session.scalars(select(InstanceEvent).where(InstanceEvent.subscription_id.in_(on_node))
                                              .order_by(InstanceEvent.id.desc()).limit(30))),
            "audit": list(db.session.scalars(select(AuditEntry).where(AuditEntry.target_type == "node",
                                                                      AuditEntry.target_id == name)
                                             .options(joinedload(AuditEntry.actor))
                                             .order_by(AuditEntry.id.desc()).limit(20)))}


@dataclass
class Page:
    items: list
    total: int
    page: int
    size: int = PAGE_SIZE
    total_is_estimate: bool = False  # a large total counted up to ADMIN_COUNT_CACHE_SECONDS ago

    @property
    def has_next(self) -> bool:
        return self.page * self.size < self.total


def _escape_like(text: str) -> str:
    """So a search for "50%" or "a_b" matches those characters, not any."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _users_matching(pattern: str):
    return select(User.id).where(User.email.like(pattern, escape="\\"))


def _total(count_query) -> tuple[int, bool]:
    """How many rows match, and whether that is a recent count rather than this moment's (large totals only)."""
    compiled = count_query.compile(db.engine)
    key = (str(compiled), repr(sorted(compiled.params.items())))
    cache = current_app.extensions.setdefault("portal.admin.counts", {})  # per app: its own database
    limit = current_app.config["ADMIN_EXACT_COUNT_LIMIT"]
    now = utcnow()
    cached = cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1], True
    # Counting at most one row past the limit reads a few index pages however large the table is.
    bounded = db.session.scalar(select(func.count()).select_from(
        count_query.with_only_columns(literal(1), maintain_column_froms=True).limit(limit + 1).subquery()))
    if bounded <= limit:
        return bounded, False
    total = db.session.scalar(count_query)
    if len(cache) > 500:  # filters are open-ended (searches): keep the cache small
        cache.clear()
    cache[key] = (now + timedelta(seconds=current_app.config["ADMIN_COUNT_CACHE_SECONDS"]), total)
    return total, False


def _page(query, count_query, page: int, *, rows: bool = False) -> Page:
    """One page of `query`'s entities, or of its plain rows when `rows` (a list that only shows columns)."""
    page = max(page, 1)
    window = query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    items = db.session.execute(window).all() if rows else db.session.scalars(window).unique().all()
    total, estimate = _total(count_query)
    return Page(list(items), total, page, total_is_estimate=estimate)


def outbox_page(*, state: str | None, template: str | None, recipient: str, page: int) -> Page:
    conditions = []
    if state:
        conditions.append(Email.state == state)
    if template:
        conditions.append(Email.template == template)
    if recipient:
        conditions.append(Email.recipient.like(f"%{_escape_like(recipient.lower())}%", escape="\\"))
    return _page(select(Email).where(*conditions).order_by(Email.id.desc()),
                 select(func.count(Email.id)).where(*conditions), page)


def email_templates() -> list[str]:
    return list(db.session.scalars(select(Email.template).distinct().order_by(Email.template)))


def users_page(*, search: str, page: int) -> Page:
    query, count = select(User), select(func.count(User.id))
    if search:
        pattern = f"%{_escape_like(search.lower())}%"
        condition = or_(User.email.like(pattern, escape="\\"), User.name.ilike(pattern, escape="\\"))
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
                or_(AuditEntry.actor_id == user_id,
                    (AuditEntry.target_type == "user") & (AuditEntry.target_id == str(user_id))))
                .order_by(AuditEntry.id.desc()).limit(50)))}


@dataclass(frozen=True)
class SubscriptionFilters:
    state: str | None = None
    app_slug: str | None = None
    plan_id: int | None = None
    user_id: int | None = None
    search: str = ""
    expiring_days: int | None = None


def subscriptions_page(filters: SubscriptionFilters, *, page: int) -> Page:
    conditions, joins = [], set()
    if filters.state:
        conditions.append(Subscription.state == filters.state)
    if filters.app_slug:
        conditions.append(Service.slug == filters.app_slug)
        joins.add("service")
    if filters.plan_id:
        conditions.append(Subscription.plan_id == filters.plan_id)
    if filters.user_id:
        conditions.append(Subscription.user_id == filters.user_id)
    if filters.search:
        pattern = f"%{_escape_like(filters.search.lower())}%"
        # IN (subquery) rather than OR across a join, so each side can use its trigram index.
        conditions.append(or_(Subscription.subdomain.like(pattern, escape="\\"),
                              Subscription.user_id.in_(_users_matching(pattern))))
    if filters.expiring_days is not None:
        conditions.append(Subscription.current_period_end <= utcnow() + timedelta(days=filters.expiring_days))
        conditions.append(Subscription.state.in_(EXPIRY_WATCHED))

    def joined(query):
        # Only the joins a filter needs: counting 100k rows through three joins costs several times more.
        if "service" in joins:
            query = query.join(Plan, Plan.id == Subscription.plan_id).join(Service, Service.id == Plan.service_id)
        return query.where(*conditions)

    # Plain rows of the columns the list shows: fifty subscriptions with their users, plans and apps as ORM
    # objects cost several times more to build than to render.
    query = (select(Subscription.id, Subscription.subdomain, Subscription.state, Subscription.current_period_end,
                    User.email, Service.name.label("app_name"), Plan.name.label("plan_name"))
             .join(User, User.id == Subscription.user_id).join(Plan, Plan.id == Subscription.plan_id)
             .join(Service, Service.id == Plan.service_id).where(*conditions).order_by(Subscription.id.desc()))
    return _page(query, joined(select(func.count(Subscription.id))), page, rows=True)


def subscription_detail(subscription_id: int) -> Subscription | None:
    return db.session.scalar(select(Subscription).where(Subscription.id == subscription_id)
                             .options(joinedload(Subscription.user),
                                      joinedload(Subscription.plan).joinedload(Plan.service)))


def audit_page(*, action: str | None, actor_id: int | None, target_type: str | None, target_id: str | None,
               page: int) -> Page:
    conditions = []
    if action:
        # "subscription." lists every action on subscriptions; a full name lists that one.
        conditions.append(AuditEntry.action.startswith(action, autoescape=True) if action.endswith(".")
                          else AuditEntry.action == action)
    if actor_id:
        conditions.append(AuditEntry.actor_id == actor_id)
    if target_type:
        conditions.append(AuditEntry.target_type == target_type)
        if target_id:
            conditions.append(AuditEntry.target_id == target_id)
    return _page(select(AuditEntry).where(*conditions).options(joinedload(AuditEntry.actor))
                 .order_by(AuditEntry.id.desc()), select(func.count(AuditEntry.id)).where(*conditions), page)


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def recent_task_failures(limit: int = 30) -> list[TaskFailure]:
    return list(db.session.scalars(select(TaskFailure).order_by(TaskFailure.id.desc()).limit(limit)))


@dataclass(frozen=True)
class InvoiceFilters:
    state: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    search: str = ""


def _invoice_conditions(filters: InvoiceFilters) -> list:
    conditions = []
    if filters.state:
        conditions.append(Invoice.state == filters.state)
    if filters.date_from:
        conditions.append(Invoice.created_at >= datetime.combine(filters.date_from, time(), UTC))
    if filters.date_to:
        conditions.append(Invoice.created_at < datetime.combine(filters.date_to + timedelta(days=1), time(), UTC))
    if filters.search:
        pattern = f"%{_escape_like(filters.search)}%"
        conditions.append(or_(Invoice.order_id.like(pattern, escape="\\"),
                              Invoice.user_id.in_(_users_matching(pattern.lower()))))
    return conditions


def invoices_page(filters: InvoiceFilters, *, page: int) -> Page:
    conditions = _invoice_conditions(filters)
    query = select(Invoice).where(*conditions).options(
        joinedload(Invoice.user), joinedload(Invoice.subscription)).order_by(Invoice.id.desc())
    return _page(query, select(func.count(Invoice.id)).where(*conditions), page)


INVOICE_EXPORT_HEADER = ["invoice", "order_id", "created_at", "paid_at", "customer", "app", "plan", "kind",
                         "amount_idr", "state", "payment_type", "midtrans_status", "fraud_status", "refunded_idr"]


def invoices_export(filters: InvoiceFilters, batch: int = 2000):
    """Every invoice under the filters as a CSV row (INVOICE_EXPORT_HEADER), oldest first, fetched in batches
    by id (no server-side cursor held open across the response)."""
    conditions = _invoice_conditions(filters)
    refunded = (select(func.coalesce(func.sum(Refund.amount), 0)).where(Refund.invoice_id == Invoice.id)
                .correlate(Invoice).scalar_subquery())
    last_id = 0
    while True:
        rows = db.session.execute(
            select(Invoice.id, Invoice.order_id, Invoice.created_at, Invoice.paid_at, User.email, Service.name,
                   Plan.name, Invoice.kind, Invoice.amount_idr, Invoice.state, Invoice.payment_type,
                   Invoice.midtrans_status, Invoice.fraud_status, refunded)
            .join(User, User.id == Invoice.user_id).join(Subscription, Subscription.id == Invoice.subscription_id)
            .join(Plan, Plan.id == Subscription.plan_id).join(Service, Service.id == Plan.service_id)
            .where(Invoice.id > last_id, *conditions).order_by(Invoice.id).limit(batch)).all()
        if not rows:
            return
        for (invoice_id, order_id, created, paid, email, app, plan, kind, amount, state, payment_type, status,
             fraud, refunds) in rows:
            yield [invoice_number(invoice_id, created), order_id, created.isoformat(), paid.isoformat() if paid else "",
                   email, app, plan, kind, int(amount), state, payment_type or "", status or "", fraud or "",
                   int(refunds or 0)]
        last_id = rows[-1][0]


def invoice_detail(invoice_id: int) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(Invoice.id == invoice_id).options(
        joinedload(Invoice.user),
        joinedload(Invoice.subscription).joinedload(Subscription.plan).joinedload(Plan.service),
        selectinload(Invoice.attempts), selectinload(Invoice.notifications), selectinload(Invoice.refunds)))


def subscription_invoices(subscription_id: int) -> list[Invoice]:
    return list(db.session.scalars(select(Invoice).where(Invoice.subscription_id == subscription_id)
                                   .order_by(Invoice.id.desc()).limit(50)))


def catalog() -> list[Service]:
    return list(db.session.scalars(select(Service).options(selectinload(Service.plans)).order_by(Service.name)))


def subscriptions_per_plan() -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    for plan_id, state, count in db.session.execute(
            select(Subscription.plan_id, Subscription.state, func.count())
            .group_by(Subscription.plan_id, Subscription.state)):
        counts.setdefault(plan_id, {})[state] = count
    return counts


def last_job_runs() -> list[JobRun]:
    """The newest run of each job."""
    newest = select(JobRun.name, func.max(JobRun.id).label("id")).group_by(JobRun.name).subquery()
    return list(db.session.scalars(select(JobRun).join(newest, JobRun.id == newest.c.id).order_by(JobRun.name)))
