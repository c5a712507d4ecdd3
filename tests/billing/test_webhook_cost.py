"""What one notification costs the database: the webhook stores it in one short transaction and enqueues its apply;
a duplicate stores nothing; applying a payment is one transaction (invoice, subscription, receipt); a notification
the status API does not confirm is kept, waiting, and changes nothing."""

from sqlalchemy import func, select

from portal.billing import inbox
from portal.billing.models import Invoice, PaymentNotification
from portal.extensions import db
from portal.subscriptions.models import Subscription
from tests.fixtures.billing import notification, post
from tests.helpers import database_activity, queued_tasks, tasks_held


def stored(order_id: str) -> int:
    return db.session.scalar(select(func.count(PaymentNotification.id)).where(PaymentNotification.order_id == order_id))


def test_the_webhook_stores_in_one_short_transaction_and_a_payment_applies_in_one(app, client, order):
    invoice = order()
    body = notification(invoice)
    # The enqueued work waits in the queue instead of running inline as in other tests, so the counts are each
    # step's own.
    with tasks_held() as queue:
        with database_activity() as received:
            assert post(client, body).get_json()["result"] == "stored"
        ((name, (notification_id,)),) = queued_tasks(queue)
        assert name == "payment_notification_apply"
        with database_activity() as duplicate:
            assert post(client, body).get_json()["result"] == "duplicate"
        assert len(queued_tasks(queue)) == 1  # the duplicate enqueued nothing
        queue.flush()
        with database_activity() as paid:
            assert inbox.notification_apply(notification_id=notification_id) == "pending -> paid"
        assert sorted(name for name, _ in queued_tasks(queue)) == ["email_send", "provision_instance"]
    assert received["commits"] == 1 and duplicate["commits"] == 1 and paid["commits"] == 1
    assert len(received["statements"]) <= 6 and len(duplicate["statements"]) <= 3
    # The apply also keeps what Midtrans said on the attempt and reads the invoice's refunds.
    assert len(paid["statements"]) <= 16
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).state == "paid"
    assert db.session.get(Subscription, invoice.subscription_id).state == "provisioning"
    assert stored(invoice.order_id) == 1


def test_a_notification_the_status_api_does_not_confirm_is_kept_waiting_and_changes_nothing(client, order):
    invoice = order()
    response = post(client, notification(invoice, record=False))  # the status API does not know the order
    assert response.status_code == 200  # Midtrans is not asked to send it again: the inbox retries
    db.session.expire_all()
    (kept,) = db.session.scalars(select(PaymentNotification).where(PaymentNotification.order_id == invoice.order_id))
    assert kept.applied_at is None and kept.attempts == 1 and kept.next_attempt_at is not None
    assert "does not know this order" in kept.last_error
    assert db.session.get(Invoice, invoice.id).state == "pending"
