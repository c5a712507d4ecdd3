"""A subscription's whole life with the clock moving: reminders, grace, suspension, renewal, deletion.

Checked at each step: the database, the cluster objects, and the emails that arrived over SMTP."""
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from portal.billing import tasks as billing_tasks
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.jobs.models import JobRun
from portal.provisioning.cluster import cluster_for
from portal.subscriptions import tasks as lifecycle_tasks
from portal.subscriptions.models import Subscription
from tests.fixtures.billing import notification, post, set_status
from tests.helpers import act, logged_in_client


def run_jobs():
    for job in (billing_tasks.renewals_issue, lifecycle_tasks.reminders_send, lifecycle_tasks.expiry_process,
                lifecycle_tasks.retention_process, billing_tasks.unpaid_orders_cancel):
        job.call_local()


def subjects(smtp_server) -> list[str]:
    return [m["Subject"] for m in smtp_server.messages]


def new_subjects(smtp_server, seen: list) -> list[str]:
    now = subjects(smtp_server)
    fresh = now[len(seen):]
    seen[:] = now
    return fresh


def objects(app, subscription: Subscription) -> set[str]:
    gateway = cluster_for(app.config)
    kinds = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "Ingress": "networking.k8s.io/v1",
             "PersistentVolumeClaim": "v1"}
    found = set()
    for kind, api_version in kinds.items():
        if gateway.list_objects(api_version, kind, namespace=subscription.namespace,
                                selector=f"portal/subscription={subscription.id}"):
            found.add(kind)
    return found


def pods(app, subscription: Subscription) -> int:
    return len(cluster_for(app.config).list_pods(f"portal/subscription={subscription.id}"))


def state(sid: int) -> Subscription:
    db.session.expire_all()
    return db.session.get(Subscription, sid)


def test_a_whole_life_with_the_clock(app, client, paid, kube_clock, travel, smtp_server):
    seen = []
    sid = paid("ghost", subdomain="kopi-blog")
    kube_clock.advance(30)
    instances_sweep()
    assert state(sid).state == "active"
    assert new_subjects(smtp_server, seen) == ["Your Ghost is ready"]
    end = state(sid).current_period_end
    address = "kopi-blog.localtest.me"

    travel.to(end - timedelta(days=8))
    run_jobs()
    assert new_subjects(smtp_server, seen) == []

    travel.to(end - timedelta(days=7) + timedelta(hours=1))
    run_jobs()
    assert new_subjects(smtp_server, seen) == [f"Renewal invoice for {address}", f"{address} ends in 7 days"]
    run_jobs()  # a second run, or a retried task, sends nothing twice
    assert new_subjects(smtp_server, seen) == []

    travel.to(end - timedelta(days=3) + timedelta(hours=1))
    run_jobs()
    travel.to(end - timedelta(days=1) + timedelta(hours=1))
    run_jobs()
    assert new_subjects(smtp_server, seen) == [f"{address} ends in 3 days", f"{address} ends in 1 day"]

    travel.to(end + timedelta(hours=1))
    run_jobs()
    assert new_subjects(smtp_server, seen) == [f"{address}: your period ended"]
    assert state(sid).state == "active" and pods(app, state(sid)) == 2  # still running in the grace period

    travel.to(end + timedelta(days=3, hours=1))
    run_jobs()
    subscription = state(sid)
    assert (subscription.state, subscription.suspension_reason) == ("suspended", "non_payment")
    assert new_subjects(smtp_server, seen) == [f"{address} is stopped"]
    assert pods(app, subscription) == 0 and objects(app, subscription) == {"Deployment", "StatefulSet",
                                                                           "PersistentVolumeClaim"}

    # The renewal invoice is paid late: the period restarts from now and the suspension lifts.
    from portal.billing.models import Invoice

    renewal = db.session.scalar(select(Invoice).where(Invoice.kind == "renewal"))
    paid_at = travel.now
    assert post(client, notification(renewal)).status_code == 200
    subscription = state(sid)
    assert subscription.state == "provisioning"
    assert subscription.current_period_end == paid_at + timedelta(days=30)
    kube_clock.advance(30)
    instances_sweep()
    assert state(sid).state == "active" and objects(app, state(sid)) >= {"Ingress"}
    assert new_subjects(smtp_server, seen) == [f"Payment received: {renewal.number}", "Your Ghost is ready"]

    # This time nobody pays: grace, suspension, a warning, then deletion.
    end = state(sid).current_period_end
    for moment in (end - timedelta(days=7, hours=-1), end - timedelta(days=3, hours=-1),
                   end - timedelta(days=1, hours=-1), end + timedelta(hours=1), end + timedelta(days=3, hours=1)):
        travel.to(moment)
        run_jobs()
    assert state(sid).state == "suspended"
    stopped = travel.now
    travel.to(stopped + timedelta(days=11, hours=1))
    run_jobs()
    travel.to(stopped + timedelta(days=14, hours=1))
    run_jobs()
    assert state(sid).state == "terminated"
    assert objects(app, state(sid)) == set() and pods(app, state(sid)) == 0
    tail = new_subjects(smtp_server, seen)
    # The customer reads the day in their own time zone (Jakarta by default), whatever the hour in UTC.
    delete_day = (stopped + timedelta(days=14)).astimezone(ZoneInfo("Asia/Jakarta"))
    assert tail[-2:] == [f"{address}: data deleted on {delete_day:%d %B %Y}",
                         f"{address} was deleted"]
    period = [f"Renewal invoice for {address}", f"{address} ends in 7 days", f"{address} ends in 3 days",
              f"{address} ends in 1 day", f"{address}: your period ended", f"{address} is stopped"]
    assert subjects(smtp_server) == ["Your Ghost is ready", *period, f"Payment received: {renewal.number}",
                                     "Your Ghost is ready", *period, *tail[-2:]]  # each once, in order
    runs = db.session.scalar(select(func.count(JobRun.id)).where(JobRun.outcome == "ok"))
    assert runs == 5 * 14  # five jobs, fourteen rounds, each run recorded


