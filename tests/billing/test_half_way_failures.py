"""Billing's composed use cases are one transaction each: a failure between their steps writes nothing and
enqueues nothing (the fault is the database refusing one row of a later step)."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from portal.billing import inbox, services
from portal.billing.models import Invoice, PaymentAttempt, PaymentNotification, Refund
from portal.extensions import db
from portal.notifications.models import Email
from portal.subscriptions.models import InstanceEvent, Subscription
from portal.timestamps import utcnow
from tests.fixtures.billing import notification, plan_of, post, set_status, stored
from tests.helpers import queued_tasks, refused_inserts, tasks_held


def count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.mark.smoke
def test_checkout_failing_at_its_payment_attempt_leaves_no_order_invoice_or_email(customer):
    with tasks_held() as queue, refused_inserts("payment_attempts"):
        with pytest.raises(DBAPIError):
            services.checkout_start(user_id=customer.id, plan_id=plan_of("ghost").id, subdomain="kopi", settings={})
        assert sorted(queued_tasks(queue)) == []
    assert (count(Subscription), count(Invoice), count(Email), count(InstanceEvent)) == (0, 0, 0, 0)


def test_checkout_that_goes_through_enqueues_its_email_after_the_commit(customer):
    with tasks_held() as queue:
        invoice = services.checkout_start(user_id=customer.id, plan_id=plan_of("ghost").id, subdomain="kopi",
                                          settings={})
        email_id = db.session.scalar(select(Email.id).where(Email.template == "order_received"))
        assert sorted(queued_tasks(queue)) == [("email_send", (email_id,))]
    assert count(PaymentAttempt, PaymentAttempt.invoice_id == invoice.id) == 1


@pytest.mark.smoke
def test_a_payment_failing_as_its_subscription_moves_leaves_the_invoice_pending_and_sends_nothing(order):
    invoice = order()
    notification_id = stored(notification(invoice))
    with tasks_held() as queue, refused_inserts("instance_events", "NEW.kind = 'paid'"):
        with pytest.raises(DBAPIError):
            inbox.notification_apply(notification_id=notification_id)
        assert sorted(queued_tasks(queue)) == []
    assert db.session.get(Invoice, invoice.id).state == "pending"
    assert db.session.get(Subscription, invoice.subscription_id).state == "pending_payment"
    assert count(Email, Email.template == "payment_receipt") == 0
    # Still in the inbox, not applied: the sweep tries it again.
    assert count(PaymentNotification, PaymentNotification.applied_at.is_(None)) == 1
    assert str(inbox.notification_apply(notification_id=notification_id)) == "pending -> paid"


def _suspended_with_renewal(order, client) -> Invoice:
    invoice = order()
    post(client, notification(invoice))
    subscription = db.session.get(Subscription, invoice.subscription_id)
    subscription.current_period_end = utcnow() - timedelta(days=5)
    subscription.state, subscription.suspension_reason = "suspended", "non_payment"
    db.session.commit()
    renewal = services.invoice_issue_renewal(subscription_id=subscription.id)
    services.payment_attempt_start(invoice_id=renewal.id)
    db.session.refresh(renewal)
    return renewal


def test_a_paid_renewal_whose_resume_fails_leaves_no_paid_renewal_on_a_suspended_instance(order, client):
    renewal = _suspended_with_renewal(order, client)
    end = db.session.get(Subscription, renewal.subscription_id).current_period_end
    body = notification(renewal)
    # The renewal's own step (period, "renewed" event) passes; the resume's "provisioning" event is refused.
    notification_id = stored(body)
    with tasks_held() as queue, refused_inserts("instance_events", "NEW.kind = 'provisioning'"):
        with pytest.raises(DBAPIError):
            inbox.notification_apply(notification_id=notification_id)
        assert sorted(queued_tasks(queue)) == []
    subscription = db.session.get(Subscription, renewal.subscription_id)
    assert subscription.state == "suspended" and subscription.current_period_end == end
    assert db.session.get(Invoice, renewal.id).state == "pending"
    assert count(InstanceEvent, InstanceEvent.kind == "renewed") == 0


def test_a_paid_renewal_resumes_in_the_same_transaction_and_enqueues_provisioning_after_it(order, client):
    renewal = _suspended_with_renewal(order, client)
    notification_id = stored(notification(renewal))
    with tasks_held() as queue:
        assert inbox.notification_apply(notification_id=notification_id) == "pending -> paid"
        names = [name for name, _ in sorted(queued_tasks(queue))]
    assert sorted(names) == ["email_send", "provision_instance"]
    assert db.session.get(Subscription, renewal.subscription_id).state == "provisioning"


@pytest.mark.smoke
def test_a_full_refund_failing_as_its_subscription_stops_records_no_refund_and_sends_nothing(order, client):
    invoice = order()
    post(client, notification(invoice))
    set_status(invoice.order_id, "refund", amount_idr=invoice.amount_idr)
    notification_id = stored(notification(invoice, "refund", record=False))
    with tasks_held() as queue, refused_inserts("instance_events", "NEW.kind = 'suspended'"):
        with pytest.raises(DBAPIError):
            inbox.notification_apply(notification_id=notification_id)
        assert sorted(queued_tasks(queue)) == []
    assert db.session.get(Invoice, invoice.id).state == "paid"
    assert db.session.get(Subscription, invoice.subscription_id).state == "provisioning"
    assert (count(Refund), count(Email, Email.template == "payment_refunded")) == (0, 0)
    assert db.session.get(PaymentNotification, notification_id).applied_at is None  # the sweep tries it again
    inbox.notification_apply(notification_id=notification_id)  # now it goes through
    assert (count(Refund), count(Email, Email.template == "payment_refunded")) == (1, 1)
    assert db.session.get(Subscription, invoice.subscription_id).suspension_reason == "refunded"
