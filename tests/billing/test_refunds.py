"""Refunds and chargebacks against the Midtrans emulator over HTTP: Midtrans' refund API (`POST /v2/{order_id}/refund`
through midtransclient) and a chargeback from its controls, each notified to the portal's real webhook on a live
server; what the customer keeps, what staff and the customer are told, and revenue net of what went back."""
import csv
import io
import threading
from datetime import timedelta
from decimal import Decimal

import midtransclient
import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.admin import reports
from portal.billing import services
from portal.billing.models import Invoice, Refund
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.provisioning.cluster import cluster_for
from portal.subscriptions import tasks as lifecycle_tasks
from portal.subscriptions.models import Subscription
from portal.timestamps import month_start
from tests.fixtures.billing import MIDTRANS_SERVER_KEY
from tests.helpers import act, logged_in_client, message_parts


@pytest.fixture
def app_config(cluster_config, midtrans_config, smtp_server):
    return {**cluster_config, **midtrans_config, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port,
            "MAIL_USE_TLS": False}


@pytest.fixture
def live_webhook(app, midtrans):
    """The portal on a real HTTP server, its webhook set as the emulator's notification URL (Midtrans' dashboard
    setting), so refunds and chargebacks arrive the way Midtrans sends them."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    midtrans.notification_url = f"http://127.0.0.1:{server.server_port}/billing/midtrans/notification"
    yield midtrans.notification_url
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def core(midtrans):
    """Midtrans' Core API client on the emulator, as staff's tooling (or the dashboard) would refund with."""
    client = midtransclient.CoreApi(is_production=False, server_key=MIDTRANS_SERVER_KEY)
    client.api_config.CORE_SANDBOX_BASE_URL = midtrans.url
    return client


@pytest.fixture
def running(app, client, order, midtrans, kube_clock, make_user, travel):
    """A Ghost paid through Midtrans (Rp79,000) and running; staff to be told."""
    make_user(email="boss@example.com", name="Budi Staff", staff=True)
    invoice = order("ghost", subdomain="kopi")
    midtrans.set_status(invoice.order_id, "settlement")
    assert client.post("/billing/midtrans/notification", json=midtrans.notification(invoice.order_id)).status_code \
        == 200
    kube_clock.advance(30)
    instances_sweep()
    assert subscription(invoice).state == "active"
    return db.session.get(Invoice, invoice.id)


def subscription(invoice) -> Subscription:
    db.session.expire_all()
    return db.session.get(Subscription, invoice.subscription_id)


def refunds(invoice) -> list[tuple]:
    db.session.expire_all()
    return [(r.kind, r.amount, r.midtrans_id, r.refund_key) for r in
            db.session.scalars(select(Refund).where(Refund.invoice_id == invoice.id).order_by(Refund.id))]


def mail(smtp_server, subject_start: str) -> list:
    return [m for m in smtp_server.messages if m["Subject"].startswith(subject_start)]


def pods(app, invoice) -> int:
    return len(cluster_for(app.config).list_pods(f"portal/subscription={invoice.subscription_id}"))


def this_month_revenue(now) -> int:
    return dict(reports.revenue_months(start=month_start(now), end=month_start(now, -1)))[f"{now:%Y-%m}"]


def test_a_partial_then_a_full_refund(app, running, core, live_webhook, smtp_server, travel, kube_clock):
    invoice = running
    number = invoice.number
    assert this_month_revenue(travel.now) == 79000

    # Part of it back: the service keeps running; staff learn the amount and the total so far.
    core.transactions.refund(invoice.order_id, {"refund_key": "rf-1", "amount": 20000, "reason": "outage credit"})
    assert refunds(invoice) == [("partial", Decimal("20000.00"), "1", "rf-1")]
    db.session.expire_all()
    assert (db.session.get(Invoice, invoice.id).state, db.session.get(Invoice, invoice.id).midtrans_status) == \
        ("paid", "partial_refund")
    assert subscription(invoice).state == "active" and pods(app, invoice) == 2
    [alert] = mail(smtp_server, "[Staff] Invoice")
    assert alert["To"] == "boss@example.com" and "partial refund of Rp20,000" in alert["Subject"]
    assert "Rp20,000 of Rp79,000 refunded so far" in message_parts(alert)[0]
    assert "keeps running" in message_parts(alert)[0]
    [note] = mail(smtp_server, f"Part of invoice {number} was refunded")
    assert note["To"] == "ana@example.com" and "keeps running" in message_parts(note)[0]
    assert this_month_revenue(travel.now) == 59000

    # The rest back: suspended because of the refund, the customer told in those words, staff asked to decide.
    core.transactions.refund(invoice.order_id, {"refund_key": "rf-2"})
    assert refunds(invoice) == [("partial", Decimal("20000.00"), "1", "rf-1"),
                                ("full", Decimal("59000.00"), "2", "rf-2")]
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).state == "refunded"
    suspended = subscription(invoice)
    assert (suspended.state, suspended.suspension_reason) == ("suspended", "refunded")
    assert pods(app, invoice) == 0
    [email] = mail(smtp_server, f"Invoice {number} was refunded")
    text, html = message_parts(email)
    assert "Rp79,000" in text and "is stopped" in text and "without payment" not in text and "Rp79,000" in html
    [decide] = mail(smtp_server, f"[Staff] Invoice {number}: refunded in full")
    assert "Resume or terminate it" in message_parts(decide)[0]
    assert this_month_revenue(travel.now) == 0

    # No job ends it: the retention period passes, nobody is warned, nothing is deleted.
    travel.by(days=app.config["RETENTION_DAYS"] + 5)
    lifecycle_tasks.retention_process.call_local()
    assert subscription(invoice).state == "suspended"
    assert not mail(smtp_server, "kopi.localtest.me: data deleted") and not mail(smtp_server, "kopi.localtest.me was")

    # Staff see why, and resume it.
    staff = logged_in_client(app, _staff_user())
    page = staff.get(f"/admin/subscriptions/{invoice.subscription_id}").get_data(as_text=True)
    assert "the payment was refunded in full" in page and 'data-testid="staff-decides"' in page
    assert act(staff, invoice.subscription_id, "resume").status_code in (302, 303)
    kube_clock.advance(30)
    instances_sweep()
    assert subscription(invoice).state == "active" and pods(app, invoice) == 2


def _staff_user():
    from portal.accounts.models import User

    return db.session.scalar(select(User).where(User.email == "boss@example.com"))


def test_a_chargeback_suspends_with_its_own_reason_and_email(app, running, midtrans, live_webhook, smtp_server,
                                                             travel):
    invoice = running
    answer = requests.post(f"{midtrans.url}/_emulator/chargeback", json={"order_id": invoice.order_id}, timeout=10)
    assert answer.status_code == 200 and midtrans.notifications_sent[-1].http_status == 200
    assert refunds(invoice) == [("chargeback", Decimal("79000.00"), "1", refunds(invoice)[0][3])]
    suspended = subscription(invoice)
    assert (suspended.state, suspended.suspension_reason) == ("suspended", "chargeback")
    [email] = mail(smtp_server, f"Your bank reversed the payment for invoice {invoice.number}")
    text, _ = message_parts(email)
    assert "chargeback" in text and "is stopped" in text and "without payment" not in text
    [alert] = mail(smtp_server, f"[Staff] Invoice {invoice.number}: chargeback")
    assert "the customer's bank reversed the payment" in message_parts(alert)[0]
    travel.by(days=app.config["RETENTION_DAYS"] + 1)
    lifecycle_tasks.retention_process.call_local()
    assert subscription(invoice).state == "suspended"  # staff decide, not the clock


def test_the_same_refund_notification_twice_records_one_refund(app, client, running, core, live_webhook,
                                                                smtp_server, midtrans):
    invoice = running
    core.transactions.refund(invoice.order_id, {"refund_key": "rf-1", "amount": 10000})
    sent = midtrans.notifications_sent[-1].body
    emails = len(smtp_server.messages)
    again = client.post("/billing/midtrans/notification", json=sent)  # Midtrans retries, or sends it twice
    assert again.status_code == 200 and again.get_json()["result"] == "duplicate"  # the inbox keeps one
    assert refunds(invoice) == [("partial", Decimal("10000.00"), "1", "rf-1")]
    assert len(smtp_server.messages) == emails
    # Staff's re-check reads the same refund from the status API: still one.
    services.invoice_recheck(invoice_id=invoice.id, actor_id=_staff_user().id)
    assert len(refunds(invoice)) == 1


def test_a_refund_whose_notification_was_lost_is_read_from_the_status_api(app, running, core, midtrans):
    invoice = running
    midtrans.notification_url = None  # the webhook never hears of it
    core.transactions.refund(invoice.order_id, {"refund_key": "rf-9", "amount": 5000, "reason": "goodwill"})
    assert refunds(invoice) == []
    outcome = services.invoice_recheck(invoice_id=invoice.id, actor_id=_staff_user().id)
    assert "partial_refund" in outcome and "Rp5,000 refunded" in outcome
    assert refunds(invoice) == [("partial", Decimal("5000.00"), "1", "rf-9")]
    assert db.session.scalar(select(Refund.reason)) == "goodwill"


def test_the_sync_finds_a_refund_and_a_chargeback_whose_notifications_were_lost_once_a_day(app, running, core,
                                                                                           midtrans, travel):
    invoice = running
    paid_at = invoice.paid_at
    midtrans.notification_url = None  # the webhook never hears of what follows
    core.transactions.refund(invoice.order_id, {"refund_key": "rf-7", "amount": 15000})
    assert services.invoices_sync()["paid_checked"] == 0  # the day of payment: pending and review invoices only
    travel.to(paid_at + timedelta(days=1, minutes=2))
    outcome = services.invoices_sync()
    assert (outcome["paid_checked"], outcome["money_back"]) == (1, 1)
    assert refunds(invoice) == [("partial", Decimal("15000.00"), "1", "rf-7")]
    assert subscription(invoice).state == "active"  # a partial refund keeps the service, as when notified
    travel.by(minutes=5)  # the next run: asked already today
    assert services.invoices_sync()["paid_checked"] == 0
    travel.to(paid_at + timedelta(days=2, minutes=1))
    outcome = services.invoices_sync()
    assert (outcome["paid_checked"], outcome["money_back"]) == (1, 0) and len(refunds(invoice)) == 1
    # The rest charged back, never notified either.
    answer = requests.post(f"{midtrans.url}/_emulator/chargeback", json={"order_id": invoice.order_id}, timeout=10)
    assert answer.status_code == 200
    travel.to(paid_at + timedelta(days=3, minutes=1))
    app.config["PAYMENT_SYNC_PAID_DAYS"] = 2  # past the window: no longer asked about
    assert services.invoices_sync()["paid_checked"] == 0 and len(refunds(invoice)) == 1
    app.config["PAYMENT_SYNC_PAID_DAYS"] = 3
    outcome = services.invoices_sync()
    assert (outcome["paid_checked"], outcome["money_back"]) == (1, 1)
    assert [kind for kind, *_ in refunds(invoice)] == ["partial", "chargeback"]
    suspended = subscription(invoice)
    assert (suspended.state, suspended.suspension_reason) == ("suspended", "chargeback")


def test_revenue_is_net_of_refunds_in_the_month_each_happened(app, running, core, live_webhook, travel):
    invoice = running
    paid_month, now = f"{travel.now:%Y-%m}", travel.now
    travel.to(month_start(now, -1) + timedelta(days=2))  # the refund comes next month
    core.transactions.refund(invoice.order_id, {"refund_key": "rf-1", "amount": 30000})
    months = dict(reports.revenue_months(start=month_start(now), end=month_start(now, -2)))
    next_month = f"{travel.now:%Y-%m}"
    assert months == {paid_month: 79000, next_month: -30000}
    staff = logged_in_client(app, _staff_user())
    rows = list(csv.DictReader(io.StringIO(staff.get(
        f"/admin/reports.csv?from={month_start(now).date()}&to={travel.now.date()}").get_data(as_text=True))))
    assert {(r["month"], r["invoices"], r["amount_idr"], r["refunded_idr"]) for r in rows} == {
        (paid_month, "1", "79000", "0"), (next_month, "0", "-30000", "30000")}
    payments = list(csv.DictReader(io.StringIO(staff.get("/admin/payments.csv").get_data(as_text=True))))
    assert (payments[0]["state"], payments[0]["refunded_idr"], payments[0]["midtrans_status"]) == \
        ("paid", "30000", "partial_refund")
    overview = staff.get("/admin/").get_data(as_text=True)
    assert "-Rp30,000" in overview  # this month's revenue, net
    page = staff.get(f"/admin/payments/{invoice.id}").get_data(as_text=True)
    assert 'data-testid="midtrans-status">partial refund' in page and 'data-testid="fraud-status">accept' in page
    assert page.count('data-testid="refund"') == 1 and "rf-1" in page and "Rp30,000" in page
    assert db.session.scalar(select(func.count(Refund.id))) == 1
