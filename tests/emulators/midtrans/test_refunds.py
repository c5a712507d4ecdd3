"""Refunds through the real `midtransclient` (`POST /v2/{order_id}/refund`) and chargebacks through the controls: the
status API lists each one, the status follows, and the notification goes to the merchant's notification URL."""
import pytest
import requests
from midtransclient.error_midtrans import MidtransAPIError

from .helpers import signature_ok


@pytest.fixture
def settled(midtrans, order, receiver):
    midtrans.set_status(order, "settlement")
    midtrans.notification_url = receiver.url
    return order


def test_a_partial_then_a_full_refund_are_listed_with_their_total(midtrans, core, settled, receiver):
    first = core.transactions.refund(settled, {"refund_key": "rf-1", "amount": 20000, "reason": "one month back"})
    assert (first["status_code"], first["transaction_status"]) == ("200", "partial_refund")
    assert (first["refund_amount"], first["refund_key"], first["refund_chargeback_id"]) == ("20000.00", "rf-1", 1)
    status = core.transactions.status(settled)
    assert (status["transaction_status"], status["refund_amount"]) == ("partial_refund", "20000.00")
    assert [(r["refund_chargeback_id"], r["refund_amount"], r["refund_key"], r["reason"])
            for r in status["refunds"]] == [(1, "20000.00", "rf-1", "one month back")]
    assert status["refunds"][0]["created_at"] and signature_ok(status)

    rest = core.transactions.refund(settled, {"refund_key": "rf-2"})  # no amount: all that is left
    assert (rest["transaction_status"], rest["refund_amount"]) == ("refund", "79000.00")
    status = core.transactions.status(settled)
    assert (status["transaction_status"], status["refund_amount"]) == ("refund", "99000.00")
    assert [r["refund_key"] for r in status["refunds"]] == ["rf-1", "rf-2"]

    sent = [entry["json"] for entry in receiver.received]
    assert [(body["transaction_status"], body["refund_amount"], len(body["refunds"])) for body in sent] == \
        [("partial_refund", "20000.00", 1), ("refund", "99000.00", 2)]
    assert all(signature_ok(body) and body["gross_amount"] == "99000.00" for body in sent)


@pytest.mark.parametrize("status, body, code", [
    ("pending", {}, "412"),  # nothing was paid yet: Midtrans cancels or expires those
    ("capture", {}, "412"),  # a captured card is cancelled, not refunded
    ("settlement", {"amount": 100000}, "412"),  # more than was paid
    ("settlement", {"amount": 0}, "400"),
    ("settlement", {"refund_key": "has space"}, "400"),
])
def test_what_midtrans_refuses_to_refund(midtrans, core, order, status, body, code):
    midtrans.set_status(order, status)
    with pytest.raises(MidtransAPIError) as refused:
        core.transactions.refund(order, body)
    assert str(refused.value.api_response_dict["status_code"]) == code
    record = midtrans.transactions[order]
    assert record["refunds"] == [] and record["transaction_status"] == status


def test_a_refund_key_is_used_once(midtrans, core, settled):
    core.transactions.refund(settled, {"refund_key": "rf-1", "amount": 1000})
    with pytest.raises(MidtransAPIError) as refused:
        core.transactions.refund(settled, {"refund_key": "rf-1", "amount": 1000})
    assert str(refused.value.api_response_dict["status_code"]) == "406"
    assert len(midtrans.transactions[settled]["refunds"]) == 1


def test_a_chargeback_through_the_controls_is_notified(midtrans, core, settled, receiver):
    core.transactions.refund(settled, {"refund_key": "rf-1", "amount": 9000})
    answer = requests.post(f"{midtrans.url}/_emulator/chargeback", json={"orderId": settled}, timeout=5).json()
    assert (answer["transaction_status"], answer["refund_amount"]) == ("chargeback", "90000.00")
    status = core.transactions.status(settled)
    assert (status["transaction_status"], status["refund_amount"]) == ("chargeback", "99000.00")
    assert [r["refund_chargeback_id"] for r in status["refunds"]] == [1, 2]
    assert receiver.received[-1]["json"]["transaction_status"] == "chargeback"
    again = requests.post(f"{midtrans.url}/_emulator/chargeback", json={"orderId": settled}, timeout=5)
    assert again.status_code == 409  # nothing is left to take back


def test_a_partial_chargeback_and_the_notification_url_setting(midtrans, order, receiver):
    midtrans.set_status(order, "settlement")
    settings = requests.patch(f"{midtrans.url}/_emulator/settings", json={"notificationUrl": receiver.url},
                              timeout=5).json()
    assert settings["notificationUrl"] == receiver.url
    answer = midtrans.refund(order, 30000, chargeback=True)
    assert (answer["transaction_status"], answer["refund_amount"]) == ("partial_chargeback", "30000.00")
    assert receiver.received[0]["json"]["transaction_status"] == "partial_chargeback"
