"""A staff member's round in Chromium: overview, find a customer, suspend their instance with a reason,
the customer sees it, resume, and the audit log has both. Screenshots go to test-artifacts/."""
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from portal.catalog.models import Plan, Service
from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import Subscription
from tests.helpers import STRONG_PASSWORD, guard_against_policy_violations

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def app_config(smtp_server, live_port, kube):
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False,
            "FRONTEND_URL": f"http://127.0.0.1:{live_port}", "KUBE_MODE": "emulated", "KUBE_EMULATOR_URL": kube.url}


def log_in(page: Page, live_server: str, email: str) -> None:
    page.goto(live_server + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hello,", exact=False)).to_be_visible()


def active_subscription(customer_id: int, subdomain: str) -> int:
    """A paid Ghost subscription, provisioned on the emulated cluster and swept until it is active."""
    plan = db.session.scalar(select(Plan).join(Service).where(Service.slug == "ghost", Plan.slug == "starter"))
    subscription = subscriptions.subscription_create(user_id=customer_id, plan_id=plan.id, subdomain=subdomain,
                                                     settings={})
    subscriptions.subscription_paid(subscription_id=subscription.id, period_days=plan.period_days)
    deadline = time.monotonic() + 20
    while db.session.get(Subscription, subscription.id).state != "active" and time.monotonic() < deadline:
        time.sleep(0.3)
        instances_sweep()
        db.session.expire_all()
    assert db.session.get(Subscription, subscription.id).state == "active"
    return subscription.id


def test_staff_suspend_and_resume_a_customer_instance(browser: Browser, live_server, make_user, kube):
    ARTIFACTS.mkdir(exist_ok=True)
    catalog_seed(templates=service_templates())
    make_user(email="boss@portal.example", name="Boss", staff=True)
    customer = make_user(email="siti@kopi.id", name="Siti Rahma")
    sid = active_subscription(customer.id, "kopi-blog")

    staff = browser.new_context().new_page()
    violations = guard_against_policy_violations(staff)
    log_in(staff, live_server, "boss@portal.example")
    staff.goto(live_server + "/admin/")
    expect(staff.get_by_role("heading", name="Overview")).to_be_visible()
    expect(staff.get_by_test_id("active")).to_have_text("1")
    expect(staff.get_by_test_id("banner-emulated-cluster")).to_be_visible()
    expect(staff.get_by_test_id("banner-simulated-payments")).to_be_visible()
    staff.screenshot(path=str(ARTIFACTS / "admin-overview.png"), full_page=True)

    # Find the customer by name, open their subscription.
    staff.get_by_role("link", name="Users").click()
    staff.get_by_label("Search users").fill("rahma")
    staff.get_by_role("link", name="siti@kopi.id").click()
    staff.get_by_role("link", name=f"#{sid} kopi-blog").click()
    expect(staff.get_by_test_id("admin-state")).to_have_text("active")
    expect(staff.get_by_test_id("cluster-objects")).to_contain_text("Deployment")

    # Suspend with a reason.
    staff.get_by_label("Reason for suspending").fill("Phishing report #4411")
    staff.get_by_role("button", name="Suspend").click()
    expect(staff.get_by_test_id("admin-state")).to_have_text("suspended")

    # The customer sees it on their dashboard, with the reason and no way around it.
    customer_page = browser.new_context().new_page()
    violations += guard_against_policy_violations(customer_page)
    log_in(customer_page, live_server, "siti@kopi.id")
    expect(customer_page.get_by_test_id(f"health-{sid}")).to_have_text("Suspended")
    expect(customer_page.get_by_test_id(f"suspension-{sid}")).to_contain_text("Phishing report #4411")
    expect(customer_page.get_by_test_id(f"card-{sid}").get_by_role("button", name="Renew now")).to_have_count(0)
    customer_page.screenshot(path=str(ARTIFACTS / "customer-suspended-by-staff.png"), full_page=True)

    # Resume; the instance comes back.
    staff.get_by_role("button", name="Resume").click()
    expect(staff.get_by_test_id("admin-state")).not_to_have_text("suspended")
    deadline = time.monotonic() + 20
    while db.session.get(Subscription, sid).state != "active" and time.monotonic() < deadline:
        time.sleep(0.3)
        instances_sweep()
        db.session.expire_all()
    customer_page.reload()
    expect(customer_page.get_by_test_id(f"health-{sid}")).to_have_text("Running")

    # The audit log shows both, by whom.
    staff.get_by_role("link", name="Audit log").click()
    audit = staff.get_by_test_id("audit")
    expect(audit.get_by_role("row").filter(has_text="subscription.suspended")).to_contain_text("Phishing report #4411")
    expect(audit.get_by_role("row").filter(has_text="subscription.resumed")).to_contain_text("boss@portal.example")
    staff.screenshot(path=str(ARTIFACTS / "admin-audit.png"), full_page=True)
    assert violations == []  # the pages work under the real Content-Security-Policy
