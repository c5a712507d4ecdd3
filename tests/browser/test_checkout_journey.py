"""Buying an app in Chromium with the payment simulator: plan → settings → review → pay → paid → provisioning."""
import time

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.billing.models import Invoice
from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from portal.extensions import db
from portal.subscriptions.models import Subscription
from tests.helpers import STRONG_PASSWORD

pytestmark = pytest.mark.browser


def _invoice_paid(subdomain: str) -> bool:
    db.session.rollback()  # read what the server and the consumer committed
    return db.session.scalar(select(Invoice.state).join(Subscription, Subscription.id == Invoice.subscription_id)
                             .where(Subscription.subdomain == subdomain)) == "paid"



@pytest.fixture
def app_config(smtp_server, live_port, kube):
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False,
            "FRONTEND_URL": f"http://127.0.0.1:{live_port}", "KUBE_MODE": "emulated", "KUBE_EMULATOR_URL": kube.url}


def test_buy_ghost_with_the_payment_simulator(page: Page, live_server, make_user, kube, consumer):
    catalog_seed(templates=service_templates())
    make_user(email="ana@example.com")
    page.goto(live_server + "/login")
    page.get_by_label("Email").fill("ana@example.com")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hello, Ana Putri")).to_be_visible()
    page.goto(live_server + "/catalog/ghost")
    page.get_by_test_id("plan-starter").get_by_role("link", name="Choose Starter").click()

    page.get_by_label("Address").fill("kopi-kenangan")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("review-url")).to_have_text("https://kopi-kenangan.localtest.me")
    expect(page.get_by_test_id("review-price")).to_have_text("Rp79,000")
    page.get_by_role("button", name="Pay Rp79,000").click()

    expect(page.get_by_test_id("simulator-banner")).to_contain_text("Payment simulator")
    # A real consumer carries it: the simulator's notification to the webhook, which stores it and answers, then
    # the inbox's apply. The page (polling every second while it waits; an unchanged poll is a 304) shows the
    # payment within 2 s of the click.
    page.get_by_test_id("simulate-settlement").click()
    clicked = time.monotonic()
    expect(page.get_by_test_id("payment-status")).to_contain_text("Paid — your instance is being prepared",
                                                                  timeout=2000)
    shown_after = time.monotonic() - clicked
    assert shown_after < 2, shown_after
    assert _invoice_paid("kopi-kenangan")
    subscription = db.session.scalar(select(Subscription).where(Subscription.subdomain == "kopi-kenangan"))
    assert subscription.state in ("provisioning", "active")
    assert kube.objects("Deployment"), "provisioning put the app on the cluster"
