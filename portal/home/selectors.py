"""What the dashboard shows: each live subscription with its health."""
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.catalog.models import Plan
from portal.extensions import db
from portal.instances.models import InstanceStatus
from portal.instances.selectors import TRANSITIONAL, health_of, instance_address
from portal.subscriptions.models import Subscription
from portal.timestamps import utcnow


@dataclass
class Card:
    subscription: Subscription
    health: str
    days_left: int | None

    @property
    def transitional(self) -> bool:
        return self.subscription.state in TRANSITIONAL

    @property
    def open_url(self) -> str:
        return instance_address(subdomain=self.subscription.subdomain).open_url


def dashboard_cards(*, user_id: int) -> list[Card]:
    subscriptions = db.session.scalars(
        select(Subscription)
        .where(Subscription.user_id == user_id, Subscription.state.not_in(("cancelled", "terminated")))
        .options(joinedload(Subscription.plan).joinedload(Plan.service))
        .order_by(Subscription.created_at.desc())).all()
    statuses = {s.subscription_id: s for s in db.session.scalars(
        select(InstanceStatus).where(InstanceStatus.subscription_id.in_([s.id for s in subscriptions])))}
    now = utcnow()
    return [Card(s, health_of(s, statuses.get(s.id)),
                 (s.current_period_end - now).days if s.current_period_end else None)
            for s in subscriptions]
