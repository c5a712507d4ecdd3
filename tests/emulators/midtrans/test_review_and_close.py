"""A card payment held for review and decided in the dashboard, and the Core API's cancel and expire, each notified
to the merchant's Payment Notification URL as Midtrans does."""
import pytest
import requests
from midtransclient.error_midtrans import MidtransAPIError

from .helpers import new_order_id, signature_ok


@pytest.fixture
def notified(midtrans, receiver):
    midtrans.notification_url = receiver.url
    return receiver


def statuses(midtrans, count: int) -> list[tuple]:
    return [(sent.body["transaction_status"], sent.body["fraud_status"], sent.body["status_code"])
            for sent in midtrans.wait_for_notifications(count)]


def test_a_challenged_card_payment_is_notified_then_decided_in_the_dashboard(midtrans, notified, core, order):
    held = midtrans.challenge(order)
    assert (held["transaction_status"], held["fraud_status"], held["status_code"]) == ("capture", "challenge", "201")
    assert core.transactions.status(order)["fraud_status"] == "challenge"
    midtrans.decide(order, "approve")
    assert statuses(midtrans, 2) == [("capture", "challenge", "201"), ("capture", "accept", "200")]
    assert all(signature_ok(sent.body) for sent in midtrans.notifications_sent)
    assert [r["json"]["fraud_status"] for r in notified.received] == ["challenge", "accept"]
    with pytest.raises(ValueError):  # decided already: nothing left to review
        midtrans.decide(order, "deny")


def test_the_dashboard_controls_over_http_deny_a_held_payment(midtrans, notified, core, order):
    control = f"{midtrans.url}/_emulator"
    assert requests.post(f"{control}/challenge", json={"orderId": order}, timeout=5).status_code == 200
    answer = requests.post(f"{control}/transactions/{order}/deny", timeout=5).json()["status"]
    assert (answer["transaction_status"], answer["fraud_status"]) == ("deny", "deny")
    assert statuses(midtrans, 2)[-1] == ("deny", "deny", "202")
    assert core.transactions.status(order)["transaction_status"] == "deny"
    refused = requests.post(f"{control}/transactions/{order}/approve", timeout=5)
    assert refused.status_code == 400 and "not a card payment held for review" in refused.text


def test_cancel_and_expire_through_the_core_api_are_notified(midtrans, notified, core):
    pending, held = new_order_id(), new_order_id()
    midtrans.set_status(pending, "pending", gross_amount=10000)
    midtrans.set_status(held, "capture", fraud_status="challenge", payment_type="credit_card", gross_amount=20000)
    expired = core.transactions.expire(pending)  # answered with status_code 407, which the client lets through
    assert (expired["transaction_status"], expired["status_code"]) == ("expire", "407")
    cancelled = core.transactions.cancel(held)
    assert (cancelled["transaction_status"], cancelled["status_code"]) == ("cancel", "200")
    sent = {s.body["order_id"]: s.body["transaction_status"] for s in midtrans.wait_for_notifications(2)}
    assert sent == {pending: "expire", held: "cancel"}


@pytest.mark.parametrize("action", ["cancel", "expire"])
def test_a_settled_transaction_cannot_be_cancelled_or_expired(midtrans, notified, core, order, action):
    midtrans.set_status(order, "settlement")
    with pytest.raises(MidtransAPIError) as caught:
        getattr(core.transactions, action)(order)
    assert caught.value.http_status_code == 412
    assert core.transactions.status(order)["transaction_status"] == "settlement"
    assert midtrans.notifications_sent == []  # nothing changed, nothing is notified


def test_an_order_never_paid_has_no_transaction_to_close(core, order):
    with pytest.raises(MidtransAPIError) as caught:
        core.transactions.expire(order)  # the Snap page exists, but no payment was chosen on it
    assert caught.value.http_status_code == 404


def test_no_notification_url_sends_nothing(midtrans, core):
    order_id = new_order_id()
    midtrans.set_status(order_id, "pending", gross_amount=10000)
    core.transactions.cancel(order_id)
    assert midtrans.notifications_sent == [] and midtrans.describe()["settings"]["notificationUrl"] is None
    requests.patch(f"{midtrans.url}/_emulator/settings", json={"notificationUrl": "http://127.0.0.1:9/x"}, timeout=5)
    assert midtrans.notification_url == "http://127.0.0.1:9/x"

