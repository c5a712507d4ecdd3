"""The Core status API (and its cancel/expire/approve/deny actions) through the real midtransclient."""
from datetime import datetime

import pytest
import requests
from midtransclient.error_midtrans import MidtransAPIError

from .helpers import MERCHANT_ID, SERVER_KEY, new_order_id, sha512_signature, signature_ok


def parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def test_status_is_404_until_the_customer_pays(midtrans, snap, core, order):
    for client in (snap, core):
        with pytest.raises(MidtransAPIError) as caught:
            client.transactions.status(order)
        assert caught.value.http_status_code == 404
        body = caught.value.api_response_dict
        assert body["status_code"] == "404" and body["status_message"] == "Transaction doesn't exist."
        assert body["id"]
    with pytest.raises(MidtransAPIError):
        core.transactions.status("never-heard-of-it")
    midtrans.set_status(order, "pending")
    assert core.transactions.status(order)["transaction_status"] == "pending"


@pytest.mark.parametrize("status, fraud, payment_type, code", [
    ("pending", None, "bank_transfer", "201"),
    ("settlement", None, "bank_transfer", "200"),
    ("capture", "accept", "credit_card", "200"),
    ("capture", "challenge", "credit_card", "201"),
    ("deny", None, "credit_card", "202"),
    ("failure", None, "gopay", "202"),
    ("cancel", None, "bank_transfer", "200"),
    ("expire", None, "bank_transfer", "407"),
    ("refund", None, "bank_transfer", "200"),
])
def test_each_scripted_state_has_midtrans_status_body(midtrans, core, order, status, fraud, payment_type, code):
    scripted = midtrans.set_status(order, status, fraud_status=fraud, payment_type=payment_type)
    body = core.transactions.status(order)  # 407 (expire) is the one status_code >= 400 the client lets through
    assert body == scripted
    assert body["status_code"] == code and body["transaction_status"] == status
    assert body["status_message"] == "Success, transaction is found"
    assert body["order_id"] == order and body["merchant_id"] == MERCHANT_ID
    assert body["gross_amount"] == "99000.00" and body["currency"] == "IDR" and body["payment_type"] == payment_type
    assert body["transaction_id"] and body["transaction_time"]
    assert body["fraud_status"] == (fraud or ("deny" if status == "deny" else "accept"))
    assert ("settlement_time" in body) == (status in ("settlement", "refund"))
    assert ("expiry_time" in body) == (status == "pending")
    if payment_type == "bank_transfer":
        (va,) = body["va_numbers"]
        assert va["bank"] == "bca" and va["va_number"].isdigit()
    if payment_type == "credit_card":
        assert body["masked_card"] and body["card_type"] == "credit"
    assert signature_ok(body)
    assert not signature_ok(body, server_key="SB-Mid-server-wrong")


def test_a_transaction_keeps_its_ids_and_gains_settlement_time(midtrans, core, order):
    pending = midtrans.set_status(order, "pending", bank="bni")
    settled = core.transactions.status(midtrans.set_status(order, "settlement")["transaction_id"])
    assert settled["order_id"] == order and settled["transaction_id"] == pending["transaction_id"]
    assert settled["transaction_time"] == pending["transaction_time"]
    assert settled["va_numbers"] == pending["va_numbers"] and settled["va_numbers"][0]["bank"] == "bni"
    assert settled["settlement_time"] >= settled["transaction_time"]
    assert [step["transaction_status"] for step in midtrans.transactions[order]["history"]] == ["pending", "settlement"]


def test_pending_expiry_follows_the_snap_request(midtrans, snap):
    order_id = new_order_id()
    snap.create_transaction({"transaction_details": {"order_id": order_id, "gross_amount": 10000},
                             "expiry": {"unit": "minutes", "duration": 30}})
    body = midtrans.set_status(order_id, "pending")
    assert (parse(body["expiry_time"]) - parse(body["transaction_time"])).total_seconds() == 1800
    gopay = midtrans.set_status(new_order_id(), "pending", gross_amount=1, payment_type="gopay")
    assert (parse(gopay["expiry_time"]) - parse(gopay["transaction_time"])).total_seconds() == 15 * 60  # default
    # With a start_time, the window runs from there rather than from the payment.
    started = new_order_id()
    snap.create_transaction({"transaction_details": {"order_id": started, "gross_amount": 10000},
                             "expiry": {"start_time": "2030-01-02 10:00:00 +0700", "unit": "hour", "duration": 2}})
    assert midtrans.set_status(started, "pending")["expiry_time"] == "2030-01-02 12:00:00"


def test_set_status_for_an_order_snap_never_saw(midtrans, core):
    with pytest.raises(ValueError, match="gross_amount"):
        midtrans.set_status("INV-paid-elsewhere", "settlement")
    midtrans.set_status("INV-paid-elsewhere", "settlement", gross_amount=250000)
    body = core.transactions.status("INV-paid-elsewhere")
    assert body["gross_amount"] == "250000.00" and body["status_code"] == "200"
    assert midtrans.transactions["INV-paid-elsewhere"]["token"] is None
    with pytest.raises(ValueError):
        midtrans.set_status("INV-paid-elsewhere", "paid")


def test_status_api_needs_the_server_key(midtrans, order):
    midtrans.set_status(order, "settlement")
    url = f"{midtrans.url}/v2/{order}/status"
    assert requests.get(url, auth=(SERVER_KEY, ""), timeout=5).status_code == 200
    answer = requests.get(url, auth=("SB-Mid-server-wrong", ""), timeout=5)
    assert answer.status_code == 401 and answer.json()["status_code"] == "401"
    assert requests.get(url, timeout=5).status_code == 401


def test_cancel_and_expire_actions(midtrans, core):
    first, second = new_order_id(), new_order_id()
    midtrans.set_status(first, "pending", gross_amount=10000)
    midtrans.set_status(second, "pending", gross_amount=20000)
    cancelled = core.transactions.cancel(first)
    assert cancelled["transaction_status"] == "cancel"
    assert cancelled["status_message"] == "Success, transaction is canceled"
    expired = core.transactions.expire(second)
    assert expired["transaction_status"] == "expire" and expired["status_code"] == "407"
    assert signature_ok(expired)
    assert core.transactions.status(second)["transaction_status"] == "expire"
    with pytest.raises(MidtransAPIError) as caught:  # a final state cannot be changed
        core.transactions.cancel(second)
    assert caught.value.http_status_code == 412
    assert caught.value.api_response_dict["status_message"] == "Merchant cannot modify the status of the transaction"


def test_challenged_card_payment_is_approved_or_denied(midtrans, core):
    approved, denied = new_order_id(), new_order_id()
    for order_id in (approved, denied):
        midtrans.set_status(order_id, "capture", fraud_status="challenge", payment_type="credit_card",
                            gross_amount=99000)
    body = core.transactions.approve(approved)
    assert (body["transaction_status"], body["fraud_status"], body["status_code"]) == ("capture", "accept", "200")
    body = core.transactions.deny(denied)
    assert (body["transaction_status"], body["fraud_status"]) == ("deny", "deny")
    with pytest.raises(MidtransAPIError) as caught:
        core.transactions.approve(approved)  # no longer challenged
    assert caught.value.http_status_code == 412


def test_signature_is_the_documented_sha512(midtrans, order):
    body = midtrans.set_status(order, "settlement")
    assert body["signature_key"] == sha512_signature(order, "200", "99000.00", SERVER_KEY)
