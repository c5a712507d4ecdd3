"""Checkout, paying pages, renewals and the lost-webhook sync."""
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.billing import services
from portal.billing.models import Invoice, PaymentAttempt
from portal.extensions import db
from portal.subscriptions import services as subscriptions
from portal.subscriptions.models import Subscription
from portal.timestamps import utcnow
from tests.fixtures.billing import notification, plan_of, post, set_status
from tests.helpers import csrf_token_from

HX = {"HX-Request": "true"}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def review_then_pay(client, plan_id: int, **fields):
    page = client.get(f"/checkout/plan/{plan_id}")
    token = csrf_token_from(page.get_data(as_text=True))
    data = {"csrf_token": token, "subdomain": "kopi-shop", "mail_from": "", "use_gravatar": "y", **fields}
    review = client.post(f"/checkout/plan/{plan_id}", data=data, headers=HX)
    return review, client.post(f"/checkout/plan/{plan_id}/pay", data=data, headers=HX)


def test_review_shows_app_plan_period_price_and_address_then_pay_creates_the_order(client, customer, login):
    login(customer)
    plan = plan_of("ghost", "pro")
    review, paid = review_then_pay(client, plan.id, amount_idr="1")
    body = review.get_data(as_text=True)
    assert review.status_code == 200
    for text in ("Ghost", "Pro", "30 days", "Rp149,000", "https://kopi-shop.localtest.me"):
        assert text in body
    invoice = db.session.scalar(select(Invoice))
    assert paid.headers["HX-Redirect"] == f"/billing/invoices/{invoice.id}/pay"
    assert invoice.amount_idr == 149000  # from the plan, whatever the form said
    assert invoice.state == "pending" and invoice.kind == "new"
    assert db.session.get(Subscription, invoice.subscription_id).state == "pending_payment"
    # With no Midtrans keys, paying opens the simulator.
    pay = client.get(f"/billing/invoices/{invoice.id}/pay")
    assert pay.status_code == 302 and f"/billing/simulator/{invoice.order_id}" in pay.headers["Location"]
    simulator_page = client.get(urlsplit(pay.headers["Location"]).path).get_data(as_text=True)
    assert "Payment simulator" in simulator_page and "Card held for a fraud review" in simulator_page


def test_unverified_customers_cannot_pay(client, customer, make_user, login):
    user = make_user(email="new@example.com", verified=False)
    login(user)
    _, paid = review_then_pay(client, plan_of("ghost").id)
    assert paid.status_code == 422 and "verify your email" in paid.get_data(as_text=True)
    assert count(Subscription) == 0 and count(Invoice) == 0


def test_there_is_a_limit_on_unpaid_orders(app, customer, order):
    for _ in range(app.config["MAX_UNPAID_ORDERS"]):
        order()
    with pytest.raises(services.TooManyUnpaidOrders):
        order()
    assert count(Subscription) == app.config["MAX_UNPAID_ORDERS"]


def test_status_page_polls_until_final_then_stops_with_286(client, customer, login, order):
    login(customer)
    invoice = order()
    pending = client.get(f"/billing/invoices/{invoice.id}", headers=HX)
    assert pending.status_code == 200 and 'hx-trigger="every 1s"' in pending.get_data(as_text=True)
    post(client, notification(invoice))
    final = client.get(f"/billing/invoices/{invoice.id}", headers=HX)
    body = final.get_data(as_text=True)
    assert final.status_code == 286
    assert "your instance is being prepared" in body and "every 1s" not in body


def test_a_failed_payment_can_be_tried_again_with_a_new_order_id(client, customer, login, order):
    login(customer)
    invoice = order()
    first_order = invoice.order_id
    post(client, notification(invoice, "deny", payment_type="credit_card"))
    page = client.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    assert "did not go through" in page and "Try again" in page
    client.post(f"/billing/invoices/{invoice.id}/retry", data={"csrf_token": csrf_token_from(page)})
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.state == "pending" and invoice.order_id != first_order
    assert count(PaymentAttempt) == 2
    # A late settlement of the first attempt (a VA paid late) still pays the invoice.
    post(client, notification(first_order, amount_idr=invoice.amount_idr))
    assert db.session.get(Invoice, invoice.id).state == "paid"


def test_other_customers_cannot_see_an_invoice(client, customer, make_user, login, order):
    invoice = order()
    login(make_user(email="mallory@example.com"))
    assert client.get(f"/billing/invoices/{invoice.id}").status_code == 404
    assert client.get(f"/billing/simulator/{invoice.order_id}").status_code == 404


