"""Notification bodies as Midtrans posts them, their signatures, and delivery to a webhook on loopback."""
import pytest
import requests

from .helpers import MERCHANT_ID, SERVER_KEY, signature_ok

FIELDS = {"transaction_time", "transaction_status", "transaction_id", "status_message", "status_code",
          "signature_key", "payment_type", "order_id", "merchant_id", "gross_amount", "fraud_status", "currency"}


def test_notification_matches_the_current_state(midtrans, order):
    midtrans.set_status(order, "settlement")
    body = midtrans.notification(order)
    assert FIELDS <= set(body) and "settlement_time" in body and body["va_numbers"]
    assert body["status_message"] == "midtrans payment notification"
    assert (body["order_id"], body["status_code"], body["transaction_status"]) == (order, "200", "settlement")
    assert body["gross_amount"] == "99000.00" and body["merchant_id"] == MERCHANT_ID
    assert body["transaction_id"] == midtrans.transactions[order]["transaction_id"]
    assert signature_ok(body)


def test_overrides_change_the_body_not_the_transaction(midtrans, order):
    midtrans.set_status(order, "settlement")
    late = midtrans.notification(order, transaction_status="pending")  # a delayed pending after settlement
    assert (late["transaction_status"], late["status_code"]) == ("pending", "201") and signature_ok(late)
    assert "settlement_time" not in late and "expiry_time" in late
    assert midtrans.transactions[order]["transaction_status"] == "settlement"
    cheap = midtrans.notification(order, gross_amount=1000)
    assert cheap["gross_amount"] == "1000.00" and signature_ok(cheap)  # signed, but not the order's amount
    odd = midtrans.notification(order, status_code="200", transaction_status="expire")
    assert odd["status_code"] == "200" and signature_ok(odd)


def test_a_wrong_key_signature_does_not_verify(midtrans, order):
    midtrans.set_status(order, "settlement")
    forged = midtrans.notification(order, server_key="SB-Mid-server-attacker")
    assert not signature_ok(forged, SERVER_KEY)
    assert signature_ok(forged, "SB-Mid-server-attacker")


def test_notification_needs_a_payment_or_explicit_state(midtrans, order):
    with pytest.raises(ValueError, match="no payment yet"):
        midtrans.notification(order)
    assert midtrans.notification(order, transaction_status="expire")["status_code"] == "407"
    with pytest.raises(ValueError):
        midtrans.notification("INV-unknown")
    body = midtrans.notification("INV-unknown", transaction_status="settlement", gross_amount=5000)
    assert body["gross_amount"] == "5000.00" and signature_ok(body)
    assert "INV-unknown" not in midtrans.transactions


def test_post_notification_reaches_the_webhook(midtrans, order, receiver):
    midtrans.set_status(order, "capture", fraud_status="challenge", payment_type="credit_card")
    status, text = midtrans.post_notification(receiver.url, order)
    assert (status, text) == (200, "OK")
    (seen,) = receiver.received
    assert seen["method"] == "POST" and seen["path"] == "/payments/midtrans/notification"
    assert seen["content_type"] == "application/json"
    assert seen["json"] == midtrans.notification(order)
    assert seen["json"]["fraud_status"] == "challenge" and seen["json"]["status_code"] == "201"
    receiver.reply_status = 500
    assert midtrans.post_notification(receiver.url, order, transaction_status="deny")[0] == 500
    assert receiver.received[-1]["json"]["transaction_status"] == "deny"
    assert [sent.http_status for sent in midtrans.notifications_sent] == [200, 500]


def test_deliver_posts_a_hand_made_body(midtrans, order, receiver):
    midtrans.set_status(order, "settlement")
    tampered = dict(midtrans.notification(order), gross_amount="1.00")
    assert midtrans.deliver(receiver.url, tampered) == (200, "OK")
    assert receiver.received[0]["json"]["gross_amount"] == "1.00"
    assert not signature_ok(receiver.received[0]["json"])


def test_unreachable_webhook_raises(midtrans, order):
    midtrans.set_status(order, "settlement")
    with pytest.raises(requests.ConnectionError):
        midtrans.post_notification("http://127.0.0.1:9/nowhere", order)


def test_a_payment_link_notification_writes_status_code_and_amount_as_numbers(midtrans, order, receiver):
    midtrans.set_status(order, "settlement")
    text = midtrans.notification_text(order, numbers=True)
    assert '"status_code": 200,' in text and '"gross_amount": 99000.00,' in text  # numbers, digits as written
    # Signed over the number's text: "200" and "99000.00", exactly what the string form carries.
    assert text.count(midtrans.notification(order)["signature_key"]) == 1
    assert midtrans.deliver(receiver.url, text) == (200, "OK")
    assert receiver.received[0]["json"]["gross_amount"] == 99000.0  # a JSON number on the wire
    assert '"gross_amount": "99000.00"' in midtrans.notification_text(order)  # the default stays a string
