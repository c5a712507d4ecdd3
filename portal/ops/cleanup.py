"""Housekeeping: old events, resource samples and sent emails' bodies go once past their retention."""
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, update

from portal.extensions import db
from portal.instances.models import ResourceSample
from portal.notifications.models import Email
from portal.subscriptions.models import InstanceEvent
from portal.timestamps import utcnow
from portal.unit_of_work import use_case


@use_case
def data_cleanup(now: datetime | None = None) -> dict:
    now = now or utcnow()
    config = current_app.config
    events = db.session.execute(delete(InstanceEvent).where(
        InstanceEvent.created_at < now - timedelta(days=config["EVENT_RETENTION_DAYS"]))).rowcount
    samples = db.session.execute(delete(ResourceSample).where(
        ResourceSample.taken_at < now - timedelta(days=config["SAMPLE_RETENTION_DAYS"]))).rowcount
    # The row stays (it proves what was sent and when); the body, which may hold links and names, goes.
    bodies = db.session.execute(update(Email).where(
        Email.state == "sent", Email.body_html.is_not(None),
        Email.sent_at < now - timedelta(days=config["EMAIL_BODY_RETENTION_DAYS"])).values(
        body_html=None, body_text=None, context={})).rowcount
    return {"events": events, "samples": samples, "email_bodies": bodies}
