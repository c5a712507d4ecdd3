"""A customer's own domain in Chromium: add it on the instance page, read the DNS records to create, create them
(in the loopback DNS server), watch it turn verified and its certificate issued (the emulated cert-manager, the
real Huey consumer polling), open it, remove it; the provider's address serves throughout. Emails arrive by SMTP.
Screenshots go to test-artifacts/."""
import re
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.domains.models import CustomDomain
from portal.extensions import db
from portal.subscriptions.models import Subscription
from tests.browser.test_staff_journey import active_subscription, log_in
from tests.helpers import message_parts, wait_for_email

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def app_config(app_config, fast_emulated_cluster, dns_zone):
    return {**app_config, **fast_emulated_cluster,
            "DOMAINS_DNS_RESOLVER": dns_zone.address, "DOMAINS_DNS_TIMEOUT_SECONDS": 2,
            "DOMAINS_CHECK_INTERVAL_SECONDS": 0.5, "DOMAINS_CERTIFICATE_POLL_SECONDS": 0.5}


def _served(kube, host: str) -> int:
    try:
        return urllib.request.urlopen(f"{kube.url}/_ingress/{host}/").status
    except urllib.error.HTTPError as error:
        return error.code


def test_add_a_domain_see_it_verified_and_its_certificate_issued_then_remove_it(page: Page, live_server, make_user,
                                                                               kube, dns_zone, smtp_server,
                                                                               consumer):
    ARTIFACTS.mkdir(exist_ok=True)
    catalog_seed(templates=service_templates())
    customer = make_user(email="siti@kopi.id", name="Siti Rahma")
    sid = active_subscription(customer.id, "kopi-blog")
    log_in(page, live_server, "siti@kopi.id")
    page.goto(f"{live_server}/instances/{sid}")
    card = page.get_by_test_id("domains-card")
    expect(card.get_by_test_id("no-domains")).to_be_visible()  # the block loaded into the instance page

    # A refused name says why, and nothing is added.
    card.get_by_label("Domain").fill("*.kopi.id")
    card.get_by_role("button", name="Add domain").click()
    expect(card.get_by_test_id("error-name")).to_contain_text("Wildcard domains")

    card.get_by_label("Domain").fill("Blog.Kopi.id")
    card.get_by_role("button", name="Add domain").click()
    domain = card.get_by_test_id("domain-blog.kopi.id")
    expect(domain.get_by_test_id("dns-state")).to_have_text("DNS waiting")
    expect(domain.get_by_test_id("record-CNAME")).to_have_text("kopi-blog.localtest.me")
    expect(domain.get_by_test_id("dns-problem")).to_contain_text("No TXT record _portal-verify.blog.kopi.id")
    token = domain.get_by_test_id("record-TXT").inner_text()
    assert token == db.session.scalar(select(CustomDomain.token))
    page.screenshot(path=str(ARTIFACTS / "domain-waiting-for-dns.png"), full_page=True)

    # The customer creates the records at their DNS provider; the portal's next check finds them.
    dns_zone.set("_portal-verify.blog.kopi.id", "TXT", token)
    dns_zone.set("blog.kopi.id", "CNAME", "kopi-blog.localtest.me")
    expect(domain.get_by_test_id("dns-state")).to_have_text("DNS verified", timeout=20000)
    expect(domain.get_by_test_id("primary")).to_be_visible()
    expect(domain.get_by_test_id("certificate-state")).to_contain_text("Issued, valid until", timeout=20000)
    page.screenshot(path=str(ARTIFACTS / "domain-certificate-issued.png"), full_page=True)
    text, _ = message_parts(wait_for_email(smtp_server, "blog.kopi.id is verified"))
    assert f"/instances/{sid}/domains" in text
    text, _ = message_parts(wait_for_email(smtp_server, "blog.kopi.id is live with HTTPS"))
    assert "https://blog.kopi.id" in text

    # The cluster serves it, and Ghost now calls itself by it; the provider's address still serves. Ghost's new URL
    # (and, once the domain was verified, its mail sender) replaced its pod: both answer once the new one is ready.
    expect_until(lambda: _served(kube, "blog.kopi.id") == 200 and _served(kube, "kopi-blog.localtest.me") == 200)
    namespace = db.session.get(Subscription, sid).namespace
    ghost = next(d for d in kube.objects("Deployment", namespace) if d["metadata"]["name"].endswith("-app"))
    env = {e["name"]: e.get("value") for e in ghost["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["url"] == "https://blog.kopi.id"
    # The instance's page now names it as the address (a reload: the header is not part of the domains card).
    page.reload()
    expect(page.get_by_test_id("open")).to_have_text("https://blog.kopi.id")
    card = page.get_by_test_id("domains-card")
    domain = card.get_by_test_id("domain-blog.kopi.id")

    page.once("dialog", lambda dialog: dialog.accept())
    domain.get_by_role("button", name="Remove").click()
    expect(card.get_by_test_id("domain-notice")).to_contain_text(
        "blog.kopi.id removed. Your instance stays at kopi-blog.localtest.me.")
    expect(card.get_by_test_id("no-domains")).to_be_visible()
    expect_until(lambda: {r["host"] for i in kube.objects("Ingress", namespace)
                          for r in i["spec"]["rules"]} == {"kopi-blog.localtest.me"})
    assert _served(kube, "blog.kopi.id") == 404
    # Ghost restarts with its provider URL again (its pod is replaced), then serves there as before.
    expect_until(lambda: _served(kube, "kopi-blog.localtest.me") == 200)
    assert not [c for c in kube.objects("Certificate", namespace) if "domain" in c["metadata"]["name"]]
    assert not re.search(r"domain-\d+-tls", " ".join(s["metadata"]["name"] for s in kube.objects("Secret",
                                                                                                   namespace)))
    page.screenshot(path=str(ARTIFACTS / "domain-removed.png"), full_page=True)


def expect_until(condition, timeout: float = 15.0) -> None:
    """Wait on state the consumer changes (the domain's cluster objects go after the commit, in a task)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    assert condition()
