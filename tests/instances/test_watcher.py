"""The cluster watcher in this process against the emulated cluster: it lists once, then keeps instances' status
current from watch events alone (no pod list), lists again on 410 Gone and on its resync period; the minute sweep
stands by while the watcher's Lease is fresh and takes over when it is not, and the cluster page says which."""
import datetime as dt
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.instances import tasks
from portal.instances.sweep import instances_sweep
from portal.instances.watcher import StatusWatcher
from portal.instances.watching import status_keeper
from portal.provisioning.cluster import cluster_for
from portal.provisioning.leader import LeaderElector, lease_read
from portal.subscriptions.models import InstanceStatus, Subscription
from tests.helpers import wait_until


@pytest.fixture
def app_config(cluster_config):
    return {**cluster_config, "KUBE_TIMEOUT_SECONDS": 10}


@contextmanager
def watching(app, **settings):
    """A StatusWatcher leading in a thread of this process until the block ends."""
    app.config.update(settings)
    watcher = StatusWatcher(app, cluster_for(app.config))
    stopping = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stopping,), daemon=True)
    thread.start()
    try:
        yield watcher
    finally:
        stopping.set()
        thread.join(timeout=15)
        assert not thread.is_alive()


def status(sid: int) -> InstanceStatus | None:
    db.session.rollback()  # what the watcher's thread committed
    return db.session.get(InstanceStatus, sid, populate_existing=True)


def namespace_of(sid: int) -> str:
    return db.session.scalar(select(Subscription.namespace).where(Subscription.id == sid))


def pod_lists(kube) -> int:
    return sum(1 for r in kube.requests if r.method == "GET" and r.path == "/api/v1/pods" and "watch=" not in r.query)


def test_a_pod_turning_unready_shows_from_the_watch_alone(app, kube, kube_clock, paid):
    sid = paid("n8n")
    kube_clock.advance(30)
    with watching(app) as watcher:
        wait_until(lambda: status(sid) is not None and status(sid).ready, timeout=30)
        lists = pod_lists(kube)
        assert watcher.stats["lists"] == 1
        kube.never_ready(namespace_of(sid), "")
        wait_until(lambda: not status(sid).ready, timeout=30)
        assert pod_lists(kube) == lists  # no LIST of pods: the change came by the watch
        assert any(r.path == "/api/v1/pods" and "watch=true" in r.query for r in kube.requests)
        kube.reset_faults()
        wait_until(lambda: status(sid).ready, timeout=30)
    assert watcher.stats["events"] >= 2


def test_an_instance_provisioned_while_watching_is_activated_by_its_events(app, kube, kube_clock, paid):
    with watching(app):
        sid = paid("n8n")
        kube_clock.advance(30)
        wait_until(lambda: db.session.scalar(select(Subscription.state).where(Subscription.id == sid),
                                             execution_options={"populate_existing": True}) == "active"
                   if not db.session.rollback() else False, timeout=30)
        assert status(sid).ready


def test_a_version_gone_from_the_window_makes_the_watcher_list_again(app, kube, kube_clock, paid):
    sid = paid("n8n")
    kube_clock.advance(30)
    with watching(app) as watcher:
        wait_until(lambda: status(sid) is not None and status(sid).ready, timeout=30)
        kube.watch_window = 0  # every change is compacted at once: each watch answers 410 Gone
        kube.never_ready(namespace_of(sid), "")
        wait_until(lambda: watcher.stats["gone"] >= 1 and watcher.stats["lists"] >= 2, timeout=30)
        wait_until(lambda: not status(sid).ready, timeout=30)  # what the new list showed was recorded


def test_the_resync_lists_again_and_repairs_a_row_that_drifted(app, kube, kube_clock, paid):
    sid = paid("n8n")
    kube_clock.advance(30)
    with watching(app, WATCHER_RESYNC_SECONDS=0.5) as watcher:
        wait_until(lambda: status(sid) is not None and status(sid).ready, timeout=30)
        db.session.execute(update(InstanceStatus).where(InstanceStatus.subscription_id == sid)
                           .values(ready=False, phase="Pending"))
        db.session.commit()
        wait_until(lambda: status(sid).ready and status(sid).phase == "Running", timeout=30)
        assert watcher.stats["resyncs"] >= 1 and watcher.stats["lists"] >= 2


