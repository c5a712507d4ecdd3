"""One plain status per instance, parts that match it, actions decided by the state machine: the selectors
directly, and the instance page and dashboard through the client, whole and as the htmx block."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.accounts.services import user_by_email
from portal.billing.models import Invoice
from portal.extensions import db
from portal.instances.selectors import instance_badge
from portal.instances.sweep import instances_sweep
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import InstanceStatus, Subscription
from portal.subscriptions.states import allowed_actions
from portal.timestamps import utcnow
from tests.helpers import csrf_token_from

pytestmark = pytest.mark.smoke
HX = {"HX-Request": "true"}
UP = {"app": {"phase": "Running", "ready": True}, "db": {"phase": "Running", "ready": True}}
HALF = {"app": {"phase": "Running", "ready": False}, "db": {"phase": "Running", "ready": True}}


@pytest.mark.parametrize("state, reason, status, label, tone", [
    ("pending_payment", None, None, "Awaiting payment", "secondary"),
    ("provisioning", None, InstanceStatus(ready=False, components={}), "Setting up", "info"),
    ("provisioning", None, InstanceStatus(ready=True, components=UP), "Setting up", "info"),
    ("provisioning_failed", None, None, "Setup failed", "danger"),
    ("active", None, None, "Starting", "info"),
    ("active", None, InstanceStatus(ready=True, components=UP), "Running", "success"),
    ("active", None, InstanceStatus(ready=False, components=HALF, rollout="restart"), "Restarting", "info"),
    ("active", None, InstanceStatus(ready=False, components={}, rollout="settings"), "Applying settings", "info"),
    ("active", None, InstanceStatus(ready=False, components=HALF), "Not responding", "warning"),
    ("active", None, InstanceStatus(ready=False, components={}), "Not responding", "danger"),
    ("suspended", "non_payment", InstanceStatus(ready=True, components=UP), "Suspended", "warning"),
    ("suspended", "staff", InstanceStatus(ready=True, components=UP, rollout="restart"), "Suspended", "warning"),
    ("suspended", "customer", InstanceStatus(ready=True, components=UP), "Cancelled", "secondary"),
    ("terminated", None, None, "Deleted", "secondary"),
])
def test_one_badge_from_state_status_and_rollout(state, reason, status, label, tone):
    badge = instance_badge(Subscription(state=state, suspension_reason=reason), status)
    assert (badge.label, badge.tone) == (label, tone)


def test_renew_is_offered_only_when_due_or_suspended_for_non_payment(app):
    now = utcnow()
    active = Subscription(state="active", cancel_at_period_end=False, current_period_end=now + timedelta(days=20))
    assert not allowed_actions(active, ready=True, now=now).renew
    active.current_period_end = now + timedelta(days=app.config["RENEWAL_NOTICE_DAYS"] - 1)
    assert allowed_actions(active, ready=True, now=now).renew
    active.cancel_at_period_end = True  # ending by choice: no renewal
    assert not allowed_actions(active, ready=True, now=now).renew
    for reason, renew in (("non_payment", True), ("staff", False), ("customer", False)):
        suspended = Subscription(state="suspended", suspension_reason=reason, cancel_at_period_end=False,
                                 current_period_end=now - timedelta(days=5))
        assert allowed_actions(suspended, now=now).renew is renew
    starting = allowed_actions(Subscription(state="active", cancel_at_period_end=False), ready=False,
                               rolling_out=True)
    assert starting.restart and not starting.open and not starting.view_problem


@pytest.fixture
def ana(app, login):
    def log_in():
        login(user_by_email("ana@example.com"))
    return log_in


def badges(body: str) -> list[str]:
    return [b.strip() for b in re.findall(r'data-testid="health(?:-\d+)?"[^>]*>([^<]*)<', body)]


def test_setting_up_is_one_badge_and_an_empty_usage_chart_is_one_line(client, paid, ana):
    sid = paid("ghost", subdomain="blog-ana")
    ana()
    for headers in ({}, HX):
        body = client.get(f"/instances/{sid}", headers=headers).get_data(as_text=True)
        assert badges(body) == ["Setting up"]
        assert ">provisioning<" not in body and "Starting" not in body
        assert 'data-testid="timeline"' in body and "Payment received" in body  # the timeline polls with it
        assert re.search(r"\d\d:\d\d WIB", body)  # times in the customer's zone, named
    page = client.get(f"/instances/{sid}").get_data(as_text=True)
    assert "No usage yet: the first sample comes within a few minutes." in page and "<svg" not in page
    assert badges(client.get("/").get_data(as_text=True)) == ["Setting up"]


def test_a_cancelled_instance_says_so_with_its_deletion_date_and_its_parts_stopped(app, client, paid, ana,
                                                                                      kube_clock):
    sid = paid("n8n", subdomain="ana-flows")
    kube_clock.advance(30)
    instances_sweep()
    ana()
    page = client.get(f"/instances/{sid}").get_data(as_text=True)
    client.post(f"/instances/{sid}/cancel", data={"csrf_token": csrf_token_from(page), "mode": "now",
                                                    "confirm": "ana-flows"})
    subscription = db.session.get(Subscription, sid)
    assert subscription.state == "suspended"
    delete_day = (subscription.state_changed_at + timedelta(days=app.config["RETENTION_DAYS"]))
    from portal.rendering import format_local_date

    for headers in ({}, HX):
        body = client.get(f"/instances/{sid}", headers=headers).get_data(as_text=True)
        assert badges(body) == ["Cancelled"] and ">suspended<" not in body
        assert "Cancelled by you" in body and format_local_date(delete_day) in body
        for part in ("app", "db"):
            component = re.search(rf'data-testid="component-{part}".*?</div>', body, re.S).group(0)
            assert "stopped" in component and ">ready<" not in component
    dashboard = client.get("/").get_data(as_text=True)
    assert badges(dashboard) == ["Cancelled"] and "Cancelled by you" in dashboard
    assert "Renew now" not in dashboard
    assert not re.search(r"<a [^>]*>\s*Open\s*</a>", dashboard)  # no Open button (the emulated note may say "Open")


def test_a_staff_suspension_reads_suspended_and_non_payment_offers_renewal(client, paid, ana, kube_clock):
    staff = paid("n8n", subdomain="ana-flows")
    unpaid = paid("ghost", subdomain="ana-blog")
    kube_clock.advance(30)
    instances_sweep()
    subscriptions.subscription_suspend(subscription_id=staff, reason="staff", note="Abuse report.")
    subscriptions.subscription_suspend(subscription_id=unpaid, reason="non_payment")
    ana()
    staff_page = client.get(f"/instances/{staff}").get_data(as_text=True)
    assert badges(staff_page) == ["Suspended"] and "Renew now" not in staff_page
    unpaid_page = client.get(f"/instances/{unpaid}").get_data(as_text=True)
    assert badges(unpaid_page) == ["Suspended"] and "Renew now" in unpaid_page
    assert "Renew now" in client.get("/").get_data(as_text=True)


def test_go_to_your_instance_opens_the_instance_page(client, paid, ana):
    from portal.billing import services as billing
    from tests.fixtures.billing import notification, plan_of, post

    paid("n8n", subdomain="first-one")  # a catalog and a customer
    ana()
    user = user_by_email("ana@example.com")
    invoice = billing.checkout_start(user_id=user.id, plan_id=plan_of("ghost").id, subdomain="kopi-blog", settings={})
    post(client, notification(invoice))
    invoice = db.session.scalar(select(Invoice).where(Invoice.id == invoice.id))
    for headers in ({}, HX):
        body = client.get(f"/billing/invoices/{invoice.id}", headers=headers).get_data(as_text=True)
        link = re.search(r'href="([^"]+)">Go to your instance<', body).group(1)
        assert link == f"/instances/{invoice.subscription_id}"
        assert re.search(r"Received \d\d \w+ \d{4} \d\d:\d\d WIB", body)  # in the customer's zone, named
    assert client.get(link).status_code == 200
