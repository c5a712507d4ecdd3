"""Against the Midtrans emulator through midtransclient: Snap payloads, the status API as the truth, outages."""
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.billing import services
from portal.billing.midtrans import PaymentGatewayUnavailable, signature
from portal.billing.models import Invoice, PaymentNotification
from portal.billing.tasks import payment_inbox_sweep
from portal.extensions import db
from portal.notifications.models import Email
from portal.subscriptions.models import Subscription
from portal.timestamps import utcnow
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


def webhook_raw(app, text: str):
    """POST a notification's JSON text exactly as written, as Midtrans does."""
    return app.test_client().post("/billing/midtrans/notification", data=text.encode(),
                                  content_type="application/json")


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


def stored_notification(order_id: str) -> PaymentNotification:
    db.session.expire_all()
    return db.session.scalar(select(PaymentNotification).where(PaymentNotification.order_id == order_id))


@pytest.mark.parametrize("fault", [500, "timeout"])
def test_status_api_down_keeps_the_notification_waiting_and_retries_with_backoff(
        app, client, order, midtrans, travel, make_user, login, fault):
    staff = make_user(email="boss@example.com", staff=True)
    invoice = order()
    midtrans.set_status(invoice.order_id, "settlement")
    midtrans.fail_next(2, status=fault, path_contains="/status")
    first = webhook(client, midtrans.notification(invoice.order_id))
    # Midtrans is answered 200 at once: it is not asked to retry; the inbox does.
    assert first.status_code == 200 and first.get_json()["result"] == "stored"
    assert state(invoice.id) == "pending"
    assert db.session.get(Subscription, invoice.subscription_id).state == "pending_payment"
    waiting = stored_notification(invoice.order_id)
    retry = app.config["PAYMENT_INBOX_RETRY_SECONDS"]
    assert waiting.applied_at is None and waiting.attempts == 1
    assert waiting.next_attempt_at == waiting.received_at + timedelta(seconds=retry)
    assert "status API unavailable" in waiting.last_error

    # Staff see it waiting: on the payments page (count, oldest age, the list) and on the overview.
    login(staff)
    travel.by(minutes=3)
    page = client.get("/admin/payments").get_data(as_text=True)
    assert 'data-testid="inbox-waiting-count">1<' in page and invoice.order_id in page
    assert 'data-testid="inbox-oldest-age">3 min<' in page
    assert 'data-testid="inbox-waiting">1 waiting' in client.get("/admin/").get_data(as_text=True)

    assert payment_inbox_sweep.call_local() == {"due": 1, "applied": 0, "waiting": 1, "alerted": 0}
    again = stored_notification(invoice.order_id)  # Midtrans still down: the next wait is twice as long
    assert again.attempts == 2 and again.next_attempt_at == utcnow() + timedelta(seconds=2 * retry)
    assert payment_inbox_sweep.call_local()["due"] == 0  # not due before its time
    travel.by(seconds=2 * retry)
    assert payment_inbox_sweep.call_local()["applied"] == 1
    assert state(invoice.id) == "paid"
    done = stored_notification(invoice.order_id)
    assert done.result == "pending -> paid" and done.attempts == 3 and done.next_attempt_at is None
    assert 'data-testid="inbox-waiting-count">0<' in client.get("/admin/payments").get_data(as_text=True)


def test_staff_are_alerted_once_about_a_notification_waiting_too_long(app, client, order, midtrans, travel,
                                                                      make_user):
    make_user(email="boss@example.com", staff=True)
    invoice = order()
    midtrans.set_status(invoice.order_id, "settlement")
    midtrans.fail_next(100, status=503, path_contains="/status")
    assert webhook(client, midtrans.notification(invoice.order_id)).status_code == 200
    travel.by(minutes=app.config["PAYMENT_INBOX_ALERT_MINUTES"] - 1)
    assert payment_inbox_sweep.call_local()["alerted"] == 0
    travel.by(minutes=2)
    assert payment_inbox_sweep.call_local()["alerted"] == 1
    travel.by(minutes=5)
    assert payment_inbox_sweep.call_local()["alerted"] == 0  # once per notification
    (alert,) = db.session.scalars(select(Email).where(Email.template == "staff_alert"))
    assert alert.recipient == "boss@example.com" and invoice.order_id in alert.context["title"]
    assert "status API unavailable" in alert.context["message"]
    assert state(invoice.id) == "pending"


@pytest.mark.parametrize("numbers", [False, True], ids=["strings", "numbers"])
def test_status_code_and_amount_as_json_numbers_or_strings_both_verify_and_pay(app, order, midtrans, numbers):
    invoice = order()
    midtrans.set_status(invoice.order_id, "settlement")
    text = midtrans.notification_text(invoice.order_id, numbers=numbers)
    assert ('"gross_amount": 79000.00' in text) is numbers  # Midtrans' payment-link form, signed over "79000.00"
    assert webhook_raw(app, text).status_code == 200
    assert state(invoice.id) == "paid"
    kept = stored_notification(invoice.order_id)
    assert (kept.status_code, kept.gross_amount) == ("200", "79000.00")  # the text Midtrans signed


@pytest.mark.parametrize("amount_text, status", [
    ("79000.0", 200),  # another way to write the same amount, signed as written: compared as a decimal
    ("79000", 200),
    ("7.9E+4", 200),
    ("79000.01", 400),  # signed, but not the invoice's amount
    ("1E+400", 400),
])
def test_a_numeric_amount_is_signed_as_written_and_compared_as_a_decimal(app, order, midtrans, amount_text, status):
    invoice = order()
    midtrans.set_status(invoice.order_id, "settlement")
    body = midtrans.notification(invoice.order_id)
    signed = signature(invoice.order_id, "200", amount_text, midtrans.server_key)
    text = (json.dumps({**body, "signature_key": signed})
            .replace('"gross_amount": "79000.00"', f'"gross_amount": {amount_text}')
            .replace('"status_code": "200"', '"status_code": 200'))
    assert webhook_raw(app, text).status_code == status
    assert state(invoice.id) == ("paid" if status == 200 else "pending")


def test_a_number_signed_as_another_text_is_refused(app, order, midtrans):
    invoice = order()
    midtrans.set_status(invoice.order_id, "settlement")
    # Signed over "79000.00" but sent as 79000.0: the text differs, so the signature does not cover it.
    text = midtrans.notification_text(invoice.order_id, numbers=True).replace("79000.00", "79000.0")
    assert webhook_raw(app, text).status_code == 401
    assert state(invoice.id) == "pending"


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