def _hold_lease(app, identity="watcher-a") -> LeaderElector:
    config = app.config
    elector = LeaderElector(cluster_for(config), namespace=config["WATCHER_LEASE_NAMESPACE"],
                            name=config["WATCHER_LEASE_NAME"], identity=identity, lease_seconds=8,
                            renew_deadline_seconds=6, retry_seconds=2)
    elector.annotations["portal/last-event"] = "2026-11-30T10:00:00.000000Z"
    assert elector.try_acquire_or_renew()
    return elector


def test_the_minute_sweep_stands_by_while_the_watcher_leads_and_runs_when_it_is_down(app, kube, kube_clock, paid):
    sid = paid("n8n")
    kube_clock.advance(30)
    assert "minute sweep" in tasks.status_sweep_or_stand_by()["in_charge"]  # no watcher has ever run
    assert status(sid).ready
    elector = _hold_lease(app)
    lists = pod_lists(kube)
    outcome = tasks.status_sweep_or_stand_by()
    assert outcome["in_charge"] == "watcher (leader watcher-a, last event 2026-11-30 10:00:00 UTC)"
    assert pod_lists(kube) == lists  # the full LIST was skipped
    elector.release()  # the watcher stopped (or its lease ran out): the sweep is in charge again
    kube.never_ready(namespace_of(sid), "")
    outcome = tasks.status_sweep_or_stand_by()
    assert outcome["in_charge"].startswith("minute sweep (watcher down since ")
    assert pod_lists(kube) == lists + 1 and outcome["changed"] == 1 and not status(sid).ready


def test_the_watch_chain_stands_by_while_the_watcher_leads(app, kube, kube_clock, paid):
    _hold_lease(app)
    assert tasks.instances_watch.call_local(1) == "watcher"


def test_the_cluster_page_says_who_keeps_the_status(app, kube, client, login, make_user):
    login(make_user(email="boss@example.com", staff=True))
    page = client.get("/admin/cluster").get_data(as_text=True)
    assert "minute sweep (watcher down: it has never run)" in page
    _hold_lease(app, identity="watcher-<b>")
    page = client.get("/admin/cluster").get_data(as_text=True)
    assert "watcher (leader watcher-&lt;b&gt;, last event 2026-11-30 10:00:00 UTC)" in page


def test_a_second_candidate_waits_a_lease_duration_then_takes_over(app, kube):
    ticks = {"now": 100.0}
    config = app.config

    def candidate(identity):
        return LeaderElector(cluster_for(config), namespace=config["WATCHER_LEASE_NAMESPACE"],
                             name=config["WATCHER_LEASE_NAME"], identity=identity, lease_seconds=8,
                             renew_deadline_seconds=6, retry_seconds=2, clock=lambda: ticks["now"])

    first, second = candidate("a"), candidate("b")
    assert first.try_acquire_or_renew()
    assert not second.try_acquire_or_renew()
    ticks["now"] += 5
    assert first.try_acquire_or_renew() and not second.try_acquire_or_renew()  # renewed: b's wait starts over
    ticks["now"] += 7.9
    assert not second.try_acquire_or_renew()
    ticks["now"] += 0.2  # a lease duration without a renewal seen by b
    assert second.try_acquire_or_renew()
    record = lease_read(cluster_for(config), namespace=config["WATCHER_LEASE_NAMESPACE"],
                        name=config["WATCHER_LEASE_NAME"])
    assert record.holder == "b" and record.transitions == 1 and record.duration_seconds == 8
    assert not first.try_acquire_or_renew()  # the old leader sees b's fresh renewal and stands by
    assert status_keeper(config).leader == "b"
    assert record.fresh(dt.datetime.now(dt.UTC))


def test_the_sweep_is_one_use_case_for_both_paths(app, kube, kube_clock, paid):
    """The sweep's own result is unchanged by the refactor: the watcher and the sweep record the same way."""
    sid = paid("n8n")
    kube_clock.advance(30)
    result = instances_sweep()
    assert result.instances == 1 and status(sid).ready
