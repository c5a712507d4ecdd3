"""What the dashboard shows: each live subscription with its status badge and actions."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.billing.models import Invoice
from portal.catalog.models import Plan
from portal.extensions import db
from portal.instances.selectors import Badge, deletes_on, instance_address, instance_badge
from portal.subscriptions.models import InstanceStatus, Subscription
from portal.subscriptions.states import ENDED, Actions, allowed_actions
from portal.timestamps import utcnow


@dataclass
class Card:
    subscription: Subscription
    badge: Badge
    actions: Actions
    days_left: int | None
    deletes_on: datetime | None
    payment_review: bool = False  # its payment is held for Midtrans' fraud review: nothing to pay now

    @property
    def transitional(self) -> bool:
        return self.badge.changing

    @property
    def open_url(self) -> str:
        return instance_address(subdomain=self.subscription.subdomain).open_url


def dashboard_cards(*, user_id: int) -> list[Card]:
    subscriptions = db.session.scalars(
        select(Subscription)
        .where(Subscription.user_id == user_id, Subscription.state.not_in(ENDED))
        .options(joinedload(Subscription.plan).joinedload(Plan.service))
        .order_by(Subscription.created_at.desc())).all()
    statuses = {s.subscription_id: s for s in db.session.scalars(
        select(InstanceStatus).where(InstanceStatus.subscription_id.in_([s.id for s in subscriptions])))}
    in_review = set(db.session.scalars(select(Invoice.subscription_id).where(
        Invoice.subscription_id.in_([s.id for s in subscriptions]), Invoice.state == "review")))
    now = utcnow()
    cards = []
    for s in subscriptions:
        status = statuses.get(s.id)
        cards.append(Card(s, instance_badge(s, status),
                          allowed_actions(s, ready=bool(status and status.ready),
                                          rolling_out=bool(status and status.rollout), now=now),
                          (s.current_period_end - now).days if s.current_period_end else None,
                          deletes_on(s), s.id in in_review))
    return cards
