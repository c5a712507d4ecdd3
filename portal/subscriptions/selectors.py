"""Reading subscriptions."""
from sqlalchemy import exists, select

from portal.extensions import db
from portal.subscriptions.models import Subscription


def subdomain_taken(subdomain: str) -> bool:
    """Whether any subscription, in any state, holds this subdomain (the database keeps them unique)."""
    return db.session.scalar(select(exists().where(Subscription.subdomain == subdomain)))
