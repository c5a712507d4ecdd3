"""Reading invoices and subscriptions (a customer's always scoped to the owner) and the payment inbox, for pages."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload, selectinload

from portal.billing.models import Invoice, PaymentAttempt, PaymentNotification, Refund
from portal.catalog.models import Plan
from portal.extensions import db
from portal.subscriptions.models import Subscription

_WITH_PLAN = joinedload(Invoice.subscription).joinedload(Subscription.plan).joinedload(Plan.service)


def invoice_for(*, user_id: int, invoice_id: int) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(Invoice.id == invoice_id, Invoice.user_id == user_id)
                             .options(_WITH_PLAN))


# Built once: constructing a statement costs more than running this one, and it runs for every invoice poll.
_INVOICE_VERSION = (
    select(Invoice.id, Invoice.order_id, Invoice.subscription_id, Invoice.kind, Invoice.state,
           Invoice.midtrans_status, Invoice.payment_type, Invoice.paid_at, Invoice.expires_at, Invoice.updated_at,
           PaymentAttempt.id, PaymentAttempt.snap_redirect_url, Subscription.state,
           # refunds change what the page says without always changing the invoice's row
           select(func.count(Refund.id)).where(Refund.invoice_id == Invoice.id).scalar_subquery())
    .join(Subscription, Subscription.id == Invoice.subscription_id)
    .outerjoin(PaymentAttempt, PaymentAttempt.order_id == Invoice.order_id)
    .where(Invoice.id == bindparam("invoice_id"), Invoice.user_id == bindparam("user_id")))


def invoice_version(*, user_id: int, invoice_id: int) -> tuple | None:
    """Everything the invoice page's status block renders, as plain values in one query (the invoice, the
    attempt paying goes through now, its order's state and its refunds), or None when the invoice is not the
    reader's."""
    found = db.session.connection().execute(_INVOICE_VERSION, {"user_id": user_id, "invoice_id": invoice_id}).first()
    return tuple(found) if found else None


def invoice_for_order(*, user_id: int, order_id: str) -> Invoice | None:
    return db.session.scalar(select(Invoice).join(PaymentAttempt, PaymentAttempt.invoice_id == Invoice.id)
                             .where(PaymentAttempt.order_id == order_id, Invoice.user_id == user_id))


# Built once: the billing page is a sixth of what customers look at. The attempts too: the list asks each open
# invoice whether its Snap page is there (invoice_actions).
_INVOICES_OF = (select(Invoice).where(Invoice.user_id == bindparam("user_id"))
                .options(_WITH_PLAN, selectinload(Invoice.attempts)).order_by(Invoice.id.desc()))


def invoices_of(*, user_id: int) -> list[Invoice]:
    return list(db.session.scalars(_INVOICES_OF, {"user_id": user_id}))


def subscription_for(*, user_id: int, subscription_id: int) -> Subscription | None:
    return db.session.scalar(select(Subscription).where(Subscription.id == subscription_id,
                                                        Subscription.user_id == user_id))


@dataclass(frozen=True)
class InboxWaiting:
    """What staff see of the inbox: how many notifications wait, since when, and the oldest of them."""
    count: int
    oldest_received_at: datetime | None
    notifications: list[PaymentNotification]

    def oldest_age(self, now: datetime) -> str:
        """How long the oldest has waited, in words ("3 min", "2 h 5 min", "4 days"); "" when none waits."""
        if self.oldest_received_at is None:
            return ""
        minutes = max(int((now - self.oldest_received_at).total_seconds() // 60), 0)
        if minutes < 1:
            return "under a minute"
        if minutes < 60:
            return f"{minutes} min"
        if minutes < 48 * 60:
            return f"{minutes // 60} h {minutes % 60} min"
        return f"{minutes // (24 * 60)} days"


def inbox_waiting(*, limit: int = 20) -> InboxWaiting:
    """Notifications stored and not applied yet, oldest first (for the admin payments page and overview)."""
    waiting = PaymentNotification.applied_at.is_(None)
    count, oldest = db.session.execute(select(func.count(PaymentNotification.id),
                                              func.min(PaymentNotification.received_at)).where(waiting)).one()
    rows = db.session.scalars(select(PaymentNotification).where(waiting)
                              .order_by(PaymentNotification.received_at, PaymentNotification.id).limit(limit)).all() \
        if limit else []
    return InboxWaiting(count, oldest, list(rows))
