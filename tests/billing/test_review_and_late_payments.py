"""Against the Midtrans emulator over HTTP, notifications delivered to the portal's real webhook on loopback: a card
payment held for review (accepted, denied, left waiting for days under every periodic job), a payment arriving on a
cancelled order (revived, or refund due), and the portal closing the Midtrans transactions of an order it cancels."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from portal.billing import services
from portal.billing import tasks as billing_tasks
from portal.billing.midtrans import PaymentRejected
from portal.billing.models import Invoice, PaymentAttempt
from portal.extensions import db
from portal.instances.sweep import instances_sweep
from portal.notifications.models import Email
from portal.provisioning.cluster import cluster_for
from portal.subscriptions import tasks as lifecycle_tasks
from portal.subscriptions.models import Subscription
from tests.fixtures.billing import plan_of
from tests.helpers import csrf_token_from, logged_in_client

STAFF = "boss@portal.example"


@pytest.fixture
def app_config(midtrans_config, cluster_config):
    return {**midtrans_config, **cluster_config}


@pytest.fixture
def webhook(app, midtrans):
    """The portal on a real HTTP server in a thread, set as the emulator's Payment Notification URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    midtrans.notification_url = f"http://127.0.0.1:{server.server_port}/billing/midtrans/notification"
    yield midtrans
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def staff(make_user):
    return make_user(email=STAFF, name="Boss", staff=True)


def invoice_now(invoice_id: int) -> Invoice:
    db.session.expire_all()
    return db.session.get(Invoice, invoice_id)


def subscription_now(subscription_id: int) -> Subscription:
    db.session.expire_all()
    return db.session.get(Subscription, subscription_id)


def emails(template: str, recipient: str | None = None) -> list[Email]:
    query = select(Email).where(Email.template == template)
    if recipient:
        query = query.where(Email.recipient == recipient)
    return list(db.session.scalars(query))


def staff_alerts(word: str) -> list[Email]:
    return [email for email in emails("staff_alert", STAFF) if word in email.context["title"]]


def deployed(app, subscription: Subscription) -> bool:
    gateway = cluster_for(app.config)
    return any(gateway.list_objects("apps/v1", kind, namespace=subscription.namespace,
                                    selector=f"portal/subscription={subscription.id}")
               for kind in ("Deployment", "StatefulSet"))


def pay(midtrans, order_id: str, sent_before: int) -> None:
    """The customer pays on Midtrans; its notification reaches the webhook (waited for, not slept on)."""
    midtrans.set_status(order_id, "settlement")
    midtrans.notify_later(order_id)
    sent = midtrans.wait_for_notifications(sent_before + 1)
    assert sent[-1].http_status == 200, sent[-1].response


def run_every_periodic_job():
    for job in (billing_tasks.invoices_sync, billing_tasks.renewals_issue, billing_tasks.unpaid_orders_cancel,
                lifecycle_tasks.reminders_send, lifecycle_tasks.expiry_process, lifecycle_tasks.retention_process):
        job.call_local()


def close_requests(midtrans) -> list[str]:
    return [r.path for r in midtrans.requests if r.path.endswith(("/cancel", "/expire"))]


def test_a_challenged_card_is_under_review_then_accepted_paid_and_provisioned(app, customer, staff, order, webhook):
    invoice = order("ghost")
    webhook.challenge(invoice.order_id)
    assert webhook.wait_for_notifications(1)[-1].http_status == 200
    held = invoice_now(invoice.id)
    assert held.state == "review" and held.midtrans_status == "capture"
    attempt = held.current_attempt
    assert (attempt.transaction_status, attempt.fraud_status) == ("capture", "challenge")
    alert = staff_alerts("under review")
    assert len(alert) == 1 and invoice.order_id in alert[0].context["message"]
    assert "Midtrans dashboard" in alert[0].context["message"]
    assert f"/admin/payments/{invoice.id}" in alert[0].context["message"]
    page = logged_in_client(app, customer).get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    assert "Payment under review" in page and "will not be charged twice" in page and "email" in page
    assert 'data-state="review"' in page and "Try again" not in page

    webhook.decide(invoice.order_id, "approve")  # staff approve it in Midtrans' dashboard
    assert webhook.wait_for_notifications(2)[-1].http_status == 200
    paid = invoice_now(invoice.id)
    assert paid.state == "paid" and paid.current_attempt.fraud_status == "accept"
    subscription = subscription_now(invoice.subscription_id)
    assert subscription.state in ("provisioning", "active") and deployed(app, subscription)
    assert len(emails("payment_receipt", customer.email)) == 1