def test_billing_history_and_receipt(client, customer, login, order):
    login(customer)
    invoice = order()
    post(client, notification(invoice))
    listing = client.get("/billing").get_data(as_text=True)
    assert invoice.number in listing and "Rp79,000" in listing and "paid" in listing
    receipt = client.get(f"/billing/invoices/{invoice.id}/receipt").get_data(as_text=True)
    assert "Receipt" in receipt and "Rp79,000" in receipt and "bank transfer" in receipt


def _active(order, client):
    invoice = order()
    post(client, notification(invoice))
    subscription = db.session.get(Subscription, invoice.subscription_id)
    subscription.state = "active"
    db.session.commit()
    return subscription


def test_renewal_before_expiry_extends_from_the_current_end(client, order):
    subscription = _active(order, client)
    end = subscription.current_period_end
    renewal = services.invoice_issue_renewal(subscription_id=subscription.id)
    assert services.invoice_issue_renewal(subscription_id=subscription.id).id == renewal.id  # one open renewal
    services.payment_attempt_start(invoice_id=renewal.id)
    db.session.refresh(renewal)
    post(client, notification(renewal))
    db.session.expire_all()
    assert db.session.get(Subscription, subscription.id).current_period_end == end + timedelta(days=30)


def test_renewal_after_expiry_extends_from_now_and_lifts_a_non_payment_suspension(client, order):
    subscription = _active(order, client)
    subscription.current_period_end = utcnow() - timedelta(days=5)
    subscription.state = "suspended"
    subscription.suspension_reason = "non_payment"
    db.session.commit()
    renewal = services.invoice_issue_renewal(subscription_id=subscription.id)
    services.payment_attempt_start(invoice_id=renewal.id)
    db.session.refresh(renewal)
    before = utcnow()
    post(client, notification(renewal))
    db.session.expire_all()
    renewed = db.session.get(Subscription, subscription.id)
    assert before + timedelta(days=30) <= renewed.current_period_end <= utcnow() + timedelta(days=30)
    assert renewed.state == "provisioning" and renewed.suspension_reason is None


def test_a_staff_suspension_stays_after_a_renewal(client, order):
    subscription = _active(order, client)
    subscriptions.subscription_suspend(subscription_id=subscription.id, reason="staff", note="abuse report")
    renewal = services.invoice_issue_renewal(subscription_id=subscription.id)
    services.payment_attempt_start(invoice_id=renewal.id)
    db.session.refresh(renewal)
    post(client, notification(renewal))
    db.session.expire_all()
    assert db.session.get(Subscription, subscription.id).state == "suspended"


def test_sync_settles_an_invoice_whose_webhook_was_lost(app, order, travel):
    invoice = order()
    set_status(invoice.order_id, "settlement", amount_idr=invoice.amount_idr)  # paid; the webhook never came
    # not pending long enough yet
    assert services.invoices_sync() == {"checked": 0, "applied": 0, "expired": 0, "paid_checked": 0, "money_back": 0}
    travel.by(minutes=app.config["PAYMENT_SYNC_AFTER_MINUTES"] + 1)
    result = services.invoices_sync()
    assert result == {"checked": 1, "applied": 1, "expired": 0, "paid_checked": 0, "money_back": 0}
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).state == "paid"
    assert db.session.get(Subscription, invoice.subscription_id).state == "provisioning"


def test_sync_expires_an_unpaid_invoice_past_its_expiry(app, order, travel):
    invoice = order()
    travel.by(hours=25)
    assert services.invoices_sync() == {"checked": 1, "applied": 0, "expired": 1, "paid_checked": 0, "money_back": 0}
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).state == "failed"


def test_renew_now_from_the_instance_page_opens_a_renewal_payment(client, customer, login, order):
    login(customer)
    subscription = _active(order, client)
    assert "Renew now" not in client.get(f"/instances/{subscription.id}").get_data(as_text=True)  # not due yet
    subscription.current_period_end = utcnow() + timedelta(days=3)  # within the renewal notice
    db.session.commit()
    page = client.get(f"/instances/{subscription.id}").get_data(as_text=True)
    assert "Renew now" in page
    response = client.post(f"/billing/subscriptions/{subscription.id}/renew",
                           data={"csrf_token": csrf_token_from(page)})
    renewal = db.session.scalar(select(Invoice).where(Invoice.kind == "renewal"))
    assert response.status_code == 303 and response.headers["Location"] == f"/billing/invoices/{renewal.id}/pay"
    assert renewal.amount_idr == 79000 and renewal.current_attempt.snap_redirect_url
