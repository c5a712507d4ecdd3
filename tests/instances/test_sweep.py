"""What a status sweep costs: the same few reads when nothing changed however many instances there are, writes and
alerts that follow the changed instances, usage samples at their interval rather than on every sweep."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from portal.extensions import db
from portal.instances.models import ResourceSample
from portal.instances.sweep import instances_sweep
from portal.notifications.models import Email
from portal.subscriptions.models import InstanceEvent, InstanceStatus, Subscription
from tests.helpers import database_activity, queued_tasks, refused_inserts, tasks_held


def settled(kube_clock):
    kube_clock.advance(30)
    instances_sweep()
    instances_sweep()


def samples() -> int:
    return db.session.scalar(select(func.count(ResourceSample.id)))


def test_a_steady_sweep_costs_the_same_few_reads_however_many_instances(app, kube, kube_clock, paid):
    paid("n8n")
    settled(kube_clock)
    with database_activity() as one:
        assert instances_sweep().changed == 0
    for i in range(4):
        paid("ghost", email=f"user{i}@example.com")
    settled(kube_clock)
    with database_activity() as five:
        result = instances_sweep()
    assert result.instances == 5 and result.changed == 0
    assert len(five["statements"]) == len(one["statements"]) <= 3
    assert all(s.lstrip().upper().startswith("SELECT") for s in five["statements"])  # nothing written


def test_usage_is_sampled_at_the_interval_not_on_every_sweep(app, kube, kube_clock, paid, travel):
    app.config["SAMPLE_INTERVAL_SECONDS"] = 300
    sids = [paid("ghost", email=f"user{i}@example.com") for i in range(2)]
    kube_clock.advance(30)
    instances_sweep()
    assert samples() == 2  # the first samples: none yet
    instances_sweep()
    assert samples() == 2  # within the interval: no new sample
    travel.by(seconds=301)
    later = travel.now
    instances_sweep()
    assert samples() == 4
    seen = db.session.scalars(select(InstanceStatus.last_seen_at).where(InstanceStatus.subscription_id.in_(sids)))
    assert [s.replace(tzinfo=None) for s in seen] == [later.replace(tzinfo=None)] * 2  # refreshed with the samples


def test_status_rows_change_only_for_changed_instances_and_alerts_go_out_in_one_transaction(
        app, kube, kube_clock, paid, make_user):
    make_user(email="boss@example.com", staff=True)
    sids = [paid("n8n", email=f"user{i}@example.com") for i in range(3)]
    settled(kube_clock)
    down = sids[:2]
    for sid in down:
        kube.crash_loop(db.session.get(Subscription, sid).namespace, f"n8n-{sid}-app")
    kube_clock.advance(60)
    with tasks_held() as queue, database_activity() as seen:
        result = instances_sweep()
        sent = queued_tasks(queue)
    assert result.changed == 2
    assert seen["commits"] == 2  # the status rows and events, then every alert of the sweep
    assert [name for name, _ in sent] == ["email_send"] * 4  # after the commit: 2 customers, 2 staff alerts
    updates = [s for s in seen["statements"] if s.lstrip().upper().startswith("UPDATE instance_statuses".upper())]
    assert len(updates) == 1  # one executemany for the changed rows
    db.session.expire_all()
    for sid in down:
        status = db.session.get(InstanceStatus, sid)
        assert not status.ready and status.last_error == "The app keeps crashing and restarting."
    assert db.session.get(InstanceStatus, sids[2]).ready
    customer = sorted(db.session.scalars(select(Email.user_id).where(Email.template == "instance_down")))
    owners = sorted(db.session.scalars(select(Subscription.user_id).where(Subscription.id.in_(down))))
    assert customer == owners
    alerts = list(db.session.scalars(select(Email.context).where(Email.template == "staff_alert")))
    assert sorted(a["title"] for a in alerts) == sorted(
        f"Instance down: {db.session.get(Subscription, sid).subdomain} (#{sid})" for sid in down)
    link = db.session.scalar(select(Email.context).where(Email.template == "instance_down"))["link"]
    assert "/instances/" in link
    kube_clock.advance(60)
    instances_sweep()  # still down: no new alert
    assert db.session.scalar(select(func.count(Email.id)).where(Email.template == "instance_down")) == 2
    degraded = db.session.scalar(select(func.count(InstanceEvent.id)).where(InstanceEvent.kind == "health.degraded"))
    assert degraded == 2


def test_an_activation_whose_ready_email_is_refused_leaves_the_instance_provisioning(app, kube, kube_clock, paid):
    sid = paid()
    kube_clock.advance(30)
    with refused_inserts("emails", "NEW.template = 'instance_ready'"), tasks_held() as queue:
        with pytest.raises(DBAPIError):
            instances_sweep()
        assert queued_tasks(queue) == []
    assert db.session.get(Subscription, sid).state == "provisioning"
    assert db.session.scalar(select(func.count(InstanceEvent.id)).where(InstanceEvent.kind == "ready")) == 0
    instances_sweep()  # the fault is gone: the next sweep activates it, with its email
    db.session.rollback()
    assert db.session.get(Subscription, sid).state == "active"
    assert db.session.scalar(select(func.count(Email.id)).where(Email.template == "instance_ready")) == 1