def test_a_challenged_card_denied_fails_and_the_customer_pays_again(app, customer, staff, order, webhook):
    invoice = order("ghost")
    first = invoice.order_id
    webhook.challenge(first)
    webhook.wait_for_notifications(1)
    webhook.decide(first, "deny")
    assert webhook.wait_for_notifications(2)[-1].http_status == 200
    denied = invoice_now(invoice.id)
    assert denied.state == "failed" and denied.current_attempt.transaction_status == "deny"
    assert subscription_now(invoice.subscription_id).state == "pending_payment"
    declined = emails("payment_declined", customer.email)
    assert len(declined) == 1 and declined[0].context["number"] == invoice.number
    page = logged_in_client(app, customer).get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    assert "Try again" in page

    retry = services.payment_attempt_start(invoice_id=invoice.id)  # what "Try again" does
    assert retry.order_id != first and retry.order_id in webhook.transactions
    pay(webhook, retry.order_id, sent_before=2)
    assert invoice_now(invoice.id).state == "paid"
    subscription = subscription_now(invoice.subscription_id)
    assert subscription.state in ("provisioning", "active") and deployed(app, subscription)


def test_a_payment_left_in_review_for_two_days_survives_every_periodic_job(app, customer, staff, order, webhook,
                                                                          travel):
    invoice = order("ghost")
    webhook.challenge(invoice.order_id)
    webhook.wait_for_notifications(1)
    for _ in range(2 * 24):
        travel.by(hours=1)
        run_every_periodic_job()
    assert invoice_now(invoice.id).state == "review"
    assert subscription_now(invoice.subscription_id).state == "pending_payment"
    attempt = db.session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_id == invoice.order_id))
    assert (attempt.transaction_status, attempt.fraud_status) == ("capture", "challenge")  # only what Midtrans said
    assert any(r.path.endswith("/status") for r in webhook.requests)  # the sync did ask
    assert close_requests(webhook) == []  # nobody cancelled the held payment at Midtrans
    assert webhook.transactions[invoice.order_id]["transaction_status"] == "capture"
    assert len(staff_alerts("under review")) == 1  # told once, not every hour

    webhook.decide(invoice.order_id, "approve")  # decided on the third day: the order is still there
    assert webhook.wait_for_notifications(2)[-1].http_status == 200
    assert invoice_now(invoice.id).state == "paid"
    assert subscription_now(invoice.subscription_id).state in ("provisioning", "active")


def test_a_pending_transfer_keeps_the_order_until_midtrans_expires_it(app, customer, order, webhook, travel):
    invoice = order("ghost")
    webhook.set_status(invoice.order_id, "pending")  # a virtual account chosen, not paid yet
    webhook.notify_later(invoice.order_id)
    webhook.wait_for_notifications(1)
    travel.by(hours=app.config["UNPAID_ORDER_HOURS"] + 1)
    run_every_periodic_job()
    assert subscription_now(invoice.subscription_id).state == "pending_payment"
    assert invoice_now(invoice.id).state == "pending" and invoice_now(invoice.id).midtrans_status is None
    webhook.set_status(invoice.order_id, "expire")  # Midtrans' own window ran out
    webhook.notify_later(invoice.order_id)
    webhook.wait_for_notifications(2)
    run_every_periodic_job()
    assert invoice_now(invoice.id).state == "cancelled"
    assert subscription_now(invoice.subscription_id).state == "cancelled"


def test_a_settlement_on_a_cancelled_order_with_its_address_free_revives_it(app, customer, staff, order, webhook,
                                                                            travel):
    invoice = order("ghost", subdomain="late-kopi")
    travel.by(hours=app.config["UNPAID_ORDER_HOURS"] + 1)
    assert billing_tasks.unpaid_orders_cancel.call_local() == {"cancelled": 1}
    assert subscription_now(invoice.subscription_id).state == "cancelled"
    pay(webhook, invoice.order_id, sent_before=0)  # the Snap page was still open
    revived = invoice_now(invoice.id)
    assert revived.state == "paid"
    subscription = subscription_now(invoice.subscription_id)
    assert subscription.state in ("provisioning", "active") and deployed(app, subscription)
    assert subscription.current_period_end is not None
    assert len(emails("payment_receipt", customer.email)) == 1
    assert len(staff_alerts("revived")) == 1


