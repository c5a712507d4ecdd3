"""The inbox sweep applies what the webhook stored and the queue never carried: Redis down when Midtrans called."""
import pytest
from sqlalchemy import func, select

from portal.billing import inbox
from portal.billing.models import Invoice, PaymentNotification
from portal.extensions import db
from portal.notifications.models import Email
from portal.subscriptions.models import InstanceEvent
from portal.tasks import huey
from tests.fixtures.billing import notification, post
from tests.helpers import refused_port


def notifications() -> list[PaymentNotification]:
    db.session.expire_all()
    return list(db.session.scalars(select(PaymentNotification).order_by(PaymentNotification.id)))


def invoice_state(invoice_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Invoice, invoice_id).state


def receipts() -> int:
    return db.session.scalar(select(func.count(Email.id)).where(Email.template == "payment_receipt"))


def paid_events() -> int:
    return db.session.scalar(select(func.count(InstanceEvent.id)).where(InstanceEvent.kind == "paid"))


@pytest.fixture
def queue_down():
    with refused_port() as port:
        yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def app_config(queue_down):
    return {"REDIS_URL": queue_down}


@pytest.mark.smoke
def test_redis_down_at_the_webhook_stores_answers_200_and_the_sweep_applies_it(app, client, order, travel):
    invoice = order()
    body = notification(invoice)
    huey.immediate = False  # the real queue, on a Redis that refuses connections
    try:
        response = post(client, body)
    finally:
        huey.immediate = True
    assert response.status_code == 200 and response.get_json()["result"] == "stored"
    (waiting,) = notifications()
    assert waiting.applied_at is None and invoice_state(invoice.id) == "pending"

    assert inbox.inbox_sweep()["due"] == 0  # its own task may still be on the way: a grace first
    travel.by(seconds=app.config["PAYMENT_INBOX_GRACE_SECONDS"])
    assert inbox.inbox_sweep() == {"due": 1, "applied": 1, "waiting": 0, "alerted": 0}
    assert invoice_state(invoice.id) == "paid"
    assert receipts() == 1 and paid_events() == 1
    assert inbox.inbox_sweep()["due"] == 0  # applied: never again
