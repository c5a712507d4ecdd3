"""Against the Midtrans emulator through midtransclient: Snap payloads, the status API as the truth, outages."""

import pytest
from sqlalchemy import func, select

from portal.billing import services
from portal.billing.midtrans import PaymentGatewayUnavailable
from portal.billing.models import Invoice
from portal.extensions import db
from portal.subscriptions.models import Subscription
from tests.fixtures.billing import plan_of
from tests.helpers import csrf_token_from


@pytest.fixture
def app_config(midtrans_config):
    return midtrans_config


def state(invoice_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Invoice, invoice_id).state


def webhook(client, body: dict):
    return client.post("/billing/midtrans/notification", json=body)


def test_snap_gets_the_order_from_the_server_and_the_pay_page_opens_it(client, customer, login, order, midtrans):
    login(customer)
    invoice = order("n8n", "pro")
    sent = midtrans.transactions[invoice.order_id]["request"]
    assert sent["transaction_details"] == {"order_id": invoice.order_id, "gross_amount": 199000}
    assert sum(i["price"] * i["quantity"] for i in sent["item_details"]) == 199000
    assert sent["item_details"][0]["name"] == "n8n Pro 30 days"
    assert sent["customer_details"]["email"] == "ana@example.com"
    assert sent["callbacks"]["finish"] == f"http://portal.test/billing/invoices/{invoice.id}"
    assert sent["expiry"] == {"unit": "hour", "duration": 24}
    db.session.refresh(invoice)
    attempt = invoice.current_attempt
    assert attempt.snap_token and attempt.snap_redirect_url.startswith(midtrans.url)
    page = client.get(f"/billing/invoices/{invoice.id}/pay").get_data(as_text=True)
    assert 'src="https://app.sandbox.midtrans.com/snap/snap.js" data-client-key="SB-Mid-client-test-key"' in page
    assert attempt.snap_token in page and attempt.snap_redirect_url in page


def test_a_settlement_confirmed_by_the_status_api_pays(client, order, midtrans):
    invoice = order()
    midtrans.set_status(invoice.order_id, "settlement")
    response = webhook(client, midtrans.notification(invoice.order_id))
    assert response.status_code == 200 and state(invoice.id) == "paid"
    assert db.session.get(Invoice, invoice.id).payment_type == "bank_transfer"


def test_the_status_api_wins_over_the_notification(client, order, midtrans):
    invoice = order()
    midtrans.set_status(invoice.order_id, "pending")
    response = webhook(client, midtrans.notification(invoice.order_id, transaction_status="settlement",
                                                     status_code="200"))
    assert response.status_code == 200 and state(invoice.id) == "pending"


@pytest.mark.parametrize("fault", [500, "timeout"])
def test_status_api_down_applies_nothing_and_asks_midtrans_to_retry(client, order, midtrans, fault):
    invoice = order()
    midtrans.set_status(invoice.order_id, "settlement")
    midtrans.fail_next(1, status=fault, path_contains="/status")
    body = midtrans.notification(invoice.order_id)
    first = webhook(client, body)
    assert first.status_code == 503 and state(invoice.id) == "pending"
    assert db.session.get(Subscription, invoice.subscription_id).state == "pending_payment"
    retried = webhook(client, body)  # Midtrans retries a non-2xx answer
    assert retried.status_code == 200 and state(invoice.id) == "paid"


def test_a_notification_signed_with_another_key_is_refused(client, order, midtrans):
    invoice = order()
    midtrans.set_status(invoice.order_id, "settlement")
    response = webhook(client, midtrans.notification(invoice.order_id, server_key="SB-Mid-server-wrong"))
    assert response.status_code == 401 and state(invoice.id) == "pending"


def test_checkout_while_midtrans_is_down_keeps_the_order_and_can_retry(client, customer, login, midtrans):
    login(customer)
    midtrans.fail_next(1, status=503, path_contains="/snap/")
    plan = plan_of("ghost")
    page = client.get(f"/checkout/plan/{plan.id}").get_data(as_text=True)
    data = {"csrf_token": csrf_token_from(page), "subdomain": "toko-baju", "mail_from": ""}
    response = client.post(f"/checkout/plan/{plan.id}/pay", data=data, follow_redirects=True)
    body = response.get_data(as_text=True)
    assert "not answering right now" in body and "Your order is saved" in body
    invoice = db.session.scalar(select(Invoice))
    assert invoice.state == "pending" and invoice.current_attempt.snap_redirect_url is None
    assert db.session.get(Subscription, invoice.subscription_id).state == "pending_payment"
    retry = client.post(f"/billing/invoices/{invoice.id}/retry", data={"csrf_token": csrf_token_from(body)})
    assert retry.headers["Location"] == f"/billing/invoices/{invoice.id}/pay"
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).current_attempt.snap_redirect_url


def test_a_hung_midtrans_does_not_hang_checkout(app, customer, midtrans):
    midtrans.fail_next(1, status="timeout", path_contains="/snap/")  # answers 504, but only after 2.5 s
    with pytest.raises(services.PaymentDeferred) as deferred:
        services.checkout_start(user_id=customer.id, plan_id=plan_of("ghost").id, subdomain="slow-shop", settings={})
    # Our 1 s timeout gave up, not Midtrans' 504 after 2.5 s.
    assert isinstance(deferred.value.__cause__, PaymentGatewayUnavailable)
    assert "ReadTimeout" in str(deferred.value.__cause__)
    assert db.session.scalar(select(func.count(Invoice.id))) == 1


def test_sync_settles_a_lost_webhook_through_the_status_api(app, order, midtrans, travel):
    invoice = order()
    midtrans.set_status(invoice.order_id, "settlement")
    travel.by(minutes=app.config["PAYMENT_SYNC_AFTER_MINUTES"] + 1)
    result = services.invoices_sync()
    assert result["applied"] == 1 and state(invoice.id) == "paid"