def test_an_unpaid_order_is_cancelled_after_a_day(app, customer_order, travel):
    invoice = customer_order()
    travel.by(hours=23)
    run_jobs()
    assert state(invoice.subscription_id).state == "pending_payment"
    travel.by(hours=2)
    run_jobs()
    assert state(invoice.subscription_id).state == "cancelled"
    from portal.billing.models import Invoice

    assert db.session.get(Invoice, invoice.id).state == "cancelled"


def test_cancel_at_period_end_stops_at_the_end_without_grace(app, paid, kube_clock, travel, smtp_server):
    sid = paid("n8n", subdomain="flows-end")
    kube_clock.advance(30)
    instances_sweep()
    from portal.subscriptions import services as subscriptions

    subscriptions.subscription_cancel_at_period_end(subscription_id=sid)
    travel.to(state(sid).current_period_end - timedelta(days=7, hours=-1))
    run_jobs()
    assert "Renewal invoice for flows-end.localtest.me" not in subjects(smtp_server)
    travel.to(state(sid).current_period_end + timedelta(minutes=30))
    run_jobs()
    assert (state(sid).state, state(sid).suspension_reason) == ("suspended", "customer")


def test_a_refunded_life_waits_for_staff(app, client, customer_order, make_user, kube_clock, travel, smtp_server):
    """Paid, part of it refunded (still running), the rest refunded (stopped, told why), then months with every job
    run: no warning, no deletion, until staff decide."""
    from portal.billing.models import Invoice

    boss = make_user(email="boss@example.com", name="Budi Staff", staff=True)
    seen = []
    invoice = customer_order()
    assert post(client, notification(invoice)).status_code == 200
    kube_clock.advance(30)
    instances_sweep()
    sid, number = invoice.subscription_id, invoice.number
    assert state(sid).state == "active"
    assert new_subjects(smtp_server, seen)[-2:] == [f"Payment received: {number}", "Your Ghost is ready"]

    def refund(status: str, entries: list[tuple[int, int]]):
        set_status(invoice.order_id, status, amount_idr=invoice.amount_idr)
        body = {**notification(invoice, status, record=False),
                "refund_amount": f"{sum(amount for _, amount in entries)}.00",
                "refunds": [{"refund_chargeback_id": refund_id, "refund_amount": f"{amount}.00"}
                            for refund_id, amount in entries]}
        assert post(client, body).status_code == 200

    travel.by(days=5)
    refund("partial_refund", [(1, 15000)])
    run_jobs()
    assert state(sid).state == "active" and pods(app, state(sid)) == 2
    assert new_subjects(smtp_server, seen) == [f"[Staff] Invoice {number}: partial refund of Rp15,000",
                                               f"Part of invoice {number} was refunded"]

    travel.by(days=2)
    refund("refund", [(1, 15000), (2, 64000)])
    subscription = state(sid)
    assert (subscription.state, subscription.suspension_reason) == ("suspended", "refunded")
    assert pods(app, subscription) == 0
    assert new_subjects(smtp_server, seen) == [f"[Staff] Invoice {number}: refunded in full",
                                               f"Invoice {number} was refunded"]
    assert db.session.get(Invoice, invoice.id).refunded_idr == 79000

    # The period ends, grace and retention pass, every job runs: nothing is warned of, nothing deleted.
    end = subscription.current_period_end
    for moment in (end - timedelta(days=7), end + timedelta(hours=1), end + timedelta(days=3, hours=1),
                   end + timedelta(days=20), end + timedelta(days=60)):
        travel.to(moment)
        run_jobs()
    assert state(sid).state == "suspended" and new_subjects(smtp_server, seen) == []
    assert objects(app, state(sid)) == {"Deployment", "StatefulSet", "PersistentVolumeClaim"}

    # Staff decide: this one ends.
    staff = logged_in_client(app, boss)
    assert act(staff, sid, "terminate", confirm="late-shop").status_code in (302, 303)
    assert state(sid).state == "terminated" and objects(app, state(sid)) == set()
