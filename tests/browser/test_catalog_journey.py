"""A visitor browses the catalog, picks a plan, logs in and fills the settings built from the template."""
import pytest
from playwright.sync_api import Page, expect

from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from tests.helpers import STRONG_PASSWORD

pytestmark = pytest.mark.browser


def test_browse_choose_a_plan_and_fill_the_settings(page: Page, live_server, make_user):
    catalog_seed(templates=service_templates())
    make_user(email="ana@example.com")
    page.goto(live_server + "/")
    page.get_by_role("navigation").get_by_role("link", name="Catalog").click()
    expect(page.get_by_test_id("catalog-card-ghost")).to_contain_text("from Rp79,000/month")
    page.get_by_test_id("catalog-card-ghost").click()
    expect(page.get_by_role("heading", name="Ghost", exact=True)).to_be_visible()
    expect(page.get_by_test_id("plan-pro")).to_contain_text("Rp149,000")
    page.get_by_test_id("plan-pro").get_by_role("link", name="Choose Pro").click()

    # Choosing needs an account; log-in brings the visitor back to the plan.
    page.get_by_label("Email").fill("ana@example.com")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Set up your Ghost")).to_be_visible()

    page.get_by_label("Address").fill("admin")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("error-subdomain")).to_contain_text("reserved")

    page.get_by_label("Address").fill("kopi-kenangan")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("review-url")).to_contain_text("https://kopi-kenangan.")
