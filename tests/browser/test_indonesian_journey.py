"""A customer whose browser asks for Indonesian, in Chromium: sign up, confirm, log in, buy n8n through the
payment simulator, the instance page and its logs, all read in Bahasa Indonesia. With SCREENSHOTS=1 the instance
page is saved in Indonesian and in English under test-artifacts/."""
import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from tests.helpers import STRONG_PASSWORD, message_parts

pytestmark = pytest.mark.browser
# Not test-results/: pytest-playwright empties that folder at the start of every run.
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
VERIFY_LINK = re.compile(r"http://127\.0\.0\.1:\d+/verify/\S+")


@pytest.fixture
def app_config(smtp_server, live_port, kube):
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False,
            "FRONTEND_URL": f"http://127.0.0.1:{live_port}", "KUBE_MODE": "emulated", "KUBE_EMULATOR_URL": kube.url,
            "WATCH_INTERVAL_SECONDS": 0.3, "PROVISION_RETRY_BASE_SECONDS": 0.3}


@pytest.fixture
def browser_context_args(browser_context_args):
    # The browser sends Accept-Language: id-ID, as a customer's browser in Indonesia does.
    return {**browser_context_args, "locale": "id-ID"}


def confirmation_email(smtp_server, to: str, timeout: float = 15.0):
    """The first email to this address carrying a confirmation link, whatever language its subject is in."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in smtp_server.messages:
            if to in message["To"] and VERIFY_LINK.search(message_parts(message)[0]):
                return message
        time.sleep(0.05)
    raise AssertionError(f"no confirmation email to {to}")


def test_an_indonesian_customer_from_sign_up_to_the_logs_of_a_running_n8n(page: Page, live_server, smtp_server,
                                                                          kube, consumer):
    catalog_seed(templates=service_templates())
    assert page.evaluate("navigator.language") == "id-ID"

    # Sign-up, confirmation and log-in pages are the accounts helper's: found by field names so this journey
    # reads the same before and after their translations land.
    page.goto(live_server + "/signup")
    page.locator("input[name=name]").fill("Ana Putri")
    page.locator("input[name=email]").fill("ana@example.com")
    page.locator("input[name=password]").fill(STRONG_PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.get_by_test_id("signup-sent")).to_be_visible()

    message = confirmation_email(smtp_server, "ana@example.com")
    # TODO(issue 23, merge): once templates/email/verify_email.html is translated (h23a), assert its subject
    # reads in Indonesian here, e.g. assert message["Subject"] != "Confirm your email address".
    text, _ = message_parts(message)
    page.goto(VERIFY_LINK.search(text).group(0))
    page.locator("input[name=email]").fill("ana@example.com")
    page.locator("input[name=password]").fill(STRONG_PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.get_by_test_id("nav-account")).to_be_visible()

    # The catalog, a plan, the checkout and its review: in Indonesian.
    page.goto(live_server + "/catalog")
    expect(page.get_by_role("heading", name="Pilih aplikasi")).to_be_visible()
    page.get_by_test_id("catalog-card-n8n").click()
    expect(page.get_by_role("heading", name="Paket")).to_be_visible()
    page.get_by_test_id("plan-starter").get_by_role("link", name=re.compile(r"^Pilih ")).click()
    expect(page.get_by_role("heading", name="Siapkan n8n Anda")).to_be_visible()
    page.locator("input[name=subdomain]").fill("ana-alur")
    page.get_by_role("button", name="Lanjutkan").click()
    expect(page.get_by_role("heading", name="Periksa pesanan Anda")).to_be_visible()
    expect(page.get_by_test_id("review")).to_contain_text("Total bayar")
    expect(page.get_by_test_id("review")).to_contain_text("30 hari")
    page.get_by_role("button", name=re.compile(r"^Bayar Rp")).click()

    # The payment simulator, then the invoice that follows the payment.
    expect(page.get_by_test_id("simulator-banner")).to_contain_text("Simulator pembayaran.")
    expect(page.get_by_test_id("simulator-banner")).to_contain_text("tidak ada uang sungguhan")
    expect(page.get_by_test_id("simulate-settlement")).to_contain_text("Bayar")
    expect(page.get_by_test_id("effect-settlement")).to_contain_text("Pembayaran berhasil")
    page.get_by_test_id("simulate-settlement").click()
    page.get_by_role("link", name="Buka instans Anda").click(timeout=15000)

    # The instance page: health, sections and buttons.
    expect(page.get_by_test_id("health")).to_have_text("Berjalan", timeout=20000)  # the status block polls itself
    page.reload()  # the buttons below the polled status block follow the state on a fresh load
    expect(page.get_by_test_id("health")).to_have_text("Berjalan")
    expect(page.get_by_role("heading", name="Kesehatan")).to_be_visible()
    expect(page.get_by_role("heading", name="Riwayat")).to_be_visible()
    expect(page.get_by_test_id("timeline")).to_contain_text("Instans Anda sudah siap.")  # stored in English
    expect(page.get_by_test_id("component-app")).to_contain_text("Aplikasi")
    expect(page.get_by_test_id("component-app")).to_contain_text("siap")
    expect(page.get_by_role("button", name="Mulai ulang")).to_be_visible()
    expect(page.get_by_role("button", name="Batalkan sekarang")).to_be_visible()
    expect(page.get_by_role("link", name="Cadangan")).to_be_visible()
    if os.environ.get("SCREENSHOTS") == "1":
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "instance-page-id.png"), full_page=True)
        instance_url = page.url
        english = page.context.browser.new_context(locale="en-US", storage_state=page.context.storage_state())
        english_page = english.new_page()
        english_page.goto(instance_url)
        expect(english_page.get_by_test_id("health")).to_have_text("Running")
        english_page.screenshot(path=str(ARTIFACTS / "instance-page-en.png"), full_page=True)
        english.close()

    # The logs page.
    page.get_by_role("link", name="Log", exact=True).click()
    expect(page.get_by_role("heading", name="Log", exact=True)).to_be_visible()
    expect(page.get_by_label("Cari")).to_be_visible()
    expect(page.get_by_label("Ikuti baris baru")).to_be_checked()
    expect(page.get_by_test_id("download")).to_have_text("Unduh")
    expect(page.get_by_test_id("log-lines").locator(".log-line").first).to_be_visible()
    page.get_by_test_id("follow").uncheck()  # no poll left running while the server stops
