"""A restart or settings change the customer asked for is a rollout, not an outage: the emulated cluster rolls the
pods, the real sweep watches, and only a rollout that does not settle in time alerts."""

import pytest
from sqlalchemy import func, select

from portal.accounts.services import user_by_email
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.notifications.models import Email
from portal.subscriptions.models import InstanceEvent, InstanceStatus, Subscription
from tests.helpers import csrf_token_from

pytestmark = pytest.mark.smoke
HX = {"HX-Request": "true"}


@pytest.fixture
def live(app, kube_clock, paid, client, login, make_user, travel):
    """An active n8n instance of ana@example.com (logged in), and a staff member who would be alerted."""
    make_user(email="boss@example.com", staff=True)
    sid = paid("n8n", subdomain="ana-flows")
    kube_clock.advance(30)
    instances_sweep()
    assert db.session.get(Subscription, sid).state == "active"
    login(user_by_email("ana@example.com"))
    return sid


def token(client, path="/"):
    return csrf_token_from(client.get(path).get_data(as_text=True))


def alerts() -> dict:
    """Down events and emails sent about outages, by kind."""
    return {"down_events": db.session.scalar(select(func.count(InstanceEvent.id))
                                             .where(InstanceEvent.kind == "health.degraded")),
            "customer_emails": db.session.scalar(select(func.count(Email.id))
                                                 .where(Email.template == "instance_down")),
            "staff_alerts": db.session.scalar(select(func.count(Email.id)).where(Email.template == "staff_alert"))}


NONE = {"down_events": 0, "customer_emails": 0, "staff_alerts": 0}
ONE = {"down_events": 1, "customer_emails": 1, "staff_alerts": 1}


def badge(client, sid, headers=None) -> str:
    import re

    body = client.get(f"/instances/{sid}", headers=headers or {}).get_data(as_text=True)
    return re.search(r'data-testid="health"[^>]*>([^<]*)<', body).group(1).strip()


def timeline(sid) -> list[str]:
    return list(db.session.scalars(select(InstanceEvent.message).where(InstanceEvent.subscription_id == sid)
                                   .order_by(InstanceEvent.id)))


def test_a_restart_is_shown_as_restarting_and_alerts_nobody(client, live, kube_clock, travel):
    client.post(f"/instances/{live}/restart", data={"csrf_token": token(client)}, headers=HX)
    travel.by(seconds=5)
    instances_sweep()  # the new pods are not ready yet
    status = db.session.get(InstanceStatus, live)
    assert not status.ready and status.rollout == "restart"
    assert alerts() == NONE
    changing = client.get(f"/instances/{live}", headers=HX)
    body = changing.get_data(as_text=True)
    assert changing.status_code == 200 and 'hx-trigger="every 2s"' in body  # polls until it settles
    assert badge(client, live, HX) == "Restarting" and badge(client, live) == "Restarting"
    dashboard = client.get("/", headers=HX)
    assert dashboard.status_code == 200 and 'data-testid="health-' in dashboard.get_data(as_text=True)
    assert ">Restarting<" in dashboard.get_data(as_text=True)  # the card polls too, with the same badge
    assert "Restart requested." in body  # the timeline is inside the polled block
    kube_clock.advance(30)
    travel.by(seconds=30)
    instances_sweep()
    settled = client.get(f"/instances/{live}", headers=HX)
    assert settled.status_code == 286 and badge(client, live, HX) == "Running"
    assert db.session.get(InstanceStatus, live).rollout is None
    steps = timeline(live)
    assert steps[-3:] == ["Restart requested.", "Restarting: new containers are starting.", "Running again."]
    assert "Running again." in settled.get_data(as_text=True)
    assert alerts() == NONE


def test_a_settings_change_is_shown_as_applying_settings_and_alerts_nobody(client, live, kube_clock, travel):
    path = f"/instances/{live}/settings"
    page = client.get(path).get_data(as_text=True)
    client.post(path, data={"csrf_token": csrf_token_from(page), "timezone": "Asia/Makassar",
                            "execution_retention_hours": "48"}, headers=HX)
    subscription = db.session.get(Subscription, live)
    assert subscription.state == "active"  # a running instance stays running while its settings roll out
    instances_sweep()
    assert alerts() == NONE
    assert badge(client, live, HX) == "Applying settings"
    assert client.get("/", headers=HX).status_code == 200  # the dashboard polls too
    kube_clock.advance(30)
    travel.by(seconds=30)
    instances_sweep()
    assert badge(client, live) == "Running"
    assert client.get(f"/instances/{live}", headers=HX).status_code == 286
    steps = timeline(live)
    assert steps[-3:] == ["Settings changed; applying them.", "New settings sent: new containers are starting.",
                          "Running again with your new settings."]
    assert alerts() == NONE
    assert db.session.scalar(select(func.count(Email.id)).where(Email.template == "instance_ready")) == 1


def test_a_real_outage_without_a_rollout_still_alerts(client, live, kube, kube_clock, travel):
    kube.crash_loop(db.session.get(Subscription, live).namespace, f"n8n-{live}-app")
    kube_clock.advance(60)
    instances_sweep()
    assert alerts() == ONE
    assert badge(client, live) == "Not responding"


def test_a_rollout_that_does_not_settle_in_time_is_an_outage(app, client, live, kube, kube_clock, travel):
    app.config["ROLLOUT_TIMEOUT_SECONDS"] = 300
    client.post(f"/instances/{live}/restart", data={"csrf_token": token(client)}, headers=HX)
    kube.never_ready(db.session.get(Subscription, live).namespace, f"n8n-{live}-app")
    kube_clock.advance(60)
    travel.by(seconds=60)
    instances_sweep()
    assert alerts() == NONE and badge(client, live) == "Restarting"
    kube_clock.advance(250)
    travel.by(seconds=250)
    instances_sweep()
    assert alerts() == ONE
    assert db.session.get(InstanceStatus, live).rollout is None
    assert badge(client, live) == "Not responding"
    assert "did not come back" in timeline(live)[-1]
    instances_sweep()  # still down: nothing twice
    assert alerts() == ONE


def test_settings_the_cluster_refuses_end_the_rollout_with_the_reason_and_tell_staff(client, live, kube):
    kube.fail_next(1, status=422, path_contains="/deployments/")
    path = f"/instances/{live}/settings"
    page = client.get(path).get_data(as_text=True)
    client.post(path, data={"csrf_token": csrf_token_from(page), "timezone": "Asia/Makassar",
                            "execution_retention_hours": "48"}, headers=HX)
    assert db.session.get(InstanceStatus, live).rollout is None
    assert "could not be applied" in timeline(live)[-1] and "Our team has been told" in timeline(live)[-1]
    assert badge(client, live) == "Running"  # the old pods still serve
    assert client.get(f"/instances/{live}", headers=HX).status_code == 286
    title = db.session.scalar(select(Email.context).where(Email.template == "staff_alert"))["title"]
    assert title == f"Settings change failed for subscription #{live}"