def test_a_settlement_on_a_cancelled_order_whose_address_was_taken_is_refund_due(app, customer, staff, order,
                                                                                make_user, webhook, travel):
    invoice = order("ghost", subdomain="kopi-toko")
    travel.by(hours=app.config["UNPAID_ORDER_HOURS"] + 1)
    billing_tasks.unpaid_orders_cancel.call_local()
    other = make_user(email="budi@example.com", name="Budi")
    taken = order("ghost", subdomain="kopi-toko", user=other)  # a cancelled order no longer holds its address
    pay(webhook, invoice.order_id, sent_before=0)
    owed = invoice_now(invoice.id)
    assert owed.state == "refund_due" and owed.paid_at is not None
    assert subscription_now(invoice.subscription_id).state == "cancelled"
    assert subscription_now(taken.subscription_id).state == "pending_payment"
    alert = staff_alerts("Refund due")
    assert len(alert) == 1 and "address was taken" in alert[0].context["message"]
    told = emails("payment_refund_due", customer.email)
    assert len(told) == 1 and told[0].context["reason"] == "its address was taken by another order"
    page = logged_in_client(app, customer).get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    assert "the payment will be refunded" in page and 'data-state="refund_due"' in page
    pay(webhook, invoice.order_id, sent_before=1)  # Midtrans repeats itself: nothing twice
    assert len(emails("payment_refund_due")) == 1 and len(staff_alerts("Refund due")) == 1


def test_a_settlement_on_a_cancelled_order_whose_plan_stopped_selling_is_refund_due(app, customer, staff, order,
                                                                                   webhook, travel):
    invoice = order("ghost")
    travel.by(hours=app.config["UNPAID_ORDER_HOURS"] + 1)
    billing_tasks.unpaid_orders_cancel.call_local()
    plan_of("ghost").active = False
    db.session.commit()
    pay(webhook, invoice.order_id, sent_before=0)
    assert invoice_now(invoice.id).state == "refund_due"
    assert emails("payment_refund_due", customer.email)[0].context["reason"] == "its plan is no longer sold"


def test_cancelling_an_order_expires_its_pending_transaction_at_midtrans(app, customer, order, webhook):
    invoice = order("ghost")
    webhook.set_status(invoice.order_id, "pending")
    webhook.notify_later(invoice.order_id)
    webhook.wait_for_notifications(1)
    services.order_cancel(subscription_id=invoice.subscription_id, reason="Cancelled by the customer.")
    assert webhook.transactions[invoice.order_id]["transaction_status"] == "expire"
    assert close_requests(webhook) == [f"/v2/{invoice.order_id}/expire"]
    sent = webhook.wait_for_notifications(2)  # Midtrans tells the webhook, which keeps the order cancelled
    assert sent[-1].body["transaction_status"] == "expire" and sent[-1].http_status == 200
    assert invoice_now(invoice.id).state == "cancelled"
    assert invoice_now(invoice.id).current_attempt.transaction_status == "expire"
    with pytest.raises(services.CheckoutError):  # and the portal opens no new payment for it
        services.payment_attempt_start(invoice_id=invoice.id)
    with pytest.raises(PaymentRejected):  # Midtrans itself no longer lets the dead transaction move
        services.gateway().transaction_cancel(invoice.order_id)


def test_an_order_under_review_is_not_cancelled_by_anyone(app, customer, order, webhook):
    invoice = order("ghost")
    webhook.challenge(invoice.order_id)
    webhook.wait_for_notifications(1)
    with pytest.raises(services.OrderNotCancellable):
        services.order_cancel(subscription_id=invoice.subscription_id, reason="")
    assert invoice_now(invoice.id).state == "review" and close_requests(webhook) == []


def test_an_unpaid_order_never_opened_on_midtrans_is_cancelled_with_nothing_to_close(app, customer, order, webhook,
                                                                                    travel):
    invoice = order("ghost")
    travel.by(hours=app.config["UNPAID_ORDER_HOURS"] + 1)
    assert billing_tasks.unpaid_orders_cancel.call_local() == {"cancelled": 1}
    assert invoice_now(invoice.id).state == "cancelled"
    assert [r.path for r in webhook.requests if "/v2/" in r.path] == [f"/v2/{invoice.order_id}/status"]


