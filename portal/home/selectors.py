"""What the dashboard shows."""
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.catalog.models import Plan
from portal.extensions import db
from portal.subscriptions.models import Subscription


def dashboard_subscriptions(*, user_id: int) -> list[Subscription]:
    return list(db.session.scalars(
        select(Subscription)
        .where(Subscription.user_id == user_id, Subscription.state.not_in(("cancelled", "terminated")))
        .options(joinedload(Subscription.plan).joinedload(Plan.service))
        .order_by(Subscription.created_at.desc())))
