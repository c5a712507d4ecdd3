"""The payment inbox: the webhook stores a checked notification once and answers at once; a worker applies it
exactly once, two at the same moment included (the sweep's side, the queue down or a worker killed: in
test_payment_inbox_sweep.py and tests/faults/)."""
import threading

import pytest
from sqlalchemy import func, select, text

from portal.billing import inbox
from portal.billing.models import Invoice, PaymentNotification
from portal.extensions import db
from portal.notifications.models import Email
from portal.subscriptions.models import InstanceEvent
from tests.fixtures.billing import notification, post, stored
from tests.helpers import tasks_held, wait_until


def notifications() -> list[PaymentNotification]:
    db.session.expire_all()
    return list(db.session.scalars(select(PaymentNotification).order_by(PaymentNotification.id)))


def receipts() -> int:
    return db.session.scalar(select(func.count(Email.id)).where(Email.template == "payment_receipt"))


def paid_events() -> int:
    return db.session.scalar(select(func.count(InstanceEvent.id)).where(InstanceEvent.kind == "paid"))


def invoice_state(invoice_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Invoice, invoice_id).state


@pytest.mark.smoke
def test_a_duplicate_stores_nothing_new_and_enqueues_nothing(client, order):
    invoice = order()
    body = notification(invoice)
    with tasks_held() as queue:
        assert post(client, body).get_json() == {"status": "ok", "result": "stored"}
        assert queue.pending_count() == 1  # its apply
        for _ in range(3):  # Midtrans sends it again until it reads a 2xx
            assert post(client, body).get_json() == {"status": "ok", "result": "duplicate"}
        assert queue.pending_count() == 1
    (kept,) = notifications()
    assert kept.applied_at is None and kept.payload == body and kept.transaction_id == body["transaction_id"]


def test_a_new_status_of_the_same_transaction_is_not_a_duplicate(client, order):
    # A challenged card capture, then staff accept it in Midtrans: same order, status and transaction id.
    invoice = order()
    challenged = notification(invoice, "capture", fraud_status="challenge", payment_type="credit_card")
    assert post(client, challenged).get_json()["result"] == "stored"
    accepted = notification(invoice, "capture", fraud_status="accept", payment_type="credit_card")
    assert accepted["transaction_id"] == challenged["transaction_id"]
    assert post(client, accepted).get_json()["result"] == "stored"
    assert [n.fraud_status for n in notifications()] == ["challenge", "accept"]
    assert invoice_state(invoice.id) == "paid"


def test_applying_a_notification_again_does_nothing(order):
    invoice = order()
    notification_id = stored(notification(invoice))
    with tasks_held() as queue:
        assert inbox.notification_apply(notification_id=notification_id) == "pending -> paid"
        queued = queue.pending_count()
        assert inbox.notification_apply(notification_id=notification_id) == "already applied: pending -> paid"
        assert queue.pending_count() == queued  # no second receipt, no second provisioning
    (applied,) = notifications()
    assert applied.result == "pending -> paid" and applied.attempts == 1
    assert receipts() == 1 and paid_events() == 1


def _waiting_on_a_lock() -> int:
    with db.engine.connect() as connection:
        return connection.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND wait_event_type = 'Lock'"))


def test_two_workers_applying_the_same_notification_at_once_apply_it_once(app, order):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite serialises every writer)")
    invoice = order()
    notification_id = stored(notification(invoice))
    results, errors = [], []

    def worker():
        with app.app_context():
            try:
                results.append(inbox.notification_apply(notification_id=notification_id))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                db.session.remove()

    with tasks_held(), db.engine.connect() as holder:
        # Hold the notification's row so both workers, having asked the status API, meet at its lock.
        holder.execute(text("SELECT id FROM payment_notifications WHERE id = :id FOR UPDATE"), {"id": notification_id})
        workers = [threading.Thread(target=worker) for _ in range(2)]
        for thread in workers:
            thread.start()
        wait_until(lambda: _waiting_on_a_lock() == 2, timeout=20, interval=0.05)
        holder.rollback()  # both go: one applies, the other finds it applied
        for thread in workers:
            thread.join(timeout=30)
    assert errors == []
    assert sorted(results) == ["already applied: pending -> paid", "pending -> paid"]
    assert invoice_state(invoice.id) == "paid"
    assert receipts() == 1 and paid_events() == 1
    (applied,) = notifications()
    assert applied.result == "pending -> paid" and applied.attempts == 1


def test_a_notification_waiting_through_a_long_outage_keeps_its_retries_capped(client, order, travel):
    invoice = order()
    post(client, notification(invoice, record=False))  # the status API never knows this order
    (waiting,) = notifications()
    waiting.attempts = 500  # weeks of failed attempts
    db.session.commit()
    assert inbox.notification_apply(notification_id=waiting.id).startswith("waiting")
    (waiting,) = notifications()
    assert waiting.attempts == 501 and waiting.next_attempt_at == travel.now + inbox.RETRY_CAP
