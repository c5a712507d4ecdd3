"""Each staff action called as a service: it does its work through the shared services and leaves an audit entry."""
import time

import pytest
from sqlalchemy import select

from portal.accounts import services as accounts
from portal.accounts.models import User
from portal.admin import services as staff_actions
from portal.audit.models import AuditEntry
from portal.extensions import db
from portal.instances.services import InstanceNotRunning, instance_restart_request
from portal.instances.sweep import instances_sweep
from portal.jobs.models import TaskFailure
from portal.notifications.models import Email
from portal.provisioning.cluster import cluster_for
from portal.subscriptions.models import InstanceStatus, Subscription
from portal.subscriptions.services import IllegalTransition
from tests.admin.test_admin_pages import exploding_task


def audit_actions(target_type: str) -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == target_type)
                                   .order_by(AuditEntry.id)))


def test_retry_provisioning_after_a_rejected_manifest(app, kube, paid, staff):
    kube.fail_next(1, status=422, path_contains="/deployments/")
    sid = paid("n8n", subdomain="retry-me")
    assert db.session.get(Subscription, sid).state == "provisioning_failed"
    staff_actions.staff_retry(subscription_id=sid, actor_id=staff.id)
    db.session.expire_all()
    assert db.session.get(Subscription, sid).state == "provisioning"
    gateway = cluster_for(app.config)
    assert gateway.list_objects("apps/v1", "Deployment", selector=f"portal/subscription={sid}")
    assert audit_actions("subscription") == ["subscription.provisioning_retried"]
    with pytest.raises(staff_actions.StaffActionRefused):
        staff_actions.staff_retry(subscription_id=sid, actor_id=staff.id)  # only a failed setup is retried


def test_restart_replaces_the_pods_and_is_audited(app, kube, kube_clock, paid, staff):
    sid = paid("n8n", subdomain="restart-me")
    kube_clock.advance(30)
    instances_sweep()
    gateway = cluster_for(app.config)
    before = {p["metadata"]["uid"] for p in gateway.list_pods(f"portal/subscription={sid}")}
    staff_actions.staff_restart(subscription_id=sid, actor_id=staff.id, ip="10.0.0.9")
    kube_clock.advance(30)
    after = {p["metadata"]["uid"] for p in gateway.list_pods(f"portal/subscription={sid}")}
    assert before and after and not before & after
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "subscription.restarted"))
    assert (entry.actor_id, entry.ip, entry.target_id) == (staff.id, "10.0.0.9", str(sid))


def test_suspend_needs_a_reason_and_resume_only_a_suspended(app, kube, kube_clock, paid, staff):
    sid = paid("ghost", subdomain="suspend-me")
    kube_clock.advance(30)
    instances_sweep()
    with pytest.raises(staff_actions.StaffActionRefused):
        staff_actions.staff_suspend(subscription_id=sid, reason="  ", actor_id=staff.id)
    with pytest.raises(IllegalTransition):
        staff_actions.staff_resume(subscription_id=sid, actor_id=staff.id)
    staff_actions.staff_suspend(subscription_id=sid, reason="Chargeback", actor_id=staff.id)
    subscription = db.session.get(Subscription, sid)
    assert (subscription.state, subscription.suspension_reason, subscription.state_note) == ("suspended", "staff",
                                                                                            "Chargeback")
    staff_actions.staff_resume(subscription_id=sid, actor_id=staff.id)
    assert audit_actions("subscription") == ["subscription.suspended", "subscription.resumed"]


def test_extend_is_bounded_and_refused_for_an_ended_subscription(app, kube, paid, staff):
    sid = paid("n8n", subdomain="extend-me")
    for days in (0, 367):
        with pytest.raises(staff_actions.StaffActionRefused):
            staff_actions.staff_extend(subscription_id=sid, days=days, reason="x", actor_id=staff.id)
    with pytest.raises(staff_actions.StaffActionRefused):
        staff_actions.staff_extend(subscription_id=sid, days=5, reason="", actor_id=staff.id)
    staff_actions.staff_terminate(subscription_id=sid, confirmation="extend-me", actor_id=staff.id)
    with pytest.raises(staff_actions.StaffActionRefused):
        staff_actions.staff_extend(subscription_id=sid, days=5, reason="late goodwill", actor_id=staff.id)
    assert audit_actions("subscription") == ["subscription.terminated"]


def test_user_actions_grant_revoke_staff_and_resend_verification(app, make_user, staff):
    newcomer = make_user(email="new@example.com", verified=False)
    accounts.user_set_staff(user_id=newcomer.id, staff=True, actor_id=staff.id)
    assert db.session.get(User, newcomer.id).is_staff
    accounts.user_set_staff(user_id=newcomer.id, staff=False, actor_id=staff.id)
    with pytest.raises(accounts.AccountError):
        accounts.user_set_staff(user_id=staff.id, staff=False, actor_id=staff.id)
    accounts.email_verification_resend(user_id=newcomer.id, actor_id=staff.id)
    assert db.session.scalar(select(Email).where(Email.recipient == "new@example.com"))
    assert audit_actions("user") == ["user.staff_granted", "user.staff_revoked", "user.verification_resent"]


def test_a_task_failing_in_a_real_consumer_is_recorded_for_the_jobs_page(app, consumer):
    exploding_task("in the consumer")
    deadline = time.monotonic() + 10
    while db.session.scalar(select(TaskFailure)) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    failure = db.session.scalar(select(TaskFailure))
    assert failure is not None and "boom for in the consumer" in failure.error
    assert "'in the consumer'" in failure.arguments


def test_restart_is_refused_by_the_service_unless_the_instance_runs(app, kube, kube_clock, paid, staff):
    sid = paid("n8n", subdomain="restart-not")
    staff_actions.staff_suspend(subscription_id=sid, reason="Chargeback", actor_id=staff.id)
    with pytest.raises(staff_actions.StaffActionRefused, match="Only a running instance can be restarted"):
        staff_actions.staff_restart(subscription_id=sid, actor_id=staff.id)
    with pytest.raises(InstanceNotRunning):
        instance_restart_request(subscription_id=sid)  # the customer's path refuses it too, whoever calls
    db.session.expire_all()
    assert audit_actions("subscription") == ["subscription.suspended"]
    assert db.session.get(InstanceStatus, sid) is None or db.session.get(InstanceStatus, sid).rollout is None
