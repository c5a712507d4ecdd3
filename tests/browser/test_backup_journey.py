"""A customer backs up a running WordPress, changes a setting, restores the backup and sees the old value again,
in Chromium, with a real worker and the emulated cluster's Velero on the real clock."""
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.catalog.models import Plan, Service
from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.extensions import db
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import Subscription
from tests.helpers import STRONG_PASSWORD, message_parts, wait_until

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def app_config(app_config, fast_emulated_cluster):
    return {**app_config, **fast_emulated_cluster}


def running_wordpress(make_user) -> Subscription:
    catalog_seed(templates=service_templates())
    user = make_user(email="ana@example.com")
    plan = db.session.scalar(select(Plan).join(Service).where(Service.slug == "wordpress", Plan.slug == "starter"))
    subscription = subscriptions.subscription_create(user_id=user.id, plan_id=plan.id, subdomain="ana-shop",
                                                     settings={"debug": False})
    subscriptions.subscription_paid(subscription_id=subscription.id, period_days=plan.period_days)

    def active():
        db.session.expire_all()
        return db.session.get(Subscription, subscription.id).state == "active"
    wait_until(active, timeout=30)
    return db.session.get(Subscription, subscription.id)


def test_back_up_change_a_setting_restore_and_see_the_old_value(page: Page, live_server, smtp_server, kube,
                                                                 consumer, make_user):
    ARTIFACTS.mkdir(exist_ok=True)
    subscription = running_wordpress(make_user)
    old_namespace = subscription.namespace
    page.goto(live_server + "/login")
    page.get_by_label("Email").fill("ana@example.com")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hello, Ana Putri")).to_be_visible()
    page.goto(f"{live_server}/instances/{subscription.id}")
    expect(page.get_by_test_id("health")).to_have_text("Running", timeout=20000)

    # Back up now: the list polls itself until Velero has finished.
    page.get_by_test_id("backups-link").click()
    expect(page.get_by_test_id("no-backups")).to_be_visible()
    page.get_by_test_id("back-up-now").click()
    row = page.get_by_test_id("backup-row").first
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-phase", "Completed", timeout=20000)
    expect(row).to_contain_text("on demand")

    # Change a setting after the backup.
    page.goto(f"{live_server}/instances/{subscription.id}/settings")
    debug = page.get_by_label("Show PHP errors (debug mode)")
    expect(debug).not_to_be_checked()
    debug.check()
    page.get_by_role("button", name="Save and apply").click()
    expect(page.get_by_test_id("instance-status")).to_be_visible()
    page.goto(f"{live_server}/instances/{subscription.id}/settings")
    expect(page.get_by_label("Show PHP errors (debug mode)")).to_be_checked()

    # Restore, confirmed by typing the address; the instance runs on until the restored copy is ready.
    page.goto(f"{live_server}/instances/{subscription.id}/backups")
    row = page.get_by_test_id("backup-row").first
    row.locator("summary").click()
    row.get_by_test_id("restore-confirm").fill("ana-shop")
    page.screenshot(path=str(ARTIFACTS / "backups-restore-confirm.png"), full_page=True)
    row.get_by_test_id("restore-submit").click()
    expect(page.get_by_test_id("restore-state")).to_have_attribute("data-state", "completed", timeout=30000)
    page.screenshot(path=str(ARTIFACTS / "backups-restored.png"), full_page=True)

    # The old value is back, and the instance lives in its restored namespace.
    page.goto(f"{live_server}/instances/{subscription.id}/settings")
    expect(page.get_by_label("Show PHP errors (debug mode)")).not_to_be_checked()
    db.session.expire_all()
    assert db.session.get(Subscription, subscription.id).namespace != old_namespace
    [mail] = wait_until(lambda: [m for m in smtp_server.messages if "is back as it was" in m["Subject"]])
    text, _ = message_parts(mail)
    assert "ana-shop" in text and "restored from the backup" in text
