"""Writing an instance's timeline: one event per thing that happened to it."""
from portal.extensions import db
from portal.phrases import Phrase, is_phrase, phrase_english
from portal.subscriptions.models import InstanceEvent


def instance_event_record(*, subscription_id: int, kind: str, message: str | Phrase, level: str = "info"
                          ) -> InstanceEvent:
    """Add an event to the caller's transaction (the caller commits with the change it records). A phrase
    (portal/phrases.py) is kept as it is, to be read in each reader's language, and in English beside it."""
    stored = message if is_phrase(message) else None
    event = InstanceEvent(subscription_id=subscription_id, kind=kind, message=phrase_english(message)[:2000],
                          phrase=stored, level=level)
    db.session.add(event)
    return event
