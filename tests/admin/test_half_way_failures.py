"""A staff action and its audit row are one transaction: when the audit row cannot be written, the action is
not taken and its cluster work is not enqueued."""
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from portal.admin import services as staff_actions
from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.subscriptions.models import InstanceEvent, Subscription
from tests.helpers import queued_tasks, refused_inserts, tasks_held


def test_a_suspension_whose_audit_row_is_refused_suspends_nothing_and_enqueues_nothing(app, kube, paid, staff):
    sid = paid()
    before = db.session.get(Subscription, sid).state
    with tasks_held() as queue, refused_inserts("audit_entries"):
        with pytest.raises(DBAPIError):
            staff_actions.staff_suspend(subscription_id=sid, reason="abuse report", actor_id=staff.id)
        assert sorted(queued_tasks(queue)) == []
    db.session.rollback()
    assert db.session.get(Subscription, sid).state == before
    assert db.session.scalar(select(func.count(InstanceEvent.id)).where(InstanceEvent.kind == "suspended")) == 0


def test_a_suspension_and_its_audit_row_commit_together_then_the_cluster_work_is_enqueued(app, kube, paid, staff):
    sid = paid()
    with tasks_held() as queue:
        staff_actions.staff_suspend(subscription_id=sid, reason="abuse report", actor_id=staff.id)
        assert sorted(queued_tasks(queue)) == [("suspend_instance", (sid,))]
    assert db.session.get(Subscription, sid).state == "suspended"
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.target_id == str(sid))) == \
        "subscription.suspended"
