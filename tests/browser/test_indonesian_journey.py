"""A customer whose browser asks for Indonesian, in Chromium: sign up, confirm from the email, buy n8n through the
payment simulator, the instance page and its logs, and the emails, every step in Bahasa Indonesia; then the footer
switcher turns the same pages to English. Screenshots of the instance page in each language go to test-artifacts/."""
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from tests.helpers import STRONG_PASSWORD, message_parts, wait_for_email

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def app_config(app_config, fast_emulated_cluster):
    return {**app_config, **fast_emulated_cluster}


@pytest.fixture
def browser_context_args(browser_context_args):
    """The browser of a customer in Indonesia: Accept-Language id-ID."""
    return {**browser_context_args, "locale": "id-ID"}


def test_an_indonesian_customer_signs_up_buys_and_reads_the_instance_in_indonesian(page: Page, live_server,
                                                                                   smtp_server, kube, consumer):
    ARTIFACTS.mkdir(exist_ok=True)
    catalog_seed(templates=service_templates())
    page.goto(live_server + "/signup")
    expect(page.locator("html")).to_have_attribute("lang", "id")
    page.get_by_label("Nama lengkap").fill("Sari Dewi")
    page.get_by_label("Email").fill("sari@example.com")
    page.get_by_label("Kata sandi").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Buat akun").click()
    expect(page.get_by_test_id("signup-sent")).to_be_visible()

    # The confirmation email is in Indonesian: the language she signed up in is kept as hers.
    text, html = message_parts(wait_for_email(smtp_server, "Konfirmasi alamat email Anda"))
    assert '<html lang="id">' in html and "Halo Sari Dewi" in text
    page.goto(re.search(r"http://127\.0\.0\.1:\d+/verify/\S+", text).group(0))
    expect(page.get_by_text("sudah dikonfirmasi")).to_be_visible()
    page.get_by_label("Email").fill("sari@example.com")
    page.get_by_label("Kata sandi").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("heading", name="Halo, Sari Dewi")).to_be_visible()

    # Buy n8n: the catalog, the checkout and the payment simulator in Indonesian, Rupiah as Indonesians write it.
    page.get_by_role("navigation").get_by_role("link", name="Katalog").click()
    page.get_by_test_id("catalog-card-n8n").click()
    page.get_by_test_id("plan-starter").get_by_role("link").click()
    page.get_by_label("Alamat").fill("sari-flows")
    page.get_by_role("button", name="Lanjutkan").click()
    pay = page.get_by_role("button", name=re.compile(r"^Bayar Rp\d{1,3}(\.\d{3})+$"))
    expect(pay).to_be_visible()
    pay.click()
    page.get_by_test_id("simulate-settlement").click()
    expect(page.get_by_test_id("payment-status")).to_contain_text("Lunas", timeout=15000)

    # The instance page polls itself until the instance runs.
    page.get_by_role("link", name="Buka instans Anda").click()
    expect(page.get_by_test_id("health")).to_have_text("Berjalan", timeout=20000)
    page.screenshot(path=str(ARTIFACTS / "instance-page-id.png"), full_page=True)
    text, html = message_parts(wait_for_email(smtp_server, "n8n Anda sudah siap"))
    assert '<html lang="id">' in html

    # Its logs.
    page.get_by_role("link", name="Log", exact=True).click()
    expect(page.get_by_test_id("log-lines").locator(".log-line").first).to_be_visible()
    expect(page.get_by_test_id("download")).to_contain_text("Unduh")

    # The footer switcher: the same instance page in English, kept for her emails too.
    page.go_back()
    page.get_by_test_id("language-en").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_test_id("health")).to_have_text("Running")
    page.screenshot(path=str(ARTIFACTS / "instance-page-en.png"), full_page=True)
