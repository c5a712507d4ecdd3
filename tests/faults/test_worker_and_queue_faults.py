"""The worker killed mid-provisioning and the queue's Redis restarted with tasks in it: with the portal's real
processes (Huey consumers, the flask CLI), paid subscriptions still converge to active, nothing is applied
twice, nothing is orphaned, and every email arrives exactly once."""
import signal
from collections import Counter

from sqlalchemy import select

from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.extensions import db
from portal.notifications.models import Email
from portal.provisioning.cluster import INSTANCE_KINDS, cluster_for
from portal.subscriptions.models import InstanceEvent, Subscription
from tests.helpers import wait_until


def states(*subdomains: str) -> dict[str, str]:
    db.session.rollback()
    rows = db.session.execute(select(Subscription.subdomain, Subscription.state)
                              .where(Subscription.subdomain.in_(subdomains))).all()
    return dict(rows)


def objects_of(app, subscription: Subscription) -> Counter:
    """(kind, name) of every object the instance has in the cluster, counted: each must appear once."""
    gateway = cluster_for(app.config)
    found = Counter()
    for api_version, kind in INSTANCE_KINDS:
        for item in gateway.list_objects(api_version, kind, namespace=subscription.namespace,
                                         selector=f"portal/subscription={subscription.id}"):
            found[(kind, item["metadata"]["name"])] += 1
    return found


def test_a_consumer_killed_mid_provisioning_is_picked_up_after_a_restart(app, kube, make_user, consumers, flask_cli):
    catalog_seed(templates=service_templates())
    make_user(email="ana@example.com")
    # The Deployment's apply hangs: the worker is inside the cluster call when it is killed.
    kube.fail_next(1, status="timeout", method="PATCH", path_contains="/deployments/")
    first = consumers.start()
    flask_cli("order-paid", "ana@example.com", "ghost", "starter", "killed-mid-way")
    wait_until(lambda: any("/deployments/" in str(entry) for entry in kube.requests), timeout=30)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert states("killed-mid-way") == {"killed-mid-way": "provisioning"}  # stuck: its task died with the worker

    consumers.start()  # a new worker; the old one's lock on the instance lapses (PROVISION_LOCK_SECONDS=2)
    output = flask_cli("run-job", "instances_reconcile")
    assert "'resumed': 1" in output
    wait_until(lambda: states("killed-mid-way") == {"killed-mid-way": "active"}, timeout=45)

    subscription = db.session.scalar(select(Subscription).where(Subscription.subdomain == "killed-mid-way"))
    counts = objects_of(app, subscription)
    assert counts and set(counts.values()) == {1}  # every object exactly once
    assert ("Deployment", f"ghost-{subscription.id}-app") in counts
    kinds = db.session.scalars(select(InstanceEvent.kind).where(InstanceEvent.subscription_id == subscription.id))
    assert "resumed" in list(kinds)
    assert "'orphans_deleted': 0" in flask_cli("run-job", "instances_reconcile")  # nothing left behind


def test_a_redis_restart_with_tasks_queued_loses_no_provisioning_and_no_email(app, kube, make_user, private_redis,
                                                                            consumers, flask_cli, smtp_server):
    catalog_seed(templates=service_templates())
    make_user(email="ana@example.com")
    # Three purchases while no worker runs: their provisioning tasks wait in Redis...
    for subdomain in ("queued-one", "queued-two", "queued-three"):
        flask_cli("order-paid", "ana@example.com", "n8n", "starter", subdomain)
    # ...and an email that was queued with them (its send task is in Redis too).
    email = Email(idempotency_key="lost-with-the-queue", recipient="ana@example.com", template="staff_alert",
                  context={"title": "Queued before the restart", "message": "Hello"}, state="queued")
    db.session.add(email)
    db.session.commit()
    assert private_redis.process is not None
    private_redis.restart()  # no persistence: every queued task is gone

    consumers.start()
    consumers.start()  # two workers, as in a scaled-out deployment
    assert "'resumed': 3" in flask_cli("run-job", "instances_reconcile")
    flask_cli("run-job", "outbox_sweep")
    flask_cli("run-job", "outbox_sweep")  # twice: the second finds nothing left to send
    wait_until(lambda: set(states("queued-one", "queued-two", "queued-three").values()) == {"active"}, timeout=60)

    for subscription in db.session.scalars(select(Subscription).where(Subscription.user_id.is_not(None))):
        counts = objects_of(app, subscription)
        assert counts and set(counts.values()) == {1}, (subscription.subdomain, counts)
    wait_until(lambda: len(smtp_server.messages) >= 4, timeout=30)
    consumers.drain()  # a doubled send would have happened by now: nothing is queued, scheduled or running
    subjects = Counter(m["Subject"] for m in smtp_server.messages)
    assert subjects == {"Your n8n is ready": 3, "[Staff] Queued before the restart": 1}, subjects
    db.session.rollback()
    sent = db.session.scalars(select(Email.state)).all()
    assert sent.count("sent") == len(smtp_server.messages) == 4  # one message per outbox row: none doubled


def test_sigterm_lets_the_running_task_finish_and_the_next_consumer_carries_on(app, kube, make_user, consumers,
                                                                               flask_cli):
    """What a rolling deploy does to a worker: SIGTERM while it provisions. The cluster call in flight is
    answered, its outcome recorded (a retry scheduled in Redis), and the process exits cleanly."""
    import time

    catalog_seed(templates=service_templates())
    make_user(email="ana@example.com")
    kube.fail_next(1, status="timeout", method="PATCH", path_contains="/deployments/")  # answered after 8 s
    worker = consumers.start(graceful_term=True)
    flask_cli("order-paid", "ana@example.com", "n8n", "starter", "rolling-deploy")
    wait_until(lambda: any("/deployments/" in str(entry) for entry in kube.requests), timeout=30)
    stopped_at = time.monotonic()
    worker.terminate()  # SIGTERM
    assert worker.wait(timeout=30) == 0
    assert time.monotonic() - stopped_at > 3  # it waited for the call in flight instead of dying
    subscription = db.session.scalar(select(Subscription).where(Subscription.subdomain == "rolling-deploy"))
    kinds = list(db.session.scalars(select(InstanceEvent.kind).where(InstanceEvent.subscription_id == subscription.id)))
    assert "retry" in kinds  # the task finished its own way: it scheduled its retry before exiting
    consumers.start()  # the new pod's worker picks the scheduled retry up
    wait_until(lambda: states("rolling-deploy") == {"rolling-deploy": "active"}, timeout=45)
