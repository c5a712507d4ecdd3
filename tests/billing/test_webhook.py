"""The Midtrans webhook: trusted only when signed, matched and confirmed; applied once, only forwards."""
import json
import threading

import pytest
from sqlalchemy import func, select

from portal.billing.models import Invoice, PaymentNotification, Refund
from portal.extensions import db
from portal.notifications.models import Email
from portal.subscriptions.models import InstanceEvent, Subscription
from tests.fixtures.billing import notification, post, set_status


def invoice_state(invoice_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Invoice, invoice_id).state


def receipts() -> int:
    return db.session.scalar(select(func.count(Email.id)).where(Email.template == "payment_receipt"))


def paid_events(subscription_id: int) -> int:
    return db.session.scalar(select(func.count(InstanceEvent.id)).where(
        InstanceEvent.subscription_id == subscription_id, InstanceEvent.kind == "paid"))


@pytest.mark.smoke
def test_a_valid_settlement_pays_once_and_starts_provisioning(client, order):
    invoice = order()
    body = notification(invoice)
    response = post(client, body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert invoice_state(invoice.id) == "paid"
    subscription = db.session.get(Subscription, invoice.subscription_id)
    assert subscription.state == "provisioning" and subscription.current_period_end is not None
    assert receipts() == 1 and paid_events(subscription.id) == 1
    again = post(client, body)  # Midtrans sends it again (it did not read our answer)
    assert again.status_code == 200 and again.get_json()["result"] == "duplicate"
    assert receipts() == 1 and paid_events(subscription.id) == 1
    (stored,) = db.session.scalars(select(PaymentNotification))  # stored once, raw, with what applying it did
    assert stored.result == "pending -> paid" and stored.applied_at is not None


@pytest.mark.parametrize("late", ["pending", "expire", "cancel", "deny"])
def test_a_late_notification_never_undoes_a_payment(client, order, late):
    invoice = order()
    post(client, notification(invoice))
    response = post(client, notification(invoice, late))
    assert response.status_code == 200
    assert invoice_state(invoice.id) == "paid"


def test_capture_with_fraud_challenge_is_under_review_until_accepted(client, order):
    invoice = order()
    post(client, notification(invoice, "capture", fraud_status="challenge", payment_type="credit_card"))
    assert invoice_state(invoice.id) == "review"
    attempt = db.session.get(Invoice, invoice.id).current_attempt
    assert (attempt.transaction_status, attempt.fraud_status) == ("capture", "challenge")
    post(client, notification(invoice, "capture", fraud_status="accept", payment_type="credit_card"))
    assert invoice_state(invoice.id) == "paid"


@pytest.mark.parametrize("transaction_status", ["deny", "expire", "cancel", "failure"])
def test_failures_mark_the_invoice_failed(client, order, transaction_status):
    invoice = order()
    post(client, notification(invoice, transaction_status))
    assert invoice_state(invoice.id) == "failed"
    assert db.session.get(Subscription, invoice.subscription_id).state == "pending_payment"


def test_the_status_api_wins_when_it_disagrees(client, order):
    invoice = order()
    set_status(invoice.order_id, "pending", amount_idr=invoice.amount_idr)
    body = notification(invoice, "settlement", record=False)  # signed correctly, but not what happened
    assert post(client, body).status_code == 200
    assert invoice_state(invoice.id) == "pending"


def _tampered(body: dict, **changes) -> dict:
    return {**body, **changes}


@pytest.mark.parametrize("make, status", [
    (lambda inv: _tampered(notification(inv), signature_key="0" * 128), 401),
    (lambda inv: _tampered(notification(inv), gross_amount="1.00"), 401),  # signature covers the amount
    (lambda inv: notification(inv, amount_idr=1000), 400),  # correctly signed, wrong amount
    (lambda inv: notification("PTL-999-deadbeef", amount_idr=inv.amount_idr), 404),
    (lambda inv: {k: v for k, v in notification(inv).items() if k != "transaction_status"}, 400),
    (lambda inv: _tampered(notification(inv), order_id=12345), 400),
    (lambda inv: ["not", "an", "object"], 400),
])
def test_bad_notifications_are_refused_and_change_nothing(client, order, make, status):
    invoice = order()
    response = post(client, make(invoice))
    assert response.status_code == status
    assert invoice_state(invoice.id) == "pending"
    assert db.session.scalar(select(func.count(PaymentNotification.id))) == 0
    assert receipts() == 0


@pytest.mark.parametrize("raw, status", [(b"{not json", 400), (b"", 400), (b"x" * 200_000, 413)])
def test_malformed_or_huge_bodies_are_refused(client, order, raw, status):
    invoice = order()
    assert post(client, None, raw=raw).status_code == status
    assert invoice_state(invoice.id) == "pending"


def test_no_login_and_no_csrf_are_needed(app, order):
    invoice = order()
    fresh = app.test_client()  # no session, no CSRF token
    assert post(fresh, notification(invoice)).status_code == 200


def test_the_same_notification_from_many_threads_has_one_effect(app, order):
    invoice = order()
    body = json.dumps(notification(invoice))
    statuses = []

    def send():
        statuses.append(app.test_client().post("/billing/midtrans/notification", data=body,
                                               content_type="application/json").status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert invoice_state(invoice.id) == "paid"
    assert receipts() == 1 and paid_events(invoice.subscription_id) == 1


def test_a_refund_suspends_for_that_reason_records_it_and_alerts_staff(client, order, make_user):
    make_user(email="boss@example.com", staff=True)
    invoice = order()
    post(client, notification(invoice))
    set_status(invoice.order_id, "refund", amount_idr=invoice.amount_idr)
    body = notification(invoice, "refund", record=False)
    assert post(client, body).status_code == 200
    assert invoice_state(invoice.id) == "refunded"
    subscription = db.session.get(Subscription, invoice.subscription_id)
    assert subscription.state == "suspended" and subscription.suspension_reason == "refunded"
    # The simulator's status API lists no amounts: a full refund takes back the whole payment.
    assert [(r.kind, int(r.amount)) for r in db.session.scalars(select(Refund))] == [("full", 79000)]
    alert = db.session.scalar(select(Email).where(Email.template == "staff_alert"))
    assert alert.recipient == "boss@example.com" and "refunded in full" in alert.context["title"]
    assert "Rp79,000" in alert.context["message"]
    assert db.session.scalar(select(Email.template).where(Email.recipient == invoice.user.email,
                                                          Email.template == "payment_refunded"))


def test_a_partial_refund_in_the_notification_keeps_the_service(client, order, make_user):
    make_user(email="boss@example.com", staff=True)
    invoice = order()
    post(client, notification(invoice))
    set_status(invoice.order_id, "partial_refund", amount_idr=invoice.amount_idr)
    body = {**notification(invoice, "partial_refund", record=False), "refund_amount": "15000.00",
            "refunds": [{"refund_chargeback_id": 7, "refund_amount": "15000.00", "refund_key": "k-7",
                         "reason": "sorry", "created_at": "2026-11-30 10:00:00"}]}
    assert post(client, body).status_code == 200
    assert post(client, body).get_json()["result"] == "duplicate"  # the same one again
    assert invoice_state(invoice.id) == "paid"
    assert db.session.get(Subscription, invoice.subscription_id).state == "provisioning"
    assert [(r.kind, int(r.amount), r.midtrans_id, r.reason) for r in db.session.scalars(select(Refund))] == \
        [("partial", 15000, "7", "sorry")]
    alert = db.session.scalar(select(Email).where(Email.template == "staff_alert"))
    assert "Rp15,000 of Rp79,000 refunded so far" in alert.context["message"]
