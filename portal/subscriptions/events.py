"""Writing an instance's timeline: one event per thing that happened to it."""
from portal.extensions import db
from portal.subscriptions.models import InstanceEvent


def instance_event_record(*, subscription_id: int, kind: str, message: str, level: str = "info") -> InstanceEvent:
    """Add an event to the caller's transaction (the caller commits with the change it records)."""
    event = InstanceEvent(subscription_id=subscription_id, kind=kind, message=message[:2000], level=level)
    db.session.add(event)
    return event
