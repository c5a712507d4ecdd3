"""A real Huey consumer killed (SIGKILL) in the middle of applying a payment notification: nothing it began is
kept, the notification stays in the inbox, and the sweep applies it exactly once."""
import signal

import pytest
from sqlalchemy import func, select, text

from portal.billing import inbox
from portal.billing.models import Invoice, PaymentNotification
from portal.extensions import db
from portal.notifications.models import Email
from portal.subscriptions.models import InstanceEvent
from portal.tasks import huey
from tests.fixtures.billing import MIDTRANS_SERVER_KEY, post
from tests.helpers import wait_until


@pytest.fixture
def app_config(cluster_config, midtrans_config, private_redis):
    # The webhook (this process) queues on the consumer's Redis; both ask the same Midtrans emulator.
    return {**cluster_config, **midtrans_config, "REDIS_URL": private_redis.url}


def _blocked_on_the_invoice(invoice_id: int) -> bool:
    """A session of another process waits for the invoice's row lock: the worker is inside the apply."""
    with db.engine.connect() as connection:
        return bool(connection.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND query LIKE '%FROM invoices%FOR UPDATE%'")))


def test_a_worker_killed_mid_apply_leaves_it_to_the_sweep_which_applies_it_once(app, client, order, midtrans,
                                                                                 consumers, travel):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    consumers.env.update(MIDTRANS_SERVER_KEY=MIDTRANS_SERVER_KEY, MIDTRANS_CLIENT_KEY="SB-Mid-client-test-key",
                         MIDTRANS_SNAP_BASE_URL=midtrans.url + "/snap/v1", MIDTRANS_CORE_BASE_URL=midtrans.url)
    invoice = order()
    midtrans.set_status(invoice.order_id, "settlement")
    worker = consumers.start()
    with db.engine.connect() as holder:
        # Hold the invoice's row: the worker takes the task, confirms with the status API, locks the notification
        # and then waits here, half-way through the apply.
        # (FOR NO KEY UPDATE: the webhook may still store its notification, which references the invoice.)
        holder.execute(text("SELECT id FROM invoices WHERE id = :id FOR NO KEY UPDATE"), {"id": invoice.id})
        huey.immediate = False  # the webhook queues the apply on the consumer's Redis
        try:
            assert post(client, midtrans.notification(invoice.order_id)).get_json()["result"] == "stored"
        finally:
            huey.immediate = True
        wait_until(lambda: _blocked_on_the_invoice(invoice.id), timeout=30, interval=0.1)
        assert any("/status" in str(call) for call in midtrans.requests)  # it had asked Midtrans
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        holder.rollback()
    db.session.expire_all()
    (waiting,) = db.session.scalars(select(PaymentNotification))
    assert waiting.applied_at is None  # what the killed worker began was rolled back with its connection

    travel.by(seconds=app.config["PAYMENT_INBOX_GRACE_SECONDS"])
    assert inbox.inbox_sweep() == {"due": 1, "applied": 1, "waiting": 0, "alerted": 0}
    assert inbox.inbox_sweep()["due"] == 0
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).state == "paid"
    applied = db.session.scalars(select(PaymentNotification)).one()
    assert applied.result == "pending -> paid" and applied.applied_at is not None
    assert db.session.scalar(select(func.count(InstanceEvent.id)).where(InstanceEvent.kind == "paid")) == 1
    assert db.session.scalar(select(func.count(Email.id)).where(Email.template == "payment_receipt")) == 1
