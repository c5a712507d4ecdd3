"""What the dashboard shows: each live subscription with its status badge and actions."""
from dataclasses import dataclass
from datetime import datetime
from functools import cache, cached_property

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from portal.billing.models import Invoice
from portal.catalog.models import Plan, Service
from portal.extensions import db
from portal.instances.selectors import (
    PRIMARY_DOMAIN,
    Badge,
    InstanceAddress,
    deletes_on,
    instance_address,
    instance_badge,
)
from portal.subscriptions.models import InstanceStatus, Subscription
from portal.subscriptions.states import ENDED, Actions, allowed_actions, renewal_due
from portal.timestamps import utcnow


@dataclass
class Card:
    subscription: Subscription
    badge: Badge
    actions: Actions
    days_left: int | None
    deletes_on: datetime | None
    payment_review: bool = False  # its payment is held for Midtrans' fraud review: nothing to pay now
    primary_domain: str | None = None  # the customer's own domain, once it serves the app over TLS

    @property
    def transitional(self) -> bool:
        return self.badge.changing

    @cached_property
    def address(self) -> InstanceAddress:
        return instance_address(subdomain=self.subscription.subdomain, primary_domain=self.primary_domain)

    @property
    def open_url(self) -> str:
        return self.address.open_url


# Built once (construction cost as much as the run), one query instead of three: each live subscription with its
# plan and app, its status row and whether a card payment of it is under review.
@cache
def _dashboard_cards_statement():
    # Built on first use, not at import: its eager loads configure every mapper, which needs every model
    # imported (a process such as the watcher imports this module before the app has loaded them all).
    return (select(Subscription, InstanceStatus,
                   select(Invoice.id).where(Invoice.subscription_id == Subscription.id, Invoice.state == "review")
                   .exists().label("in_review"), PRIMARY_DOMAIN)
            .outerjoin(InstanceStatus, InstanceStatus.subscription_id == Subscription.id)
            .where(Subscription.user_id == bindparam("user_id"), Subscription.state.not_in(ENDED))
            .options(joinedload(Subscription.plan).joinedload(Plan.service))
            .order_by(Subscription.created_at.desc(), Subscription.id.desc()))


def dashboard_cards(*, user_id: int) -> list[Card]:
    rows = db.session.execute(_dashboard_cards_statement(), {"user_id": user_id}).all()
    now = utcnow()
    cards = []
    for s, status, in_review, primary in rows:
        cards.append(Card(s, instance_badge(s, status),
                          allowed_actions(s, ready=bool(status and status.ready),
                                          rolling_out=bool(status and status.rollout), now=now),
                          days_left(s.current_period_end, now),
                          deletes_on(s), bool(in_review), primary))
    return cards


def days_left(period_end: datetime | None, now: datetime) -> int | None:
    """Whole days until the paid period ends, as a card says "renews in N days"."""
    return (period_end - now).days if period_end else None


# Built once: constructing the statement costs more than running it, and it runs for every dashboard poll.
_DASHBOARD_VERSION = (
    select(Subscription.id, Subscription.state, Subscription.subdomain, Subscription.current_period_end,
           Subscription.cancel_at_period_end, Subscription.suspension_reason, Subscription.state_note,
           Subscription.state_changed_at, Plan.id, Plan.name, Service.name, Service.logo,
           InstanceStatus.ready, InstanceStatus.components, InstanceStatus.rollout,
           # a card payment under review changes what the card offers
           select(Invoice.id).where(Invoice.subscription_id == Subscription.id, Invoice.state == "review")
           .exists().label("in_review"), PRIMARY_DOMAIN)
    .join(Plan, Plan.id == Subscription.plan_id).join(Service, Service.id == Plan.service_id)
    .outerjoin(InstanceStatus, InstanceStatus.subscription_id == Subscription.id)
    .where(Subscription.user_id == bindparam("user_id"), Subscription.state.not_in(ENDED))
    # With the id: orders placed in the same instant come in one order every time, or the tag would flicker.
    .order_by(Subscription.created_at.desc(), Subscription.id.desc()))


def dashboard_version(*, user_id: int, now: datetime) -> tuple:
    """Everything the dashboard's cards render, as plain values in one query, with what changes with the
    clock alone ("renews in N days", the renewal offer) worked out for `now`: enough to tell an unchanged
    poll without loading or rendering anything."""
    rows = db.session.connection().execute(_DASHBOARD_VERSION, {"user_id": user_id}).all()
    return tuple((*row, days_left(row.current_period_end, now), renewal_due(row, now)) for row in rows)
