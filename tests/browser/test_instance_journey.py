"""A customer's whole first day in Chromium: sign up to a running n8n, its logs, restart, settings, cancel;
and an instance that crash-loops, explained on its page. Screenshots go to test-artifacts/."""
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.notifications.models import Email
from portal.subscriptions.models import Subscription
from tests.helpers import STRONG_PASSWORD, message_parts, wait_for_email

pytestmark = pytest.mark.browser
# Not test-results/: pytest-playwright empties that folder at the start of every run.
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"



@pytest.fixture
def app_config(app_config, fast_emulated_cluster):
    return {**app_config, **fast_emulated_cluster}






def sign_up_and_verify(page: Page, live_server: str, smtp_server, email: str) -> None:
    page.goto(live_server + "/signup")
    page.get_by_label("Full name").fill("Ana Putri")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("signup-sent")).to_be_visible()  # the same answer as for a taken address
    text, _ = message_parts(wait_for_email(smtp_server, "Confirm your email address"))
    page.goto(re.search(r"http://127\.0\.0\.1:\d+/verify/\S+", text).group(0))
    expect(page.get_by_text("is confirmed")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hello, Ana Putri")).to_be_visible()


def buy(page: Page, live_server: str, app_name: str, plan: str, subdomain: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Catalog").click()
    page.get_by_test_id(f"catalog-card-{app_name}").click()
    page.get_by_test_id(f"plan-{plan}").get_by_role("link").click()
    page.get_by_label("Address").fill(subdomain)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name=re.compile(r"^Pay Rp")).click()
    page.get_by_test_id("simulate-settlement").click()
    expect(page.get_by_test_id("payment-status")).to_contain_text("Paid", timeout=15000)


def test_from_sign_up_to_a_running_n8n_and_back(page: Page, live_server, smtp_server, kube, consumer):
    ARTIFACTS.mkdir(exist_ok=True)
    catalog_seed(templates=service_templates())
    sign_up_and_verify(page, live_server, smtp_server, "ana@example.com")
    buy(page, live_server, "n8n", "starter", "ana-flows")

    page.get_by_role("link", name="Go to your instance").click()
    expect(page.get_by_test_id("health")).to_have_text("Running", timeout=20000)  # the status block polls itself
    expect(page.get_by_test_id("timeline")).to_contain_text("Your instance is ready.")
    page.goto(live_server + "/")
    card = page.locator("[data-testid^=card-]").first
    expect(card.locator("[data-testid^=health-]")).to_have_text("Running")
    card.get_by_role("link", name="Details").click()
    page.screenshot(path=str(ARTIFACTS / "instance-page.png"), full_page=True)

    page.get_by_role("link", name="Logs").click()
    lines = page.get_by_test_id("log-lines").locator(".log-line")
    expect(lines.first).to_be_visible()
    before = lines.count()
    expect(lines).not_to_have_count(before, timeout=10000)  # follow mode appends new lines
    page.screenshot(path=str(ARTIFACTS / "log-viewer.png"), full_page=True)
    page.get_by_label("Search").fill("executed")
    expect(page.locator("#log-lines mark").first).to_be_visible()
    page.get_by_test_id("follow").uncheck()

    page.goto(live_server + "/")
    page.get_by_role("link", name="Details").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Restart").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("Restart requested.", timeout=10000)
    expect(page.get_by_test_id("timeline")).to_contain_text("Running again.", timeout=20000)  # polled until settled
    expect(page.get_by_test_id("health")).to_have_text("Running")

    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Keep execution history for (hours)").fill("48")
    page.get_by_role("button", name="Save and apply").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    expect(page.get_by_test_id("timeline")).to_contain_text("Settings changed; applying them.")
    expect(page.get_by_test_id("timeline")).to_contain_text("Running again with your new settings.", timeout=20000)
    expect(page.get_by_test_id("health")).to_have_text("Running")
    db.session.expire_all()
    alerted = db.session.scalar(select(func.count(Email.id))
                                .where(Email.template.in_(("instance_down", "staff_alert"))))
    assert alerted == 0  # the restart and the settings change were rollouts, not outages

    page.get_by_label("Type the address to confirm").fill("ana-flows")
    page.get_by_role("button", name="Cancel now").click()
    expect(page.get_by_text("Its data is kept for")).to_be_visible()
    expect(page.get_by_test_id("health")).to_have_text("Cancelled")
    expect(page.get_by_text("Cancelled by you")).to_be_visible()


def test_a_crash_looping_wordpress_is_explained(page: Page, live_server, smtp_server, kube, consumer):
    catalog_seed(templates=service_templates())
    sign_up_and_verify(page, live_server, smtp_server, "budi@example.com")
    buy(page, live_server, "wordpress", "starter", "toko-budi")
    page.get_by_role("link", name="Go to your instance").click()
    expect(page.get_by_test_id("health")).to_have_text("Running", timeout=20000)
    page.goto(live_server + "/")
    card = page.locator("[data-testid^=card-]").first
    subscription = db.session.query(Subscription).filter_by(subdomain="toko-budi").one()
    kube.crash_loop(subscription.namespace, f"wordpress-{subscription.id}-app")
    kube.advance(30)
    instances_sweep()  # the minute's sweep, run now
    page.reload()
    card.get_by_role("link", name="View problem").click()
    expect(page.get_by_test_id("problem-app")).to_have_text("The app keeps crashing and restarting.")
    expect(page.get_by_test_id("health")).to_have_text("Not responding")
