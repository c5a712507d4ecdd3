"""Scale-out: two gunicorn servers and two Huey consumers (with their schedulers) on one PostgreSQL and one Redis,
customers buying through both servers while Midtrans' notifications for other orders arrive at both, each
several times and at once. Nothing is done twice: one payment per invoice, one setup per subscription, one
receipt each, every periodic job once per minute."""
import random
import re
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from portal.billing import services as billing
from portal.billing.models import Invoice
from portal.catalog.parameters import settings_defaults
from portal.catalog.selectors import service_templates, template_for
from portal.catalog.services import catalog_seed
from portal.extensions import db
from portal.jobs.models import JobRun
from portal.notifications.models import Email
from portal.subscriptions.models import InstanceEvent, Subscription
from tests.fixtures.billing import notification, plan_of
from tests.helpers import BIN, ROOT, STRONG_PASSWORD, csrf_token_from, free_port, wait_until

ORDERS_PAID_BY_WEBHOOK = 6
BUYERS = 4
COPIES_OF_EACH_NOTIFICATION = 4


@pytest.fixture
def web_servers(process_env):
    """Two gunicorn servers (two workers each), as two web pods would be."""
    servers, urls = [], []
    for _ in range(2):
        port = free_port()
        servers.append(subprocess.Popen([str(BIN / "gunicorn"), "--no-control-socket", "--workers", "2",
                                         "--threads", "4", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                                        cwd=ROOT, env=process_env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            wait_until(lambda url=url: _up(url), timeout=30)
        yield urls
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=15)


def _up(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def buy(base_url: str, email: str, plan_id: int, subdomain: str, fields: dict) -> int:
    """Log in and check out through the real pages; returns the new invoice's id."""
    session = requests.Session()
    page = session.get(base_url + "/login", timeout=10).text
    session.post(base_url + "/login", data={"email": email, "password": STRONG_PASSWORD,
                                            "csrf_token": csrf_token_from(page)}, timeout=10)
    page = session.get(f"{base_url}/checkout/plan/{plan_id}", timeout=10).text
    answer = session.post(f"{base_url}/checkout/plan/{plan_id}/pay", timeout=30, allow_redirects=False,
                          data={"csrf_token": csrf_token_from(page), "subdomain": subdomain, **fields})
    assert answer.status_code in (302, 303), answer.text[:300]
    return int(re.search(r"/billing/invoices/(\d+)/pay", answer.headers["Location"]).group(1))


def test_two_web_servers_and_two_consumers_do_nothing_twice(app, make_user, consumers, web_servers, smtp_server,
                                                           process_env):
    catalog_seed(templates=service_templates())
    plan = plan_of("n8n")
    orders = []
    for index in range(ORDERS_PAID_BY_WEBHOOK):
        user = make_user(email=f"paying{index}@example.com")
        orders.append(billing.checkout_start(user_id=user.id, plan_id=plan.id, subdomain=f"webhook-{index}",
                                             settings={}))
    for index in range(BUYERS):
        make_user(email=f"buyer{index}@example.com")
    # Production's threshold: the fault tests' 0 would let a reconcile run at a 10-minute boundary resume
    # setups that are merely in progress (harmless, but then a setup shows its steps twice).
    process_env["PROVISION_STALE_MINUTES"] = "10"
    for _ in range(2):
        consumers.start(periodic=True)
    started_minute = datetime.now(UTC).replace(second=0, microsecond=0)

    # Midtrans says "settled" for every order, several times, to both servers, while four customers buy.
    fields = {name: str(value) for name, value in settings_defaults(template_for("n8n")).items()}
    bodies = [notification(invoice) for invoice in orders for _ in range(COPIES_OF_EACH_NOTIFICATION)]
    random.Random(7).shuffle(bodies)
    with ThreadPoolExecutor(max_workers=16) as pool:
        purchases = [pool.submit(buy, web_servers[i % 2], f"buyer{i}@example.com", plan.id, f"bought-{i}", fields)
                     for i in range(BUYERS)]
        answers = list(pool.map(lambda item: requests.post(web_servers[item[0] % 2] + "/billing/midtrans/notification",
                                                           json=item[1], timeout=30).status_code,
                                enumerate(bodies)))
        bought = [future.result() for future in purchases]
    assert set(answers) == {200}, Counter(answers)

    # The buyers pay too, each notification twice, one per server.
    db.session.rollback()
    for invoice_id in bought:
        invoice = db.session.get(Invoice, invoice_id)
        body = notification(invoice)
        for url in web_servers:
            assert requests.post(url + "/billing/midtrans/notification", json=body, timeout=30).status_code == 200
    every = [invoice.subscription_id for invoice in orders] + \
        [db.session.get(Invoice, invoice_id).subscription_id for invoice_id in bought]

    def all_active():
        db.session.rollback()
        return set(db.session.scalars(select(Subscription.state).where(Subscription.id.in_(every)))) == {"active"}

    wait_until(all_active, timeout=90)
    # Let at least one minute boundary pass with both schedulers running.
    wait_until(lambda: datetime.now(UTC) >= started_minute + timedelta(minutes=1, seconds=5),
               timeout=70, interval=1)
    wait_until(lambda: len(smtp_server.messages) >= 2 * len(every), timeout=30)
    # Nothing can happen twice after this point: every task queued (the minute's periodic copies from both
    # schedulers too) has been taken, and both consumers finish what they run and stop.
    consumers.drain()
    db.session.rollback()

    invoices = db.session.scalars(select(Invoice).where(Invoice.subscription_id.in_(every))).all()
    assert len(invoices) == ORDERS_PAID_BY_WEBHOOK + BUYERS and {i.state for i in invoices} == {"paid"}
    per_subscription = Counter(db.session.scalars(select(InstanceEvent.subscription_id).where(
        InstanceEvent.subscription_id.in_(every), InstanceEvent.kind.in_(("paid", "step.namespace")))))
    assert set(per_subscription.values()) == {2}, per_subscription  # one payment and one setup each

    subjects = Counter(message["Subject"].split(" ")[0] for message in smtp_server.messages)
    receipts = db.session.scalar(select(func.count(Email.id)).where(Email.template == "payment_receipt"))
    ready = db.session.scalar(select(func.count(Email.id)).where(Email.template == "instance_ready"))
    sent = db.session.scalar(select(func.count(Email.id)).where(Email.state == "sent"))
    assert receipts == ready == len(every)
    assert subjects["Payment"] == subjects["Your"] == len(every)
    assert len(smtp_server.messages) == sent, subjects  # every email sent exactly once

    runs = db.session.execute(select(JobRun.name, JobRun.started_at).where(JobRun.name == "status-sweep")).all()
    per_minute = Counter(started.replace(second=0, microsecond=0) for _, started in runs)
    assert per_minute and max(per_minute.values()) == 1, per_minute  # once a minute, not once per consumer
