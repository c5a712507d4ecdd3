"""Read-only queries behind the admin pages."""
from sqlalchemy import func, select

from portal.extensions import db
from portal.notifications.models import Email
from portal.provisioning.models import Node

PAGE_SIZE = 50


def outbox_page(*, state: str | None, page: int) -> tuple[list[Email], int]:
    """One page of the outbox, newest first, and the total count under the same filter."""
    query = select(Email)
    count = select(func.count(Email.id))
    if state:
        query = query.where(Email.state == state)
        count = count.where(Email.state == state)
    emails = db.session.scalars(
        query.order_by(Email.id.desc()).limit(PAGE_SIZE).offset((max(page, 1) - 1) * PAGE_SIZE)).all()
    return list(emails), db.session.scalar(count)


def nodes() -> list[Node]:
    return list(db.session.scalars(select(Node).order_by(Node.name)))