def test_a_renewal_under_review_holds_the_suspension_until_midtrans_answers(app, customer, staff, order, webhook,
                                                                           travel, kube_clock):
    invoice = order("ghost")
    pay(webhook, invoice.order_id, sent_before=0)
    kube_clock.advance(30)
    instances_sweep()
    subscription = subscription_now(invoice.subscription_id)
    assert subscription.state == "active"
    renewal = services.renewal_payment_start(subscription_id=subscription.id)
    webhook.challenge(renewal.order_id)
    webhook.wait_for_notifications(2)
    assert invoice_now(renewal.id).state == "review"
    travel.to(subscription.current_period_end + timedelta(days=app.config["GRACE_DAYS"] + 1))
    run_every_periodic_job()
    assert subscription_now(subscription.id).state == "active"  # the renewal may yet be paid
    webhook.decide(renewal.order_id, "deny")
    webhook.wait_for_notifications(3)
    assert invoice_now(renewal.id).state == "failed"
    run_every_periodic_job()
    assert subscription_now(subscription.id).state == "suspended"


def test_the_sync_applies_only_what_the_status_api_said(app, customer, order, webhook, travel):
    unused, waiting = order("ghost"), order("n8n")
    webhook.set_status(waiting.order_id, "pending")  # a transfer chosen; Midtrans has not expired it yet
    travel.by(hours=app.config["INVOICE_EXPIRY_HOURS"] + 1)
    assert billing_tasks.invoices_sync.call_local() == {"checked": 2, "applied": 0, "expired": 1, "paid_checked": 0,
                                                      "money_back": 0}
    lapsed = invoice_now(unused.id)  # its payment page expired and Midtrans never saw a payment
    assert lapsed.state == "failed" and lapsed.midtrans_status is None
    assert lapsed.current_attempt.transaction_status is None
    kept = invoice_now(waiting.id)
    assert kept.state == "pending" and kept.midtrans_status is None
    assert kept.current_attempt.transaction_status == "pending"
    assert "expire" not in [r.path.rsplit("/", 1)[-1] for r in webhook.requests]


def test_the_customer_cancels_a_pending_order_from_its_invoice_page(app, customer, order, webhook):
    invoice = order("ghost")
    webhook.set_status(invoice.order_id, "pending")
    browser = logged_in_client(app, customer)
    page = browser.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    assert "Cancel this order" in page
    answer = browser.post(f"/billing/invoices/{invoice.id}/cancel", data={"csrf_token": csrf_token_from(page)})
    assert answer.status_code == 303
    assert invoice_now(invoice.id).state == "cancelled"
    assert subscription_now(invoice.subscription_id).state == "cancelled"
    assert webhook.transactions[invoice.order_id]["transaction_status"] == "expire"
    after = browser.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    assert "Your order is cancelled" in after and "Cancel this order" not in after


def test_an_order_under_review_offers_no_cancel_and_refuses_one(app, customer, order, webhook):
    invoice = order("ghost")
    webhook.challenge(invoice.order_id)
    webhook.wait_for_notifications(1)
    browser = logged_in_client(app, customer)
    page = browser.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    assert "Cancel this order" not in page
    browser.post(f"/billing/invoices/{invoice.id}/cancel", data={"csrf_token": csrf_token_from(page)})
    after = browser.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    assert "under review: it cannot be cancelled" in after and invoice_now(invoice.id).state == "review"


def test_staff_cancel_an_unpaid_order_and_its_open_payment_is_cancelled_at_midtrans(app, customer, staff, order,
                                                                                    webhook):
    invoice = order("ghost")
    webhook.set_status(invoice.order_id, "authorize", payment_type="credit_card")  # a card held, not captured
    webhook.notify_later(invoice.order_id)
    webhook.wait_for_notifications(1)
    boss = logged_in_client(app, staff)
    page = boss.get(f"/admin/subscriptions/{invoice.subscription_id}").get_data(as_text=True)
    assert 'data-testid="action-cancel_order"' in page
    boss.post(f"/admin/subscriptions/{invoice.subscription_id}/cancel_order",
              data={"csrf_token": csrf_token_from(page), "reason": "Customer asked by phone"})
    assert subscription_now(invoice.subscription_id).state == "cancelled"
    assert invoice_now(invoice.id).state == "cancelled"
    assert close_requests(webhook) == [f"/v2/{invoice.order_id}/cancel"]
    assert webhook.transactions[invoice.order_id]["transaction_status"] == "cancel"
