"""What one notification costs the database: a payment is one transaction (invoice, subscription, receipt), a
duplicate is one short one, and a notification refused after its signature and amount checked out is still kept."""

from sqlalchemy import func, select

from portal.billing.models import Invoice, PaymentNotification
from portal.extensions import db
from portal.subscriptions.models import Subscription
from tests.fixtures.billing import notification, post
from tests.helpers import database_activity, queued_tasks, tasks_held


def stored(order_id: str) -> int:
    return db.session.scalar(select(func.count(PaymentNotification.id)).where(PaymentNotification.order_id == order_id))


def test_a_payment_is_one_transaction_and_a_duplicate_one_short_one(app, client, order):
    invoice = order()
    body = notification(invoice)
    # The enqueued work (provisioning, the receipt's delivery) waits in the queue instead of running inline as in
    # other tests, so the counts are the webhook's own.
    with tasks_held() as queue:
        with database_activity() as paid:
            assert post(client, body).get_json()["result"] == "pending -> paid"
        assert sorted(name for name, _ in queued_tasks(queue)) == ["email_send", "provision_instance"]
        with database_activity() as duplicate:
            assert post(client, body).get_json()["result"].startswith("unchanged (paid")
        assert len(queued_tasks(queue)) == 2  # the duplicate enqueued nothing
    assert paid["commits"] == 1 and duplicate["commits"] == 1
    # The attempt keeps what Midtrans said (one read, and a write when it is news).
    assert len(paid["statements"]) <= 14 and len(duplicate["statements"]) <= 5
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).state == "paid"
    assert db.session.get(Subscription, invoice.subscription_id).state == "provisioning"
    assert stored(invoice.order_id) == 2


def test_a_notification_the_status_api_does_not_confirm_is_kept_and_changes_nothing(client, order):
    invoice = order()
    response = post(client, notification(invoice, record=False))  # the status API does not know the order
    assert response.status_code == 409
    db.session.expire_all()
    assert stored(invoice.order_id) == 1
    assert db.session.get(Invoice, invoice.id).state == "pending"
