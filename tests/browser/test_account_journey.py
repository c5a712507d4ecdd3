"""A customer's first visit in Chromium: sign up, confirm the email, log in, edit the profile, log out."""
import re

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import STRONG_PASSWORD, message_parts, wait_for_email

pytestmark = pytest.mark.browser




def test_sign_up_verify_log_in_edit_profile_log_out(page: Page, live_server, smtp_server):
    page.goto(live_server + "/")
    page.get_by_role("link", name="Sign up").first.click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()

    # A weak password is refused in place (htmx swaps the 422 form) and nothing else changes.
    page.get_by_label("Full name").fill("Ana Putri")
    page.get_by_label("Email").fill("Ana.Putri@Example.com")
    page.get_by_label("Password").fill("password123")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("error-password")).to_contain_text("too weak")
    expect(page.get_by_label("Full name")).to_have_value("Ana Putri")

    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    # The same answer an address that already has an account gets: check your inbox.
    # The address as the portal writes it (lowercased).
    expect(page.get_by_test_id("signup-sent")).to_contain_text("ana.putri@example.com")

    message = wait_for_email(smtp_server, "Confirm your email address")
    text, html = message_parts(message)
    link = re.search(r"http://127\.0\.0\.1:\d+/verify/\S+", text).group(0)
    assert link in html
    page.goto(link)
    expect(page.get_by_text("ana.putri@example.com is confirmed")).to_be_visible()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    page.get_by_label("Email").fill("ana.putri@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("form-error")).to_have_text("Wrong email or password.")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_label("Keep me logged in on this device").check()
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hello, Ana Putri")).to_be_visible()
    expect(page.get_by_text("Please confirm")).to_have_count(0)

    page.get_by_test_id("nav-account").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    profile = page.locator("#profile-form")
    profile.get_by_label("Full name").fill("Ana Putri Wijaya")
    profile.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Your profile has been saved.")).to_be_visible()
    expect(page.get_by_test_id("nav-account")).to_have_text("Ana Putri Wijaya")
    expect(page.locator("#profile-form").get_by_label("Full name")).to_have_value("Ana Putri Wijaya")

    page.get_by_test_id("logout").click()
    expect(page.get_by_text("You have been logged out.")).to_be_visible()
    page.goto(live_server + "/account")  # the remember-me cookie is gone with the session
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_pages_fit_a_phone_screen(browser, live_server, tmp_path):
    """The landing and sign-up pages lay out without sideways scrolling at phone width."""
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    for path in ("/", "/signup", "/login"):
        page.goto(live_server + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
    page.goto(live_server + "/")
    expect(page.get_by_role("button", name="Menu")).to_be_visible()  # the nav folds into a menu
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="Log in")).to_be_visible()
    context.close()
