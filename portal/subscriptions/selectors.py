"""Reading subscriptions."""
from sqlalchemy import exists, select

from portal.extensions import db
from portal.subscriptions.models import Subscription


def subdomain_taken(subdomain: str) -> bool:
    """Whether an order that is not cancelled holds this subdomain (the database keeps those unique)."""
    return db.session.scalar(select(exists().where(Subscription.subdomain == subdomain,
                                                   Subscription.state != "cancelled")))


def subdomain_held_by_another(subscription: Subscription) -> bool:
    """Whether another order, not cancelled, took this subscription's address (after this one was cancelled)."""
    return db.session.scalar(select(exists().where(Subscription.subdomain == subscription.subdomain,
                                                   Subscription.id != subscription.id,
                                                   Subscription.state != "cancelled")))
