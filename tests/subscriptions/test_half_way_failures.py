"""Giving up on a setup is one transaction: the failed state, the staff alert and the customer's email are
written together, or not at all (then the setup still shows as in progress and nothing was sent)."""
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from portal.extensions import db
from portal.notifications.models import Email
from portal.subscriptions.models import Subscription
from portal.subscriptions.services import subscription_provisioning_failed
from tests.helpers import queued_tasks, refused_inserts, tasks_held


def test_a_give_up_whose_customer_email_is_refused_leaves_the_setup_running_and_staff_untold(
        app, kube, paid, make_user):
    make_user(email="boss@example.com", staff=True)
    with tasks_held() as queue:
        sid = paid()  # provisioning is held on the queue: the subscription stays in provisioning
        with refused_inserts("emails", "NEW.template = 'provisioning_failed'"):
            pending_before = sorted(queued_tasks(queue))
            with pytest.raises(DBAPIError):
                subscription_provisioning_failed(subscription_id=sid, reason="quota exceeded")
            assert sorted(queued_tasks(queue)) == pending_before
    db.session.rollback()
    assert db.session.get(Subscription, sid).state == "provisioning"
    assert db.session.scalar(select(func.count(Email.id)).where(Email.template == "staff_alert")) == 0


def test_a_give_up_tells_staff_and_the_customer_after_its_commit(app, kube, paid, make_user):
    make_user(email="boss@example.com", staff=True)
    with tasks_held() as queue:
        sid = paid()
        subscription_provisioning_failed(subscription_id=sid, reason="quota exceeded")
        # The held setup, then the staff alert and the customer's email.
        assert [name for name, _ in sorted(queued_tasks(queue))] == ["email_send", "email_send", "provision_instance"]
    assert db.session.get(Subscription, sid).state == "provisioning_failed"
